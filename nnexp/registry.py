"""Name -> component, with provenance, qualified names for conflicts and "did you mean" errors."""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from nnexp.errors import (
    AmbiguousComponentError,
    ComponentLoadError,
    ConfigError,
    DuplicateComponentError,
    UnknownComponentError,
)

#: The kinds of component, each with its registration hook.
KINDS = {
    "activation": "register_activations",
    "loss": "register_losses",
    "layer": "register_layers",
    "optimizer": "register_optimizers",
    "schedule": "register_schedules",
    "initializer": "register_initializers",
    "dataset": "register_datasets",
}

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Separates a distribution from a name: ``nnexp-extras:mish`` is nnexp-extras' mish.
QUALIFIER = ":"


@dataclass(frozen=True)
class Provenance:
    """Who gave a component: plugin name, distribution and its version."""

    plugin: str
    distribution: str
    version: str

    def __str__(self):
        return f"{self.distribution} {self.version} (plugin {self.plugin!r})"

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @property
    def builtin(self) -> bool:
        """nnexp's own modules (``nnexp.activations``, ...): they keep their names."""
        return self.distribution == "nnexp" and self.plugin.startswith("nnexp.")

    @property
    def qualifier(self) -> str:
        """The distribution in PEP 503 normal form: the part before ``:`` in qualified names."""
        return normalize_distribution(self.distribution)


def normalize_distribution(name: str) -> str:
    """``Nnexp_Extras`` -> ``nnexp-extras`` (PEP 503), so either spelling qualifies a name."""
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def qualify(provenance: Provenance, name: str) -> str:
    """``distribution:name``, the address that always reaches this provider's component."""
    return f"{provenance.qualifier}{QUALIFIER}{name}"


def address(name) -> str:
    """The table key for a user's name: bare names as given, qualified ones normalised."""
    dist, sep, bare = str(name).rpartition(QUALIFIER)
    return f"{normalize_distribution(dist)}{QUALIFIER}{bare}" if sep else str(name)


@dataclass(frozen=True)
class Component:
    """One registered component: ``factory(**options)`` builds it.

    ``name`` is its address: the name it was registered under, or ``distribution:name`` when
    that bare name belongs to a built-in or is claimed by several plugins
    (``registered_name`` keeps the name as registered).
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    provenance: Provenance
    aliases: tuple[str, ...] = ()
    registered_name: str = ""

    def __post_init__(self):
        if not self.registered_name:
            object.__setattr__(self, "registered_name", self.name)

    @property
    def qualified_name(self) -> str:
        return qualify(self.provenance, self.registered_name)

    @property
    def doc(self) -> str:
        return (getattr(self.factory, "__doc__", None) or "").strip()


@dataclass(frozen=True)
class Conflict:
    """Several plugins register one bare name of a kind. A built-in keeps it (``kept``);
    otherwise it is ambiguous (``kept`` is None). Each claimant stays reachable by its
    qualified name."""

    kind: str
    name: str
    claimants: tuple[Component, ...]
    kept: Component | None

    @property
    def qualified(self) -> list[str]:
        """The addresses of the claimants that do not own the bare name."""
        return [qualify(c.provenance, self.name) for c in self.claimants if c is not self.kept]

    def describe(self) -> str:
        """One line naming every provider and what each name now means."""
        who = " and ".join(str(c.provenance) for c in self.claimants)
        where = " or ".join(map(repr, self.qualified))
        if self.kept is not None:
            return (f"{self.kind} {self.name!r} is registered by {who}: {self.name!r} stays "
                    f"{self.kept.provenance.distribution}'s; use {where} for the other.")
        return f"{self.kind} {self.name!r} is registered by {who}: the bare name is ambiguous; use {where}."

    def error(self) -> AmbiguousComponentError:
        return AmbiguousComponentError(self.kind, self.name, [str(c.provenance) for c in self.claimants],
                                       self.qualified, [c.provenance.plugin for c in self.claimants])

    def failures(self) -> list[PluginFailure]:
        """What strict mode refuses: each third-party claimant, as a "register" failure."""
        first = self.claimants[0].provenance
        return [PluginFailure.from_exc(c.provenance, "register", DuplicateComponentError(
                    self.kind, self.name, str(first), str(c.provenance)))
                for c in self.claimants[1:]]


@dataclass
class PluginFailure:
    """A plugin that failed to import, to validate, or whose hook raised."""

    plugin: str
    distribution: str
    version: str
    stage: str  # "import", "validate", "hook <name>", "register"
    error: BaseException
    traceback: str = field(default="", repr=False)

    @classmethod
    def from_exc(cls, provenance: Provenance, stage: str, exc: BaseException):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(provenance.plugin, provenance.distribution, provenance.version, stage, exc, tb)

    def describe(self) -> str:
        return (
            f"plugin {self.plugin!r} from {self.distribution} {self.version} failed at "
            f"{self.stage}: {type(self.error).__name__}: {self.error}"
        )


def _owner(claimants: list[Component]) -> Component | None:
    """Who keeps a bare name: its only claimant, else the built-in, else nobody."""
    if len(claimants) == 1:
        return claimants[0]
    return next((c for c in claimants if c.provenance.builtin), None)


class Registry:
    """Components by kind and name, and the plugin manager that filled it.

    Build one with :func:`nnexp.plugins.load_registry`; ``nnexp.get_registry()`` returns a
    shared default. Every component answers to ``distribution:name``; bare names (and
    aliases) answer when one provider has them, or when a built-in does (see :class:`Conflict`).
    """

    def __init__(self, pm=None):
        self.pm = pm
        self._registered: dict[str, list[Component]] = {k: [] for k in KINDS}
        self._by_kind: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.failures: list[PluginFailure] = []
        self.plugins: dict[str, Provenance] = {}
        #: (kind, bare name) -> the conflict over it.
        self.conflicts: dict[tuple[str, str], Conflict] = {}
        #: (kind, name) -> failure of the plugin that registered it, then failed (withdrawn).
        self.withdrawn: dict[tuple[str, str], PluginFailure] = {}

    # -- filling ---------------------------------------------------------------------------
    def add(self, kind: str, name: str, factory, provenance: Provenance, aliases=()) -> Component:
        """Register ``factory`` under ``name`` (and ``aliases``); refuse a name the same
        distribution already has. A name another distribution has becomes a :class:`Conflict`."""
        if kind not in KINDS:
            raise ConfigError("component kind", kind, f"one of {', '.join(KINDS)}")
        for n in (name, *aliases):
            if not isinstance(n, str) or not NAME_RE.match(n):
                raise ConfigError(
                    f"{kind} name from plugin {provenance.plugin!r}", n,
                    "lower-case letters, digits and underscores, starting with a letter",
                )
        if not callable(factory):
            raise ConfigError(f"{kind} {name!r} factory", factory, "a class or function")
        table = self._by_kind[kind]
        for n in (name, *aliases):
            if qualify(provenance, n) in table:
                raise DuplicateComponentError(kind, n, str(table[qualify(provenance, n)].provenance),
                                              str(provenance))
        self._registered[kind].append(Component(kind, name, factory, provenance, tuple(aliases)))
        self._index(kind)
        return self._by_kind[kind][qualify(provenance, name)]

    def _index(self, kind: str) -> None:
        """Rebuild the addresses of one kind and its conflicts from what is registered."""
        claims: dict[str, list[Component]] = {}
        for comp in self._registered[kind]:
            for n in (comp.name, *comp.aliases):
                claims.setdefault(n, []).append(comp)
        owners = {n: _owner(cs) for n, cs in claims.items()}
        table: dict[str, Component] = {}
        for comp in self._registered[kind]:
            resolved = replace(comp, name=comp.name if owners[comp.name] is comp else comp.qualified_name)
            for n in (comp.name, *comp.aliases):
                table[qualify(comp.provenance, n)] = resolved
                if owners[n] is comp:
                    table[n] = resolved
        self._by_kind[kind] = table
        self.conflicts = {key: c for key, c in self.conflicts.items() if key[0] != kind}
        for n, cs in claims.items():
            if len(cs) > 1:
                self.conflicts[(kind, n)] = Conflict(kind, n, tuple(table[qualify(c.provenance, n)] for c in cs),
                                                     table.get(n))

    def remove_plugin(self, plugin: str, failure: PluginFailure | None = None) -> None:
        """Drop every component a plugin registered (used when its hook fails midway); with
        ``failure``, asking for one of them later raises an error naming that failure."""
        for kind, registered in self._registered.items():
            gone = [c for c in registered if c.provenance.plugin == plugin]
            if not gone:
                continue
            self._registered[kind] = [c for c in registered if c.provenance.plugin != plugin]
            self._index(kind)
            for comp in gone:
                for n in (comp.name, *comp.aliases):
                    for key in (n, qualify(comp.provenance, n)):
                        if failure is not None and key not in self._by_kind[kind]:
                            self.withdrawn[(kind, key)] = failure

    def problems(self) -> list[PluginFailure]:
        """What strict mode refuses: every load failure and every name conflict."""
        return [*self.failures, *(f for c in self.conflicts.values() for f in c.failures())]

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str, aliases: bool = False) -> list[str]:
        """Sorted names of a kind: each component's address (its bare name, or
        ``distribution:name`` when it does not own the bare name); with ``aliases`` also
        the aliases that answer bare."""
        out = {c.name for c in self.components(kind)}
        if aliases:
            out |= {n for n in self._by_kind[kind] if QUALIFIER not in n}
        return sorted(out)

    def components(self, kind: str) -> list[Component]:
        """Each component of a kind once, sorted by name."""
        unique = {id(c): c for c in self._by_kind[kind].values()}
        return sorted(unique.values(), key=lambda c: c.name)

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return address(name) in self._by_kind.get(kind, {})

    def candidates(self, kind: str, name: str) -> list[Component]:
        """The components ``name`` can mean: one, every claimant of an ambiguous name, or none."""
        if (kind, name) in self:
            return [self.get(kind, name)]
        conflict = self.conflicts.get((kind, name))
        return list(conflict.claimants) if conflict is not None else []

    def get(self, kind: str, name: str) -> Component:
        """The component, or an error listing what is available and the nearest name."""
        if kind not in KINDS:
            raise UnknownComponentError("component kind", kind, KINDS, hint="")
        comp = self._by_kind[kind].get(address(name))
        if comp is None:
            raise self.missing(kind, name)
        return comp

    def missing(self, kind: str, name: str, kinds: tuple[str, ...] = ()) -> Exception:
        """The error for ``name`` that no usable component of ``kinds`` (default: ``kind``) has:
        the ambiguity of a name several plugins claim, the failure of the plugin that withdrew
        it, or "unknown" listing what is available and every plugin that failed to load (one
        of them may have provided it)."""
        kinds = kinds or (kind,)
        for k in kinds:
            conflict = self.conflicts.get((k, name))
            if conflict is not None and conflict.kept is None:
                return conflict.error()
        for k in kinds:
            if (k, address(name)) in self.withdrawn:
                return ComponentLoadError(k, name, self.withdrawn[(k, address(name))])
        for failure in self.failures:
            if name == failure.plugin:
                return ComponentLoadError(kind, name, failure)
        hint = None
        # A refused duplicate ("register") left its plugin loaded: it cannot be the provider.
        unloaded = [f for f in self.failures if f.stage != "register"]
        if unloaded:
            broken = "; ".join(f.describe() for f in unloaded)
            hint = f" Plugins that failed to load may provide it: {broken}. Run `nnexp plugins`."
        available = {n for k in kinds for n in self.names(k, aliases=True)}
        return UnknownComponentError(kind, name, available, hint=hint)

    def create(self, kind: str, spec, **options):
        """Build a component from a name, or ``{"type": name, **options}``."""
        name, opts = split_spec(kind, spec)
        opts.update(options)
        comp = self.get(kind, name)
        try:
            obj = comp.factory(**opts)
        except TypeError as exc:
            raise ConfigError(f"{kind} {name!r} options", opts, _signature_hint(comp.factory)) from exc
        with contextlib.suppress(AttributeError, TypeError):  # slotted objects, builtins
            obj.type_name = comp.name  # the registry address, for messages, tags and explain
        return obj


def split_spec(kind: str, spec) -> tuple[str, dict]:
    """``"relu"`` or ``{"type": "relu", ...}`` -> ``("relu", {...})``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        opts = dict(spec)
        name = opts.pop("type", None) or opts.pop("name", None)
        if isinstance(name, str):
            return name, opts
    raise ConfigError(f"{kind} spec", spec, f"a {kind} name or a mapping with a 'type' key")


def _signature_hint(factory) -> str:
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return "the options the component accepts"
    return f"options matching {getattr(factory, '__name__', 'factory')}{sig}"
