"""Name -> component, with provenance, duplicate refusal and "did you mean" errors."""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from nnexp.errors import (
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


@dataclass(frozen=True)
class Component:
    """One registered component: ``factory(**options)`` builds it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    provenance: Provenance
    aliases: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        return (getattr(self.factory, "__doc__", None) or "").strip()


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


class Registry:
    """Components by kind and name, and the plugin manager that filled it.

    Build one with :func:`nnexp.plugins.load_registry`; ``nnexp.get_registry()`` returns a
    shared default.
    """

    def __init__(self, pm=None):
        self.pm = pm
        self._by_kind: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.failures: list[PluginFailure] = []
        self.plugins: dict[str, Provenance] = {}
        self.conflicts: dict[tuple[str, str], DuplicateComponentError] = {}
        #: (kind, name) -> failure of the plugin that registered it, then failed (withdrawn).
        self.withdrawn: dict[tuple[str, str], PluginFailure] = {}

    # -- filling ---------------------------------------------------------------------------
    def add(self, kind: str, name: str, factory, provenance: Provenance, aliases=()) -> Component:
        """Register ``factory`` under ``name`` (and ``aliases``); refuse duplicates."""
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
        comp = Component(kind, name, factory, provenance, tuple(aliases))
        table = self._by_kind[kind]
        for n in (name, *aliases):
            if n in table:
                raise DuplicateComponentError(kind, n, str(table[n].provenance), str(provenance))
        for n in (name, *aliases):
            table[n] = comp
        return comp

    def remove_plugin(self, plugin: str, failure: PluginFailure | None = None) -> None:
        """Drop every component a plugin registered (used when its hook fails midway); with
        ``failure``, asking for one of them later raises an error naming that failure."""
        for kind, table in self._by_kind.items():
            for n in [n for n, c in table.items() if c.provenance.plugin == plugin]:
                del table[n]
                if failure is not None:
                    self.withdrawn[(kind, n)] = failure

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str, aliases: bool = False) -> list[str]:
        """Sorted names of a kind (primary names only unless ``aliases``)."""
        table = self._by_kind[kind]
        return sorted(n for n, c in table.items() if aliases or n == c.name)

    def components(self, kind: str) -> list[Component]:
        """Each component of a kind once, sorted by name."""
        return [self._by_kind[kind][n] for n in self.names(kind)]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._by_kind.get(kind, {})

    def get(self, kind: str, name: str) -> Component:
        """The component, or an error listing what is available and the nearest name."""
        if (kind, name) in self.conflicts:
            raise self.conflicts[(kind, name)]
        try:
            return self._by_kind[kind][name]
        except KeyError:
            pass
        if kind not in KINDS:
            raise UnknownComponentError("component kind", kind, KINDS, hint="")
        raise self.missing(kind, name)

    def missing(self, kind: str, name: str, kinds: tuple[str, ...] = ()) -> Exception:
        """The error for ``name`` that no usable component of ``kinds`` (default: ``kind``) has:
        the failure of the plugin that withdrew it, or "unknown" listing what is available and
        every plugin that failed to load (one of them may have provided it)."""
        kinds = kinds or (kind,)
        for k in kinds:
            if (k, name) in self.withdrawn:
                return ComponentLoadError(k, name, self.withdrawn[(k, name)])
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
        with contextlib.suppress(AttributeError, TypeError):  # functions, slotted objects
            obj.type_name = comp.name  # the registry name, for messages, tags and explain
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
