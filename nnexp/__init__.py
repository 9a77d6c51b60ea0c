"""nnexp: neural-network experiments in numpy, where every component is a plugin.

Public API::

    import nnexp
    net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid")
    history = nnexp.fit(net, X, y, loss="mse", optimizer={"type": "sgd", "lr": 0.1})
    reg = nnexp.get_registry(); reg.names("activation")

Plugins implement hooks marked with :data:`hookimpl` (see :mod:`nnexp.hookspecs`).
"""

from nnexp.base import Activation, BuildContext, Dataset, Layer, Loss
from nnexp.errors import (
    AmbiguousComponentError,
    ComponentLoadError,
    ConfigError,
    DataError,
    DivergenceError,
    DuplicateComponentError,
    NnexpError,
    PluginLoadError,
    ShapeError,
    UnknownComponentError,
)
from nnexp.hookspecs import hookimpl
from nnexp.network import Network
from nnexp.optim import Optimizer, Schedule
from nnexp.plugins import get_registry, load_registry, nnexp_version, reset_registry
from nnexp.registry import Component, Provenance, Registry
from nnexp.train import History, Run, Trainer, fit

__all__ = [
    "Activation", "AmbiguousComponentError", "BuildContext", "Component", "ComponentLoadError",
    "ConfigError", "DataError", "Dataset", "DivergenceError", "DuplicateComponentError", "History",
    "Layer", "Loss", "Network", "NnexpError", "Optimizer", "PluginLoadError", "Provenance",
    "Registry", "Run", "Schedule", "ShapeError", "Trainer", "UnknownComponentError", "fit", "get_registry",
    "hookimpl", "load_registry", "nnexp_version", "reset_registry",
]
__version__ = nnexp_version()
