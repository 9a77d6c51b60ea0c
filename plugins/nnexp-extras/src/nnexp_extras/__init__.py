"""nnexp-extras: components worth experimenting with, as an nnexp plugin package.

- activations: ``mish``, ``snake`` (option ``frequency``), ``prelu`` (learnable slope)
- layers: ``maxout``, ``residual_dense``
- losses: ``log_cosh``, ``focal`` (option ``gamma``; fuses with a softmax output)

Installing the package is enough: nnexp finds it through the ``nnexp`` entry-point group.
"""

from nnexp_extras.activations import Mish, PReLU, Snake
from nnexp_extras.layers import Maxout, ResidualDense
from nnexp_extras.losses import Focal, LogCosh

__all__ = ["Focal", "LogCosh", "Maxout", "Mish", "PReLU", "ResidualDense", "Snake"]
