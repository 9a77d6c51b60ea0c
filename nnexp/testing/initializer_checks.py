"""Conformance checks for weight initializers: shape and dtype, the documented variance, fans
taken from the layer (``W`` is ``(n_out, n_in)``: ``fan_in = n_in``), determinism by seed.

``factory(**options)`` returns ``init(shape, fan_in, fan_out, rng, dtype)``. The factory
declares what its draws should look like, as attributes:

- ``check_variance(fan_in, fan_out, **options)`` (required): the documented variance of one
  element, e.g. ``2 / (fan_in + fan_out)`` for Glorot, ``2 / fan_in`` for He (ReLU gain);
- ``check_mean(fan_in, fan_out, **options)``: the documented mean (default 0);
- ``check_options``: options to build it with.

Options the kit built with are passed on as keywords, so write defaults into the signature:
``xavier_uniform.check_variance = lambda fan_in, fan_out, gain=1.0: gain**2 * 2 / (fan_in + fan_out)``.
"""

from __future__ import annotations

import math

import numpy as np

from nnexp.testing import examples as ex
from nnexp.testing.checks import CheckFailure, require

#: (shape, fan_in, fan_out): a bias, a dense W (n_out, n_in), maxout's (pieces, units, n_in).
SHAPES = (((3,), 4, 3), ((3, 4), 4, 3), ((2, 3, 4), 4, 3))
#: Square, so the variance check is about the formula's scale, not the orientation.
SQUARE = ((400, 400), 400, 400)
#: Fans that the shape's orientation decides: only the fans passed in give the right spread.
LAYOUTS = (((100, 900), 900, 100), ((900, 100), 100, 900), ((3, 100, 900), 900, 100))
RTOL_VARIANCE = 0.03


def _draw(component, shape, fan_in, fan_out, seed=0, dtype="float64"):
    init = ex.make(component)
    return init(tuple(shape), fan_in, fan_out, np.random.default_rng(seed), np.dtype(dtype))


def _documented(component, attr: str, fan_in: int, fan_out: int, default=None) -> float:
    fn = getattr(component.factory, attr, None)
    if fn is None:
        if default is None:
            raise CheckFailure(f"the factory declares no {attr}: set "
                               f"`{getattr(component.factory, '__name__', 'factory')}.{attr} = "
                               "lambda fan_in, fan_out, **options: ...` (the documented formula)")
        return default
    return float(fn(fan_in, fan_out, **ex.options(component)))


def shape_and_dtype(component, registry):
    """``init(shape, fan_in, fan_out, rng, dtype)`` returns a new finite array of exactly that
    shape and dtype, for float32 and float64 and for 1-, 2- and 3-D shapes."""
    for dtype in ("float32", "float64"):
        for shape, fan_in, fan_out in SHAPES:
            out = _draw(component, shape, fan_in, fan_out, dtype=dtype)
            require(isinstance(out, np.ndarray) and out.shape == shape and out.dtype == np.dtype(dtype),
                    f"init({shape}, {fan_in}, {fan_out}, rng, {dtype}) returned "
                    f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}")
            require(np.isfinite(out).all(), f"init({shape}, ..., {dtype}) returned non-finite values")
            again = _draw(component, shape, fan_in, fan_out, dtype=dtype)
            require(not np.shares_memory(out, again), "two calls returned the same memory: return a new array")


def _require_spread(component, shape, fan_in: int, fan_out: int, what: str) -> None:
    """Sample mean and variance of one draw against the documented ones."""
    out = _draw(component, shape, fan_in, fan_out)
    var = _documented(component, "check_variance", fan_in, fan_out)
    mean = _documented(component, "check_mean", fan_in, fan_out, default=0.0)
    got_var, got_mean = float(out.var()), float(out.mean())
    where = f"{what}: shape {shape}, fan_in={fan_in}, fan_out={fan_out}"
    if not math.isclose(got_var, var, rel_tol=RTOL_VARIANCE, abs_tol=1e-24):
        raise CheckFailure(f"{where}: sample variance {got_var:.6g}, documented {var:.6g} "
                           f"(check_variance; tolerance {RTOL_VARIANCE:.0%})")
    tolerance = 4 * math.sqrt(var / out.size) + 1e-12 * max(1.0, abs(mean))
    if abs(got_mean - mean) > tolerance:
        raise CheckFailure(f"{where}: sample mean {got_mean:.6g}, documented {mean:.6g} (±{tolerance:.2g})")


def variance(component, registry):
    """The sample variance (and mean) of a 400 x 400 draw match the documented
    ``check_variance`` (within 3 %) and ``check_mean`` (default 0, within 4 standard errors)."""
    _require_spread(component, *SQUARE, "square draw")


def fans(component, registry):
    """The spread follows the fans the layer passes, not the array's shape: drawn as
    ``(100, 900)`` with ``fan_in=900``, as ``(900, 100)`` with ``fan_in=100`` and as
    ``(3, 100, 900)`` (maxout's layout), each matches ``check_variance``."""
    for shape, fan_in, fan_out in LAYOUTS:
        _require_spread(component, shape, fan_in, fan_out, "fans from the layer")


def determinism(component, registry):
    """Draws only from the ``rng`` it is given: the same seed gives bitwise the same array,
    another seed another one (unless its variance is 0), numpy's global state is untouched."""
    shape, fan_in, fan_out = (30, 40), 40, 30
    global_state = np.random.get_state()[1].copy()
    first, again = (_draw(component, shape, fan_in, fan_out, seed=7) for _ in range(2))
    require(np.array_equal(first, again), "two draws from generators seeded alike differ: draw "
                                          "only from the rng argument")
    require(np.array_equal(np.random.get_state()[1], global_state),
            "numpy's global random state changed: draw only from the rng argument")
    if _documented(component, "check_variance", fan_in, fan_out) > 0:
        other = _draw(component, shape, fan_in, fan_out, seed=8)
        require(not np.array_equal(first, other), "generators seeded differently gave the same "
                                                  "array: the rng argument is ignored")
