"""Base classes a component subclasses: Layer, Activation, Loss (Optimizer is in optim.py).

Shapes exclude the batch axis where they describe a layer (``input_shape``) and include it
where they describe data (``x`` is ``(batch, *input_shape)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def default_config(obj) -> dict[str, Any]:
    """The constructor options of ``obj``, read back from attributes of the same name.

    Lets a component with ``__init__(self, alpha=0.01)`` that stores ``self.alpha`` get
    ``config()`` for free; components that store options differently override ``config``.
    """
    out = {}
    for name, p in inspect.signature(type(obj).__init__).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(obj, name):
            value = getattr(obj, name)
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out


@dataclass
class BuildContext:
    """What a layer may use while it builds: dtype, its random streams, initializers.

    ``rng`` is the initialisation stream and ``dropout_rng`` the stream for stochastic
    layers, so changing dropout never changes the initial weights.
    """

    dtype: np.dtype
    rng: np.random.Generator
    dropout_rng: np.random.Generator
    registry: Any = None
    default_initializer: str | Mapping = "xavier_uniform"
    layer_name: str = ""

    def initializer(self, spec=None):
        """Resolve an initializer by registry name or ``{"type": name, **options}``."""
        spec = spec or self.default_initializer
        if callable(spec):
            return spec
        return self.registry.create("initializer", spec)

    def init(self, spec, shape, fan_in, fan_out):
        """Draw a new parameter array of ``shape`` in the context's dtype."""
        arr = self.initializer(spec)(tuple(shape), fan_in, fan_out, self.rng, self.dtype)
        return np.ascontiguousarray(arr, dtype=self.dtype)


class Layer:
    """One step of a network: ``y = layer(x)``, with optional parameters.

    Subclasses fill ``params`` in :meth:`build` and ``grads`` (same keys and shapes) in
    :meth:`backward`. See :func:`nnexp.hookspecs.register_layers` for the full contract.
    """

    #: False when one sample's training-mode output depends on the rest of the batch.
    batch_independent = True
    #: True when training-mode forward draws random numbers (from ``ctx.dropout_rng``).
    stochastic = False

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_shape: tuple[int, ...], ctx: BuildContext) -> tuple[int, ...]:
        """Create parameters for inputs of ``input_shape``; return the output shape."""
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Options such that ``type(self)(**config())`` is the same layer, unbuilt."""
        return default_config(self)

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({opts})"


class Activation(Layer):
    """An element-wise activation ``a = f(z)``: a layer without parameters.

    Subclasses define :meth:`f` and :meth:`df` (dz/da of the same shape); the base class
    caches ``z`` and applies the chain rule ``dL/dz = dL/da * f'(z)``. Override
    forward/backward for a cheaper cache or a non-element-wise function (softmax).
    """

    def f(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def df(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x, training=False):
        self._z = x
        return self.f(x)

    def backward(self, grad_out):
        return grad_out * self.df(self._z)


class Loss:
    """A scalar loss of predictions ``(batch, outputs)`` against targets of the same shape.

    ``forward`` returns a float and caches what ``backward`` needs; ``backward()`` returns
    dL/dy_pred. Each subclass's docstring states its reduction.
    """

    #: Name of the output activation this loss can fuse with ("softmax", "sigmoid").
    fuses_with: str | None = None

    def forward(self, y_pred: np.ndarray, y_true: np.ndarray, from_logits: bool = False) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, y_pred, y_true, from_logits=False) -> float:
        return self.forward(y_pred, y_true, from_logits=from_logits)

    def config(self) -> dict[str, Any]:
        return default_config(self)

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({opts})"


@dataclass
class Dataset:
    """Train/validation/test splits of one dataset, as float arrays.

    ``X_*`` are ``(n, features)``; ``y_*`` are ``(n, outputs)`` (one-hot for multi-class
    classification). ``task`` is ``"classification"`` or ``"regression"``.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    task: str = "classification"
    classes: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.y_train.shape[1])
