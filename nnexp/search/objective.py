"""What a search optimises: the run's ``optimized_metric`` as the Hydra task's return value.

A sweeper (nnexp's Optuna sweeper, or any other Hydra sweeper) reads the task's return value
as the trial's objective. A run that did not finish returns ``nan``: Optuna records that
trial as FAILED instead of ranking it (``+inf`` would rank it best when maximising).
"""

from __future__ import annotations

import math

from nnexp.errors import ConfigError, UnknownComponentError

#: The config key naming the metric (lightning-hydra-template's name for it).
KEY = "optimized_metric"


def objective(cfg, result: dict) -> float | None:
    """The task's return value: ``result["metrics"][cfg.optimized_metric]`` as a float,
    ``nan`` if the run failed or lacks it, None when no metric is configured."""
    name = cfg.get(KEY)
    if not name:
        return None
    value = result.get("metrics", {}).get(name) if result.get("status") == "FINISHED" else None
    return math.nan if value is None else float(value)


def metric_names(parts) -> list[str]:
    """The final metrics a run of ``parts`` reports: loss (and accuracy for classification),
    the same with ``val_`` and ``test_`` for the splits its dataset has."""
    base = ["loss", "accuracy"] if parts.task == "classification" else ["loss"]
    names = list(base)
    for prefix, X in (("val_", parts.dataset.X_val), ("test_", parts.dataset.X_test)):
        if X is not None and len(X):
            names += [prefix + name for name in base]
    return names


def check_metric(name: str | None, parts, required: bool = False) -> None:
    """Raise unless ``name`` is a metric runs of ``parts`` report (or is unset, if allowed)."""
    available = metric_names(parts)
    if name in available or (name is None and not required):
        return
    if name is None:
        raise ConfigError(KEY, None, "the metric a search optimises, one of: " + ", ".join(available)
                          + " (the sweeper's direction says min or max)")
    raise UnknownComponentError(
        KEY, str(name), available,
        hint="\nSet it in the hparams_search config or on the command line "
             "(optimized_metric=val_loss); the sweeper's direction says min or max.")
