"""Weight initializers: orthogonal (Saxe et al., 2014)."""

from __future__ import annotations

import math

import numpy as np

from nnexp import hookimpl
from nnexp.optim import check_range


def orthogonal(gain: float = 1.0):
    """Orthogonal (Saxe, McClelland & Ganguli, 2014; torch's ``orthogonal_``): the weights,
    seen as a matrix of ``rows = prod(shape[:-1])`` by ``cols = shape[-1]`` (``W (n_out, n_in)``
    as it is), have orthonormal rows (``rows <= cols``) or columns, times ``gain``. From the QR
    decomposition of a Gaussian matrix, signs fixed so the draw is uniform (Haar).

    Each element then has mean 0 and variance ``gain² / max(rows, cols)``; for a dense ``W``
    that is ``gain² / max(fan_in, fan_out)``. A 1-D shape is one unit vector times ``gain``.
    """
    check_range("orthogonal gain", gain, 0)

    def init(shape, fan_in, fan_out, rng, dtype):
        cols = shape[-1]
        rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # a uniform draw, not one biased by QR's sign convention
        matrix = q if rows >= cols else q.T
        return (gain * matrix).reshape(shape).astype(dtype)

    return init


orthogonal.check_variance = lambda fan_in, fan_out, gain=1.0: gain * gain / max(fan_in, fan_out)


@hookimpl
def register_initializers(register):
    register("orthogonal", orthogonal)
