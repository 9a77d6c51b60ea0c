"""Conformance checks for losses: gradient, scalar output, batch-mean reduction, purity."""

from __future__ import annotations

import math

import numpy as np

from nnexp.testing import examples as ex
from nnexp.testing.checks import CheckFailure, json_config, require, require_same
from nnexp.testing.gradcheck import check_loss_gradients


def _paths(loss) -> list[tuple[bool, str]]:
    return [(fl, "from logits" if fl else "on predictions") for fl in ex.loss_paths(loss)]


def _make(component, opts=None):
    return component.factory(**(ex.options(component) if opts is None else opts))


def gradient(component, registry):
    """dL/dy_pred matches central differences (on logits too when the loss fuses)."""
    loss = _make(component)
    for from_logits, path in _paths(loss):
        pred, y = ex.loss_batch(loss, registry, 2, from_logits)
        report = check_loss_gradients(loss, pred, y, from_logits=from_logits)
        require(report.ok, f"{path}: {report}", report)


def scalar_output(component, registry):
    """forward returns a finite Python float; backward keeps y_pred's shape and dtype
    (float32 and float64)."""
    loss = _make(component)
    for dtype in ("float32", "float64"):
        for from_logits, path in _paths(loss):
            pred, y = ex.loss_batch(loss, registry, 2, from_logits, dtype)
            value = loss.forward(pred, y, from_logits=from_logits)
            require(isinstance(value, float) and math.isfinite(value),
                     f"{dtype} {path}: forward returned {value!r} ({type(value).__name__}), "
                     "expected a finite Python float")
            g = loss.backward()
            require(g.shape == pred.shape and g.dtype == pred.dtype,
                     f"{dtype} {path}: backward returned {g.dtype} {g.shape}, expected {dtype} {pred.shape}")


def batch_mean(component, registry):
    """The reduction is a mean over the batch: the loss of two stacked halves is the mean of
    their losses, and its gradient is their gradients stacked and halved."""
    loss = _make(component)
    for from_logits, path in _paths(loss):
        pred, y = ex.loss_batch(loss, registry, 5, from_logits, batch=2 * ex.BATCH)
        whole = loss.forward(pred, y, from_logits=from_logits)
        g_whole = loss.backward().copy()
        halves, grads = [], []
        for part in (slice(0, ex.BATCH), slice(ex.BATCH, None)):
            halves.append(loss.forward(pred[part], y[part], from_logits=from_logits))
            grads.append(loss.backward().copy())
        require(math.isclose(whole, sum(halves) / 2, rel_tol=1e-10, abs_tol=1e-12),
                 f"{path}: loss of the whole batch {whole!r} but the mean of its halves is "
                 f"{sum(halves) / 2!r}: the reduction must be a mean over the batch")
        require_same(f"{path}: gradient of the whole batch vs the halves' gradients / 2",
                      g_whole, np.concatenate(grads) / 2)


def inputs_not_mutated(component, registry):
    """forward/backward leave y_pred and y_true unchanged."""
    loss = _make(component)
    for from_logits, path in _paths(loss):
        pred, y = ex.loss_batch(loss, registry, 2, from_logits)
        pred0, y0 = pred.copy(), y.copy()
        loss.forward(pred, y, from_logits=from_logits)
        loss.backward()
        require_same(f"{path}: y_pred after forward/backward", pred, pred0, exact=True)
        require_same(f"{path}: y_true after forward/backward", y, y0, exact=True)


def _loss_run(component, registry, opts=None) -> list:
    loss = _make(component, opts)
    out = []
    for from_logits, _ in _paths(loss):
        pred, y = ex.loss_batch(loss, registry, 2, from_logits)
        out.append((loss.forward(pred, y, from_logits=from_logits), loss.backward().copy()))
    return out


def _require_same_losses(first, second, what: str) -> None:
    for (v1, g1), (v2, g2) in zip(first, second):
        if v1 != v2:
            raise CheckFailure(f"{what}: loss {v2!r} vs {v1!r}")
        require_same(f"{what}: gradient", g2, g1, exact=True)


def determinism(component, registry):
    """Two fresh instances give bitwise-identical losses and gradients on the same batch."""
    _require_same_losses(_loss_run(component, registry), _loss_run(component, registry),
                         "two fresh instances")


def config_round_trip(component, registry):
    """``factory(**config())`` gives the same loss and gradient, bitwise."""
    cfg = json_config(_make(component))
    _require_same_losses(_loss_run(component, registry), _loss_run(component, registry, cfg),
                         f"rebuilt from config {cfg}")
