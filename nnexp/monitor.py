"""Watching one metric over epochs: early stopping, the best checkpoint and sweep rankings
all ask "did it improve?" the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nnexp.errors import ConfigError, did_you_mean

MODES = ("auto", "min", "max")


def lower_is_better(metric: str) -> bool:
    """Lower is better for losses and errors, higher for accuracies and scores."""
    return "loss" in metric or "error" in metric


def epoch_metrics(classification: bool, validation: bool) -> list[str]:
    """The metrics :func:`nnexp.fit` reports each epoch for such a run."""
    base = ["loss", *(["accuracy"] if classification else [])]
    return [*base, "lr", *([f"val_{m}" for m in base] if validation else [])]


class Monitor:
    """The best value of ``metric`` so far; ``mode`` min/max (auto: min for losses and errors).
    An epoch improves on the best when it beats it by more than ``min_delta``."""

    def __init__(self, metric: str, mode: str = "auto", min_delta: float = 0.0, where: str = "monitor"):
        if mode not in MODES:
            raise ConfigError(f"{where} mode", mode, " or ".join(MODES))
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ConfigError(f"{where} min_delta", min_delta, "a number >= 0")
        self.metric, self.where = str(metric), where
        self.lower = lower_is_better(self.metric) if mode == "auto" else mode == "min"
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch = 0

    def check_available(self, available) -> None:
        """A :class:`ConfigError` unless the metric is among ``available``."""
        available = list(available)
        if self.metric not in available:
            hint = did_you_mean(self.metric, available)
            raise ConfigError(self.where, self.metric, "a metric the run reports each epoch: "
                              + ", ".join(available) + (f" (did you mean {hint!r}?)" if hint else ""))

    def update(self, metrics: Mapping[str, float], epoch: int) -> bool:
        """Take this epoch's metrics; True when it is the new best."""
        if self.metric not in metrics:
            self.check_available(metrics)
        value = float(metrics[self.metric])
        if not math.isfinite(value):
            return False
        better = self.best is None or (value < self.best - self.min_delta if self.lower
                                       else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch = value, int(epoch)
        return better

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load(self, state: Mapping) -> None:
        self.best, self.best_epoch = state["best"], int(state["best_epoch"])
