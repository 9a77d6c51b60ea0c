"""The ``extras`` plugin: the module the ``nnexp`` entry point names.

pluggy collects every ``@hookimpl`` function found on this module, so re-exporting the
hooks of each component module is the whole registration.
"""

from nnexp_extras.activations import register_activations
from nnexp_extras.initializers import register_initializers
from nnexp_extras.layers import register_layers
from nnexp_extras.losses import register_losses
from nnexp_extras.optimizers import register_optimizers, register_schedules

__all__ = ["register_activations", "register_initializers", "register_layers", "register_losses",
           "register_optimizers", "register_schedules"]
