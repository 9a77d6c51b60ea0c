"""The ``extras`` plugin: the module the ``nnexp`` entry point names.

pluggy collects every ``@hookimpl`` function found on this module, so re-exporting the
hooks of each component module is the whole registration.
"""

from nnexp_extras.activations import register_activations
from nnexp_extras.layers import register_layers
from nnexp_extras.losses import register_losses

__all__ = ["register_activations", "register_layers", "register_losses"]
