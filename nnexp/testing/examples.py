"""Example components and data for the conformance kit.

A component tells the kit how to exercise it through class (or instance) attributes, all
optional:

- ``check_options`` (dict): options the kit builds it with (``Dense``: ``{"units": 3}``).
- ``check_input_shape`` (tuple): per-sample input shape for layers/activations (default ``(5,)``).
- ``kinks`` (tuple of floats): where it is not differentiable — input values for activations
  and layers (ReLU: ``(0.0,)``), values of ``y_pred - y_true`` for losses (MAE: ``(0.0,)``).
  Sampled inputs keep at least ``KINK_MARGIN`` away from them.
- ``check_targets`` (losses): ``"real"`` (default), ``"binary"`` (0/1), ``"onehot"`` or
  ``"probabilities"`` (rows of positive numbers summing to 1).
- ``batch_independent = False`` and ``stochastic = True`` as in :class:`nnexp.Layer`;
  ``elementwise = False`` for activations that mix a row (softmax).

``check_options`` serves every kind (a dict, or a function returning one). What optimizers,
schedules, initializers and datasets declare besides is in their check modules:
:mod:`.optimizer_checks` (``decoupled``, ``check_reference``), :mod:`.schedule_checks`
(``check_points``, ``check_max_factor``), :mod:`.initializer_checks` (``check_variance``,
``check_mean``) and :mod:`.dataset_checks`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from nnexp.base import BuildContext, Layer
from nnexp.data import one_hot
from nnexp.network import make_rngs

BATCH = 6
DEFAULT_INPUT_SHAPE = (5,)
INPUT_SCALE = 2.0
KINK_MARGIN = 1e-3
LOSS_OUTPUTS = 4


def away_from_kinks(values: np.ndarray, kinks) -> np.ndarray:
    """``values`` with every entry within ``KINK_MARGIN`` of a kink pushed to that distance."""
    out = np.array(values, dtype=np.float64)
    for k in kinks or ():
        near = np.abs(out - k) < KINK_MARGIN
        out[near] = k + np.where(out[near] >= k, KINK_MARGIN, -KINK_MARGIN)
    return out


@dataclass
class Built:
    """A layer or activation built by the kit, with what it was built from."""

    obj: Layer
    ctx: BuildContext
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def dropout_rng(self) -> np.random.Generator:
        return self.ctx.dropout_rng


def options(component) -> dict:
    """The component's ``check_options``: a dict, or a function returning one (for examples
    that need a file, as the ``csv`` dataset's)."""
    opts = getattr(component.factory, "check_options", None) or {}
    return dict(opts() if callable(opts) else opts)


def _parameters(factory) -> dict | None:
    try:
        return dict(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return None


def declares(factory, option: str) -> bool:
    """Whether ``option`` is a named parameter of ``factory``."""
    return option in (_parameters(factory) or {})


def accepts(factory, option: str) -> bool:
    """Whether ``factory(option=...)`` is allowed: a named parameter, or ``**options``."""
    params = _parameters(factory)
    return params is None or option in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def make(component, **overrides):
    """``factory(**check_options, **overrides)``, each override only where the factory takes it."""
    opts = options(component)
    opts.update({k: v for k, v in overrides.items() if accepts(component.factory, k)})
    return component.factory(**opts)


def build_layer(component, registry, *, dtype="float64", seed=0, opts=None) -> Built:
    """``component.factory(**check_options)`` built for ``(batch, *check_input_shape)`` inputs."""
    obj = component.factory(**(options(component) if opts is None else opts))
    shape = tuple(getattr(obj, "check_input_shape", DEFAULT_INPUT_SHAPE))
    rngs = make_rngs(seed)
    ctx = BuildContext(np.dtype(dtype), rngs["init"], rngs["dropout"], registry,
                       "xavier_uniform", f"{component.name}_0")
    out_shape = tuple(obj.build(shape, ctx))
    return Built(obj, ctx, shape, out_shape)


def perturb_params(layer: Layer, seed: int) -> None:
    """Move parameters off their initial values (gamma = 1 hides a missing factor)."""
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p += (0.1 * rng.normal(size=p.shape)).astype(p.dtype)


def layer_input(built: Built, seed: int, dtype="float64", batch: int = BATCH) -> np.ndarray:
    """Inputs ``(batch, *input_shape)`` ~ N(0, 2²), kept away from the component's kinks."""
    rng = np.random.default_rng(seed)
    x = INPUT_SCALE * rng.normal(size=(batch, *built.input_shape))
    return away_from_kinks(x, getattr(built.obj, "kinks", ())).astype(dtype)


def loss_paths(loss) -> list[bool]:
    """``from_logits`` values to check: both when the loss fuses with an activation."""
    return [False, True] if getattr(loss, "fuses_with", None) else [False]


def loss_batch(loss, registry, seed: int, from_logits: bool, dtype="float64", batch: int = BATCH):
    """``(y_pred, y_true)`` for ``loss``: targets of its ``check_targets`` kind; predictions are
    real scores, logits, or — for a fusing loss without from_logits — its activation's output."""
    rng = np.random.default_rng(seed)
    shape = (batch, LOSS_OUTPUTS)
    kind = getattr(loss, "check_targets", "real")
    if kind == "binary":
        y = rng.integers(0, 2, size=shape).astype(np.float64)
    elif kind == "onehot":
        y = one_hot(rng.integers(0, LOSS_OUTPUTS, size=batch), LOSS_OUTPUTS)
    elif kind == "probabilities":
        e = np.exp(rng.normal(size=shape))
        y = e / e.sum(axis=1, keepdims=True)
    else:
        y = rng.normal(size=shape)
    pred = rng.normal(size=shape)
    fuses = getattr(loss, "fuses_with", None)
    if fuses and not from_logits:
        # Logits ~ N(0, 1) keep probabilities off 0 and 1, where -log p curves too fast
        # for central differences.
        pred = registry.create("activation", fuses).f(pred)
    else:
        pred = y + away_from_kinks(pred - y, getattr(loss, "kinks", ()))
    return pred.astype(dtype), y.astype(dtype)
