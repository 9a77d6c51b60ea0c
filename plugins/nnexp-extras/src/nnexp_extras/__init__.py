"""nnexp-extras: components worth experimenting with, as an nnexp plugin package.

- activations: ``mish``, ``snake`` (option ``frequency``), ``prelu`` (learnable slope)
- layers: ``maxout``, ``residual_dense``
- losses: ``log_cosh``, ``focal`` (option ``gamma``; fuses with a softmax output)
- optimizer ``lion``; schedule ``polynomial``; initializer ``orthogonal``

Installing the package is enough: nnexp finds it through the ``nnexp`` entry-point group.
"""

from nnexp_extras.activations import Mish, PReLU, Snake
from nnexp_extras.initializers import orthogonal
from nnexp_extras.layers import Maxout, ResidualDense
from nnexp_extras.losses import Focal, LogCosh
from nnexp_extras.optimizers import Lion, Polynomial

__all__ = ["Focal", "Lion", "LogCosh", "Maxout", "Mish", "PReLU", "Polynomial", "ResidualDense",
           "Snake", "orthogonal"]
