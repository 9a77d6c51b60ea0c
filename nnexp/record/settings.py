"""Settings of a run's record (the ``tracking`` config group) and of its checkpoints
(``trainer.checkpoint``), with their defaults and checks. No mlflow, no pandas here.

Record and sinks (``tracking.*``):

- ``flush_every_s`` (1.0): seconds between writes of the record (steps table, metrics
  journal) and between sends to the tracking store: a killed process loses at most this.
- ``heartbeat_every_s`` (10.0): seconds between the run's heartbeats in the store (a run whose
  heartbeat stops and whose process is gone is marked KILLED by the next nnexp command).
- ``finish_wait_s`` (60.0): seconds a finished run waits for a store that does not answer
  before the command ends, leaving the rest in the record for ``nnexp sync``.
- ``log_every`` (0): steps between per-step rows sent to the store; 0 = auto: ``max_points``
  (200) rows spread over the run. Every step is kept in the record regardless.
- ``max_epoch_points`` (1000): at most this many epochs' metrics are sent to the store,
  evenly spread (every epoch for shorter runs); the record keeps every epoch.
- ``stats_every`` (1): steps between rows of the per-step table (1 = full resolution).
- ``tensors_every_epochs`` (0): epochs between ``tensors/epoch_NNN/{grads,params}.npz``
  dumps; 0 = at the last epoch only. ``tensors_at_steps`` ([]): steps to dump at as well.
- ``histogram_every_steps`` (0): steps between gradient histograms; 0 = at epoch ends, at
  most ``max_histograms`` (200) evenly spread. ``histogram_bins`` (32).
- ``steps_csv_max_rows`` (100000): ``stats/steps.csv`` beside ``stats/steps.parquet`` for
  tables up to this many rows; 0 = never.
- ``save_model`` (true), ``plot`` (true), ``plot_every_epochs`` (0),
  ``explain_max_params`` (5000): as documented in :mod:`nnexp.tracking`.
- ``register_model`` (null): a name: each finished run's model (logged by the sender as an
  MLflow model, :mod:`nnexp.tracking.model`) becomes a new version of the registered model
  of that name (created if missing). Sweep jobs log their model only when it is set.
- ``record_dir`` (null): where records live; null = ``nnexp-records/`` beside the SQLite
  store, or in the launch directory for a remote store.

Checkpoints (``trainer.checkpoint.*``): ``every_epochs`` (0 = off), ``every_seconds`` (60;
0 = off), and always on Ctrl-C/SIGTERM and at the end; ``monitor`` (null: the early-stopping
monitor, if any) and ``mode`` (auto/min/max) keep ``checkpoints/best`` as well.
"""

from __future__ import annotations

from nnexp.errors import ConfigError, did_you_mean
from nnexp.optim import check_int, check_range

DEFAULT_SETTINGS = {
    "flush_every_s": 1.0,
    "heartbeat_every_s": 10.0,
    "finish_wait_s": 60.0,
    "log_every": 0,
    "max_points": 200,
    "max_epoch_points": 1000,
    "stats_every": 1,
    "tensors_every_epochs": 0,
    "tensors_at_steps": [],
    "histogram_every_steps": 0,
    "max_histograms": 200,
    "histogram_bins": 32,
    "steps_csv_max_rows": 100000,
    "save_model": True,
    "plot": True,
    "plot_every_epochs": 0,
    "explain_max_params": 5000,
    "record_dir": None,
    "register_model": None,
}
#: Keys of the ``tracking`` group that belong to the caller, not to the record.
CALLER_KEYS = {"enabled", "uri", "experiment"}
_COUNTS = {"log_every": 0, "max_points": 1, "max_epoch_points": 1, "stats_every": 1,
           "tensors_every_epochs": 0, "histogram_every_steps": 0, "max_histograms": 1,
           "histogram_bins": 1, "steps_csv_max_rows": 0, "plot_every_epochs": 0,
           "explain_max_params": 0}
_SECONDS = {"flush_every_s": 0.01, "heartbeat_every_s": 0.1, "finish_wait_s": 0.0}

CHECKPOINT_DEFAULTS = {"every_epochs": 0, "every_seconds": 60.0, "monitor": None, "mode": "auto"}
MODES = ("auto", "min", "max")


def _check_keys(group: str, given: dict, known: dict) -> None:
    for key, value in given.items():
        if key not in known:
            hint = did_you_mean(key, known)
            raise ConfigError(f"{group}.{key}", value, "one of the settings " + ", ".join(known)
                              + (f" (did you mean {hint!r}?)" if hint else ""))


def seconds(where: str, value, low: float = 0.0) -> float:
    """A number of seconds ``>= low`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, value, f"a number of seconds >= {low}")
    return float(check_range(where, value, low))


def make_settings(settings) -> dict:
    """Defaults overlaid with ``settings``; unknown keys and out-of-range values are errors."""
    given = {k: v for k, v in dict(settings or {}).items() if k not in CALLER_KEYS}
    _check_keys("tracking", given, DEFAULT_SETTINGS)
    out = {**DEFAULT_SETTINGS, **given}
    for key, low in _COUNTS.items():
        out[key] = check_int(f"tracking.{key}", out[key], low, f"an integer >= {low}")
    for key, low_s in _SECONDS.items():
        out[key] = seconds(f"tracking.{key}", out[key], low_s)
    name = out["register_model"]
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError("tracking.register_model", name, "a registered model's name, or null")
    out["tensors_at_steps"] = frozenset(int(s) for s in out["tensors_at_steps"] or ())
    return out


def checkpoint_settings(settings) -> dict:
    """``trainer.checkpoint`` with defaults, checked."""
    given = dict(settings or {})
    _check_keys("trainer.checkpoint", given, CHECKPOINT_DEFAULTS)
    out = {**CHECKPOINT_DEFAULTS, **given}
    out["every_epochs"] = check_int("trainer.checkpoint.every_epochs", out["every_epochs"], 0,
                                    "a whole number of epochs >= 0 (0: off)")
    out["every_seconds"] = seconds("trainer.checkpoint.every_seconds", out["every_seconds"])
    if out["mode"] not in MODES:
        raise ConfigError("trainer.checkpoint.mode", out["mode"], " or ".join(MODES))
    return out
