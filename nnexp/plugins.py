"""Build the plugin manager and the registry: built-ins + entry points, failures isolated.

Built-in modules and installed distributions go through the same path; the only difference
is how they are found (``BUILTIN_MODULES`` versus the ``nnexp`` entry-point group). A plugin
that fails to import, fails validation (a misspelled hook) or whose hook raises is recorded
in ``registry.failures`` and the rest load. A name that another distribution registered too is
a :class:`nnexp.registry.Conflict`, warned about in one line: a built-in keeps its name, two
plugins make the bare name ambiguous, and each provider's component stays reachable as
``distribution:name``. ``strict=True`` (or ``NNEXP_STRICT_PLUGINS=1``) turns any failure or
conflict into :class:`nnexp.PluginLoadError`. ``blocked`` names (or ``NNEXP_BLOCK_PLUGINS=a,b``)
are never loaded.
"""

from __future__ import annotations

import importlib
import logging
import os
from importlib import metadata

import pluggy

from nnexp import hookspecs
from nnexp.errors import DuplicateComponentError, PluginLoadError, did_you_mean
from nnexp.registry import KINDS, PluginFailure, Provenance, Registry

ENTRY_POINT_GROUP = "nnexp"
BUILTIN_MODULES = (
    "nnexp.builtins.activations",
    "nnexp.builtins.losses",
    "nnexp.builtins.layers",
    "nnexp.builtins.optimizers",
    "nnexp.builtins.initializers",
    "nnexp.builtins.datasets",
)
BLOCK_ENV = "NNEXP_BLOCK_PLUGINS"
STRICT_ENV = "NNEXP_STRICT_PLUGINS"


def nnexp_version() -> str:
    try:
        return metadata.version("nnexp")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def env_blocked() -> set[str]:
    """Plugin names blocked by ``NNEXP_BLOCK_PLUGINS`` (comma-separated)."""
    return {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


def env_strict() -> bool:
    """Whether ``NNEXP_STRICT_PLUGINS`` asks for strict plugin loading."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def get_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager that knows nnexp's hooks and has no plugins yet."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


#: pluggy's plain multicall, one of the internals direct_caller relies on; without it (a
#: pluggy that moved it) every call is left to pluggy.
_multicall: object = None
try:
    from pluggy._callers import _multicall
except ImportError:  # pragma: no cover
    pass


def direct_caller(pm: pluggy.PluginManager, name: str, argnames: tuple[str, ...]):
    """``pm.hook.<name>(**dict(zip(argnames, args)))`` as a plain function of ``*args``, for a
    hook called at every training step: pluggy's own call costs ~1.5-3 µs (argument checks, a
    copy of the implementation list, its generic multicall), as much as a whole step of a
    small network. When every implementation is a plain one, each is called directly, in
    pluggy's order, with the arguments it names, and its result dropped (as fit drops the
    hook's). Whatever pluggy would do differently goes through pluggy: hook wrappers, a
    traced or monitored manager. (Un)registering a plugin is seen at the next call, as with
    pluggy, which copies the implementation list at every call."""
    caller = getattr(pm.hook, name)
    live = getattr(caller, "_hookimpls", None)  # pluggy's list, changed in place by (un)register
    if live is None or _multicall is None or getattr(pm, "_inner_hookexec", None) is None:
        return lambda *args: caller(**dict(zip(argnames, args)))
    built: list = []  # the implementations `calls` was built from (a copy of `live`)
    calls: tuple | None = ()

    def call(*args):
        nonlocal built, calls
        if live != built or pm._inner_hookexec is not _multicall:
            if pm._inner_hookexec is not _multicall:  # tracing or hook-call monitoring
                built = []
                return caller(**dict(zip(argnames, args)))
            built, calls = list(live), _plain_calls(live, argnames)
        if calls is None:
            return caller(**dict(zip(argnames, args)))
        for function in calls:
            function(*args)
        return None

    return call


def _plain_calls(impls, argnames: tuple[str, ...]) -> tuple | None:
    """The implementations' functions in pluggy's calling order (it walks its list backwards),
    each taking ``*argnames``; None when one is a wrapper (only pluggy runs those)."""
    if any(impl.hookwrapper or impl.wrapper for impl in impls):
        return None
    calls = []
    for impl in reversed(impls):
        names = tuple(impl.argnames)
        if names == argnames:
            calls.append(impl.function)
        else:  # it takes a subset, or another order: pick its arguments by name
            pick = [argnames.index(n) for n in names]
            calls.append(lambda *args, f=impl.function, pick=pick: f(*[args[i] for i in pick]))
    return tuple(calls)


def _candidates(entry_points: bool):
    """(plugin name, provenance, loader) for built-ins, then installed entry points."""
    version = nnexp_version()
    for modname in BUILTIN_MODULES:
        short = "nnexp." + modname.rsplit(".", 1)[1]
        yield short, Provenance(short, "nnexp", version), lambda m=modname: importlib.import_module(m)
    if not entry_points:
        return
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        prov = Provenance(
            ep.name,
            dist.metadata["Name"] if dist is not None else "unknown",
            dist.version if dist is not None else "unknown",
        )
        yield ep.name, prov, ep.load


def _register_plugin(pm, registry, name, prov, loader) -> None:
    """Import and validate one plugin; record a failure instead of raising."""
    try:
        plugin = loader()
    except Exception as exc:  # noqa: BLE001 - any import error is the plugin's, not ours
        registry.failures.append(PluginFailure.from_exc(prov, "import", exc))
        return
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except Exception as exc:  # noqa: BLE001
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        exc = _with_hook_hint(exc, plugin)
        registry.failures.append(PluginFailure.from_exc(prov, "validate", exc))
        return
    registry.plugins[name] = prov


def _with_hook_hint(exc: Exception, plugin) -> Exception:
    """pluggy's "unknown hook" error, plus the real hook each misspelled one is nearest to."""
    spec_mark, impl_mark = f"{hookspecs.PROJECT}_spec", f"{hookspecs.PROJECT}_impl"
    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), spec_mark)]
    impls = [n for n in dir(plugin) if hasattr(getattr(plugin, n, None), impl_mark) and n not in specs]
    hints = [f"{did_you_mean(n, specs)!r} (not {n!r})" for n in impls if did_you_mean(n, specs)]
    if not hints or not isinstance(exc, pluggy.PluginValidationError):
        return exc
    better = pluggy.PluginValidationError(exc.plugin, f"{exc}. Did you mean {', '.join(hints)}?")
    better.__cause__ = exc
    return better


def _call_register_hooks(pm, registry) -> None:
    """Call each plugin's register_* hook separately, so provenance is exact."""
    for kind, hookname in KINDS.items():
        hook = getattr(pm.hook, hookname)
        for impl in hook.get_hookimpls():
            prov = registry.plugins[impl.plugin_name]

            def register(name, factory, *, aliases=(), _kind=kind, _prov=prov):
                try:
                    registry.add(_kind, name, factory, _prov, aliases)
                except DuplicateComponentError as exc:
                    # The same distribution registered the name twice: the first stays, the
                    # plugin's other components too. (Another distribution's name is a
                    # Conflict instead, resolved by qualified names.)
                    registry.failures.append(PluginFailure.from_exc(_prov, "register", exc))

            try:
                impl.function(*[{"register": register}[a] for a in impl.argnames])
            except Exception as exc:  # noqa: BLE001
                failure = PluginFailure.from_exc(prov, f"hook {hookname}", exc)
                registry.failures.append(failure)
                registry.remove_plugin(prov.plugin, failure)
                pm.unregister(name=prov.plugin)


def load_registry(*, strict: bool | None = None, blocked=(), entry_points: bool = True,
                  extra_plugins=()) -> Registry:
    """Load built-ins and installed plugins into a new :class:`Registry`.

    ``extra_plugins``: (name, module-or-object) pairs registered like installed ones
    (for tests and notebooks). ``blocked``: plugin names never loaded (adds to
    ``NNEXP_BLOCK_PLUGINS``). ``strict``: raise :class:`PluginLoadError` on any failure
    (default: ``NNEXP_STRICT_PLUGINS``).
    """
    pm = get_plugin_manager()
    registry = Registry(pm)
    blocked = set(blocked) | env_blocked()
    for name in blocked:
        pm.set_blocked(name)
    found = list(_candidates(entry_points))
    for name, obj in extra_plugins:
        found.append((name, Provenance(name, "local", "0"), lambda o=obj: o))
    for name, prov, loader in found:
        if name in blocked:
            continue
        _register_plugin(pm, registry, name, prov, loader)
    _call_register_hooks(pm, registry)
    if strict if strict is not None else env_strict():
        if registry.problems():
            raise PluginLoadError(registry.problems())
    for conflict in registry.conflicts.values():
        _warn_once(conflict.describe())
    return registry


_warned: set[str] = set()


def reset_warnings() -> None:
    """Warn again about conflicts already warned about (for tests)."""
    _warned.clear()


def _warn_once(message: str) -> None:
    """One line on the ``nnexp.plugins`` logger (stderr unless logging is configured), once
    per process: every registry load would repeat it."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("nnexp.plugins").warning("nnexp: %s", message)


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide default registry, loaded on first use."""
    global _default
    if _default is None:
        _default = load_registry()
    return _default


def reset_registry() -> None:
    """Forget the default registry (the next :func:`get_registry` reloads plugins)."""
    global _default
    _default = None
