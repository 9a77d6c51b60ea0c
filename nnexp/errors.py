"""The errors nnexp raises for a user's mistake.

Each carries data (``.kind``, ``.name``, ``.available``) so a caller can act on it, and its
message says what was wrong and what is valid. The CLI prints ``str(error)`` and exits with
the error's ``exit_code`` (2, the input's fault; 3 for the environment's, see
:mod:`nnexp.failures`, which also turns other libraries' errors into messages); anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NnexpError(Exception):
    """Base class: a user's mistake, reported as one clear message."""

    exit_code = 2


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate to ``name``, or None when nothing is close."""
    candidates = list(candidates)
    folded = [c for c in candidates if c.lower() == str(name).lower()]
    if folded:
        return folded[0]
    matches = difflib.get_close_matches(str(name), candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


class UnknownComponentError(NnexpError, LookupError):
    """A name that no registered plugin provides."""

    PLUGIN_HINT = " Installed plugins can add more: run `nnexp plugins`."

    def __init__(self, kind: str, name: str, available: Iterable[str], hint: str | None = None):
        self.kind, self.name = kind, name
        self.available = sorted(available)
        self.suggestion = did_you_mean(name, self.available)
        listing = ", ".join(self.available) or "(none)"
        msg = f"Unknown {kind} {name!r}. Available: {listing}."
        if self.suggestion:
            msg += f"\nDid you mean {self.suggestion!r}?"
        msg += self.PLUGIN_HINT if hint is None else hint
        super().__init__(msg)


class DuplicateComponentError(NnexpError):
    """Two plugins register the same name for the same kind."""

    def __init__(self, kind: str, name: str, first: str, second: str):
        self.kind, self.name, self.first, self.second = kind, name, first, second
        super().__init__(
            f"{kind.capitalize()} {name!r} is registered twice: {first} and {second}. "
            "Uninstall one, or block one by name (NNEXP_BLOCK_PLUGINS=name)."
        )


class AmbiguousComponentError(NnexpError, LookupError):
    """A bare name that several installed plugins register (none of them nnexp itself)."""

    def __init__(self, kind: str, name: str, providers, qualified, plugins):
        self.kind, self.name = kind, name
        self.providers, self.qualified, self.plugins = list(providers), list(qualified), list(plugins)
        who = "both" if len(self.providers) == 2 else "all"
        super().__init__(
            f"{kind.capitalize()} {name!r} is ambiguous: {' and '.join(self.providers)} {who} "
            f"register it. Use a qualified name: {' or '.join(map(repr, self.qualified))} "
            f"(or block a plugin: NNEXP_BLOCK_PLUGINS={self.plugins[-1]})."
        )


class PluginLoadError(NnexpError):
    """A plugin failed to load or to register, and strict mode is on (or it was asked for)."""

    def __init__(self, failures):
        self.failures = list(failures)
        lines = "\n".join(f"  - {f.describe()}" for f in self.failures)
        super().__init__(f"{len(self.failures)} plugin(s) failed to load:\n{lines}")


class ComponentLoadError(NnexpError):
    """A component was asked for whose plugin failed to load."""

    def __init__(self, kind: str, name: str, failure):
        self.kind, self.name, self.failure = kind, name, failure
        super().__init__(
            f"{kind.capitalize()} {name!r} is unavailable: its plugin failed to load "
            f"({failure.describe()})."
        )


class ConfigError(NnexpError, ValueError):
    """An invalid hyperparameter or option: names it, what was given, what is valid."""

    def __init__(self, where: str, given, expected: str):
        self.where, self.given, self.expected = where, given, expected
        super().__init__(f"{where}: got {given!r}; expected {expected}.")


class OutputHeadError(ConfigError):
    """A loss and a network output (its last layer) that cannot train together, such as
    cross-entropy on raw outputs: refused before any run exists."""

    def __init__(self, loss: str, head: str, expected: str, fix: str):
        self.where, self.given, self.expected = f"loss {loss}", head, expected
        NnexpError.__init__(self, f"loss {loss} cannot train a network whose output is {head}: "
                                  f"it needs {expected}. {fix}")


class ShapeError(NnexpError, ValueError):
    """Data or layers whose shapes do not fit together."""


class DataError(NnexpError, ValueError):
    """Bad input data: NaN/inf, missing files or columns, non-numeric features."""


class DivergenceError(NnexpError, FloatingPointError):
    """Training produced a NaN or infinite loss."""

    def __init__(self, step: int, epoch: int, value: float):
        self.step, self.epoch, self.value = step, epoch, value
        super().__init__(
            f"Training diverged: loss became {value} at step {step} (epoch {epoch}). "
            "Try a smaller learning rate, gradient clipping or a different initializer."
        )
