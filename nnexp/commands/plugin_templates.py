"""The files ``nnexp plugins new`` writes: one working component per kind, and its tests.

Each template is a :class:`string.Template`: ``$p`` is the component-name prefix (``demo``),
``$dist`` the distribution (``nnexp-demo``), ``$module`` the import name (``nnexp_demo``),
``$plugin`` the entry-point name, ``$nnexp`` the nnexp requirement. A kind's entry in
:data:`KINDS` gives its module, what it registers and the tests that go with it.
"""

from __future__ import annotations

from dataclasses import dataclass

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "nnexp components: $summary"
requires-python = ">=3.11"
dependencies = ["$nnexp", "numpy>=1.26"]

[project.optional-dependencies]
test = ["pytest>=8.0"]

# What makes it a plugin: nnexp imports this module and collects its @nnexp.hookimpl functions.
[project.entry-points.nnexp]
$plugin = "$module.plugin"

[tool.setuptools.packages.find]
where = ["src"]
'''

README = '''\
# $dist

nnexp components: $summary. Written from `nnexp plugins new`; see nnexp's
docs/plugin-guide.md for every contract.

```bash
pip install -e ".[test]"
pytest                                    # nnexp's conformance kit over every component, and more
nnexp plugins                             # $plugin  $dist 0.1.0 and its components
nnexp check --distribution $dist
```
$usage'''

INIT = '''\
"""$dist: $summary.

Installing the package is enough: nnexp finds it through the ``nnexp`` entry point
(``$module.plugin``, which re-exports the hooks of each module below).
"""
'''

PLUGIN = '''\
"""The ``$plugin`` plugin: the module the ``nnexp`` entry point names. pluggy collects every
``@nnexp.hookimpl`` function found here, so re-exporting each module's hook registers it all."""

$imports
'''

TEST_HEAD = '''\
"""nnexp's conformance kit over every component this package registers (through its installed
entry point), and what each computes."""

import numpy as np
import pytest

import nnexp
from nnexp.testing import parametrize_with_checks

DIST = "$dist"
REGISTRY = nnexp.load_registry()


@parametrize_with_checks(REGISTRY, distribution=DIST)
def test_component_conforms(component, check):
    check(component)


def test_every_component_comes_from_this_package():
    mine = {(c.kind, c.name) for kind in nnexp.registry.KINDS for c in REGISTRY.components(kind)
            if c.provenance.distribution == DIST}
    assert mine == $registered
'''


@dataclass(frozen=True)
class Kind:
    """One kind's module (``module.py`` in the package), its registered names and its tests."""

    module: str
    hook: str
    names: tuple[str, ...]
    source: str
    tests: str
    usage: str


ACTIVATION = '''\
"""Activation: the inverse square root unit (Carlile et al., 2017)."""

import numpy as np

import nnexp
from nnexp.optim import check_range


class ISRU(nnexp.Activation):
    """``f(z) = z / sqrt(1 + α z²)``; ``f'(z) = (1 + α z²)^(-3/2)``. Bounded in ``±1/√α``."""

    check_options = {"alpha": 0.5}  # what nnexp's conformance kit builds its example with

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(check_range("${p}_isru alpha", alpha, 0, low_open=True))

    def f(self, z):
        return z / np.sqrt(1 + self.alpha * z * z)

    def df(self, z):
        return (1 + self.alpha * z * z) ** -1.5


@nnexp.hookimpl
def register_activations(register):
    register("${p}_isru", ISRU)
'''

ACTIVATION_TESTS = '''

def test_isru_is_bounded_by_one_over_sqrt_alpha():
    isru = REGISTRY.create("activation", {"type": "${p}_isru", "alpha": 4.0})
    np.testing.assert_allclose(isru.forward(np.array([-1e6, 0.0, 1e6])), [-0.5, 0.0, 0.5], rtol=1e-6)


def test_isru_rejects_a_non_positive_alpha():
    with pytest.raises(nnexp.ConfigError, match="alpha"):
        REGISTRY.create("activation", {"type": "${p}_isru", "alpha": 0})
'''

LOSS = '''\
"""Loss: log-cosh, a smooth robust regression loss."""

import math

import numpy as np

import nnexp


class LogCosh(nnexp.Loss):
    """``L = mean over every element of log(cosh(ŷ - y))``. Reduction: mean over batch and
    outputs. ``dL/dŷ = tanh(ŷ - y) / (batch · outputs)``."""

    def forward(self, y_pred, y_true, from_logits=False):
        self._d = y_pred - y_true
        a = np.abs(self._d)
        return float(np.mean(a + np.log1p(np.exp(-2 * a)) - math.log(2.0)))  # no cosh overflow

    def backward(self):
        return np.tanh(self._d) / self._d.size


@nnexp.hookimpl
def register_losses(register):
    register("${p}_log_cosh", LogCosh)
'''

LOSS_TESTS = '''

def test_log_cosh_is_half_the_squared_error_for_small_errors():
    loss = REGISTRY.create("loss", "${p}_log_cosh")
    assert loss(np.full((4, 2), 1e-3), np.zeros((4, 2))) == pytest.approx(0.5e-6, rel=1e-6)
'''

LAYER = '''\
"""Layer: a learnable scale per feature."""

import numpy as np

import nnexp


class Scale(nnexp.Layer):
    """``y = x ⊙ s``, one learnable scale per feature, starting at 1.
    ``dL/ds = Σ_batch g ⊙ x``; ``dL/dx = g ⊙ s``. Shapes: x ``(batch, n)`` -> ``(batch, n)``."""

    def build(self, input_shape, ctx):
        if len(input_shape) != 1:
            raise nnexp.ShapeError(f"${p}_scale expects input of shape (batch, features), got "
                                   f"(batch, {', '.join(map(str, input_shape))}).")
        self.params = {"s": np.ones(input_shape, dtype=ctx.dtype)}
        self.grads = {"s": np.zeros_like(self.params["s"])}
        return tuple(input_shape)

    def forward(self, x, training=False):
        self._x = x  # cache only what backward needs
        return x * self.params["s"]

    def backward(self, grad_out):
        self.grads["s"][...] = (grad_out * self._x).sum(axis=0)  # fill, never update
        return grad_out * self.params["s"]


@nnexp.hookimpl
def register_layers(register):
    register("${p}_scale", Scale)
'''

LAYER_TESTS = '''

def test_scale_starts_as_the_identity_in_a_network():
    net = nnexp.Network([{"type": "dense", "units": 3}, "${p}_scale"], 2, registry=REGISTRY)
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(x), net.layers[0].forward(x))
'''

OPTIMIZER = '''\
"""Optimizer: signSGD (Bernstein et al., 2018)."""

import numpy as np

import nnexp


class SignSGD(nnexp.Optimizer):
    """signSGD: ``θ ← θ - lr · sign(g + λθ)`` (weight decay in torch's L2 form). Every weight
    moves by exactly ``lr`` per step."""

    check_options = {"lr": 0.01}  # a step the kit's quadratic check can see

    def __init__(self, lr: float = 0.001, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)

    def update(self, param, grad, state):
        param -= self.lr * np.sign(self.decayed(param, grad))  # self.lr: read at every step

    @staticmethod
    def check_reference(theta, grad, state, t, lr, weight_decay):
        """The documented update, written plainly: nnexp's kit compares five steps with it."""
        return theta - lr * np.sign(grad + weight_decay * theta)


@nnexp.hookimpl
def register_optimizers(register):
    register("${p}_sign_sgd", SignSGD)
'''

OPTIMIZER_TESTS = '''

def test_sign_sgd_moves_every_weight_by_lr():
    net = nnexp.Network([{"type": "dense", "units": 2}], 3, dtype="float64", registry=REGISTRY)
    before = {k: p.copy() for k, p in net.params.items()}
    opt = REGISTRY.create("optimizer", {"type": "${p}_sign_sgd", "lr": 0.5}).bind(net)
    for layer in net.layers:
        for g in layer.grads.values():
            g[...] = np.random.default_rng(1).normal(size=g.shape)
    opt.step()
    for k, p in net.params.items():
        np.testing.assert_allclose(np.abs(p - before[k]), 0.5)
'''

SCHEDULE = '''\
"""Learning-rate schedule: linear decay to a floor."""

import nnexp
from nnexp.optim import check_range


class LinearDecay(nnexp.Schedule):
    """``lr = base_lr · (1 - (1 - end) · epoch / epochs)``: from the base lr at epoch 0 towards
    ``end · base_lr`` at the end of the run."""

    check_points = {(0, 10): 1.0, (5, 10): 0.55}  # (epoch, epochs) -> lr / base_lr, for the kit

    def __init__(self, end: float = 0.1):
        self.end = float(check_range("${p}_linear end", end, 0, 1))

    def lr_at(self, epoch, base_lr, epochs):
        return base_lr * (1 - (1 - self.end) * epoch / epochs)


@nnexp.hookimpl
def register_schedules(register):
    register("${p}_linear", LinearDecay)
'''

SCHEDULE_TESTS = '''

def test_linear_decay_reaches_its_floor_at_the_end_of_the_run():
    schedule = REGISTRY.create("schedule", {"type": "${p}_linear", "end": 0.2})
    assert schedule.lr_at(10, 0.5, 10) == pytest.approx(0.1)
'''

INITIALIZER = '''\
"""Initializer: LeCun uniform, ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``."""

import math

import nnexp


def lecun_uniform(scale: float = 1.0):
    """``U(-b, b)`` with ``b = scale · sqrt(3 / fan_in)``: variance ``scale² / fan_in``.
    For a dense ``W`` of shape ``(n_out, n_in)`` the layer passes ``fan_in = n_in``."""

    def init(shape, fan_in, fan_out, rng, dtype):
        bound = scale * math.sqrt(3.0 / fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(dtype)  # only from rng: seeded

    return init


# The documented variance, which nnexp's conformance kit measures.
lecun_uniform.check_variance = lambda fan_in, fan_out, scale=1.0: scale * scale / fan_in


@nnexp.hookimpl
def register_initializers(register):
    register("${p}_lecun_uniform", lecun_uniform)
'''

INITIALIZER_TESTS = '''

def test_lecun_uniform_stays_within_its_bound():
    init = REGISTRY.create("initializer", "${p}_lecun_uniform")
    W = init((64, 12), 12, 64, np.random.default_rng(0), np.float32)
    assert W.dtype == np.float32 and np.abs(W).max() <= 0.5
'''

DATASET = '''\
"""Dataset: Gaussian blobs, drawn from the seed."""

import numpy as np

import nnexp
from nnexp.data import make_splits
from nnexp.optim import check_int


def blobs(seed: int = 0, n: int = 300, classes: int = 3, val_fraction: float = 0.2,
          test_fraction: float = 0.2):
    """``n`` points in 2-D around ``classes`` centres on a circle of radius 3 (unit spread),
    split into train/validation/test and standardised with the training statistics."""
    n = check_int("${p}_blobs n", n, 10)
    k = check_int("${p}_blobs classes", classes, 2)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    angle = 2 * np.pi * labels / k
    X = 3 * np.column_stack([np.cos(angle), np.sin(angle)]) + rng.normal(size=(n, 2))
    return make_splits(X, labels, name="${p}_blobs", seed=seed, val_fraction=val_fraction,
                       test_fraction=test_fraction, classes=[f"blob{i}" for i in range(k)],
                       feature_names=["x1", "x2"])


@nnexp.hookimpl
def register_datasets(register):
    register("${p}_blobs", blobs)
'''

DATASET_TESTS = '''

def test_blobs_has_the_classes_asked_for():
    data = REGISTRY.create("dataset", {"type": "${p}_blobs", "classes": 4})
    assert data.n_outputs == 4 and data.classes == ["blob0", "blob1", "blob2", "blob3"]
'''

HOOK = '''\
"""A lifecycle hook: one line on stderr when a run ends, with its best training loss."""

import sys

import nnexp


@nnexp.hookimpl
def on_run_end(run, status, error):
    losses = run.history["loss"]
    best = f", best loss {min(losses):.4g}" if losses else ""
    print(f"$plugin: run {status} after {len(losses)} epoch(s){best}", file=sys.stderr)
'''

HOOK_TESTS = '''

def test_the_hook_reports_each_run_on_stderr(capsys):
    X = np.random.default_rng(0).normal(size=(40, 2))
    net = nnexp.Network.mlp(2, [4], 1, registry=REGISTRY)
    nnexp.fit(net, X, X[:, :1], epochs=3, registry=REGISTRY)
    assert "$plugin: run FINISHED after 3 epoch(s), best loss" in capsys.readouterr().err
'''

KINDS = {
    "activation": Kind("activations", "register_activations", ("${p}_isru",), ACTIVATION,
                       ACTIVATION_TESTS, "nnexp model.activation=${p}_isru"),
    "loss": Kind("losses", "register_losses", ("${p}_log_cosh",), LOSS, LOSS_TESTS,
                 "nnexp dataset=sine loss=${p}_log_cosh"),
    "layer": Kind("layers", "register_layers", ("${p}_scale",), LAYER, LAYER_TESTS,
                  "nnexp model=layers 'model.layers=[{type:dense,units:16},${p}_scale,tanh,{type:dense,units:2},softmax]'"),
    "optimizer": Kind("optimizers", "register_optimizers", ("${p}_sign_sgd",), OPTIMIZER,
                      OPTIMIZER_TESTS, "nnexp optimizer=${p}_sign_sgd optimizer.lr=0.01"),
    "schedule": Kind("schedules", "register_schedules", ("${p}_linear",), SCHEDULE, SCHEDULE_TESTS,
                     "nnexp schedule=${p}_linear schedule.end=0.05"),
    "initializer": Kind("initializers", "register_initializers", ("${p}_lecun_uniform",), INITIALIZER,
                        INITIALIZER_TESTS, "nnexp model.init=${p}_lecun_uniform"),
    "dataset": Kind("datasets", "register_datasets", ("${p}_blobs",), DATASET, DATASET_TESTS,
                    "nnexp dataset=${p}_blobs dataset.classes=4"),
    "hook": Kind("hooks", "on_run_end", (), HOOK, HOOK_TESTS, "nnexp trainer.epochs=3   # the hook reports the run"),
}
