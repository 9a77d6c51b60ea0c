"""Conformance checks for learning-rate schedules: documented values, bounds, purity, warmup.

A schedule tells the kit about itself through class attributes, all optional:

- ``check_options``: options to build it with;
- ``check_points``: ``{(epoch, epochs): lr / base_lr}``, values its docstring promises
  (default ``{(0, 10): 1.0}``: training starts at the base learning rate);
- ``check_max_factor``: the largest ``lr / base_lr`` it may give (default 1: it never raises
  the learning rate above the base; a one-cycle schedule declares its peak).

A schedule with a ``warmup`` option must mean nnexp's: ``warmup`` epochs rising linearly,
then the main schedule over the remaining epochs.
"""

from __future__ import annotations

import math
import numbers

from nnexp.testing import examples as ex
from nnexp.testing.checks import CheckFailure, json_config, require

BASE_LR = 0.1
#: Run lengths the bounds and purity checks sweep.
RUNS = (1, 3, 10, 57)
WARMUP, WARMUP_RUN = 3, 12


def _values(schedule, epochs: int, order=None) -> dict[int, float]:
    """``epoch -> lr_at(epoch, BASE_LR, epochs)`` for every epoch of a run, asked in ``order``."""
    return {e: schedule.lr_at(e, BASE_LR, epochs) for e in (order or range(epochs))}


def documented_values(component, registry):
    """``lr_at`` gives the values the schedule documents in ``check_points``
    (``{(epoch, epochs): lr / base_lr}``; by default the first epoch runs at the base lr)."""
    schedule = ex.make(component)
    points = getattr(component.factory, "check_points", None) or {(0, 10): 1.0}
    for (epoch, epochs), factor in points.items():
        got = schedule.lr_at(epoch, BASE_LR, epochs)
        if not math.isclose(got, BASE_LR * factor, rel_tol=1e-9, abs_tol=1e-15):
            raise CheckFailure(f"lr_at({epoch}, base_lr={BASE_LR}, epochs={epochs}) = {got!r}; "
                               f"documented (check_points): {BASE_LR * factor!r}")


def bounds(component, registry):
    """For runs of 1, 3, 10 and 57 epochs every ``lr_at`` is a finite real number in
    ``[0, base_lr · check_max_factor]`` (default: never above the base lr)."""
    schedule = ex.make(component)
    top = BASE_LR * getattr(component.factory, "check_max_factor", 1.0)
    for epochs in RUNS:
        for epoch, lr in _values(schedule, epochs).items():
            ok = isinstance(lr, numbers.Real) and math.isfinite(lr) and 0 <= lr <= top * (1 + 1e-12)
            require(ok, f"lr_at({epoch}, base_lr={BASE_LR}, epochs={epochs}) = {lr!r}: expected a "
                        f"finite number in [0, {top:g}] (declare check_max_factor to go above base_lr)")


def pure(component, registry):
    """``lr_at`` depends only on its arguments (a resumed run asks for any epoch first): the
    same values asked backwards, from a second instance and from ``factory(**config())``."""
    first = ex.make(component)
    others = {"asked backwards": first, "a second instance": ex.make(component),
              "rebuilt from config()": component.factory(**json_config(first))}
    for epochs in RUNS:
        want = _values(first, epochs)
        for what, schedule in others.items():
            order = range(epochs - 1, -1, -1) if what == "asked backwards" else None
            got = _values(schedule, epochs, order)
            for e in (e for e in want if got[e] != want[e]):
                raise CheckFailure(f"{what}: lr_at({e}, {BASE_LR}, {epochs}) = {got[e]!r}, "
                                   f"but {want[e]!r} when first asked")


def warmup(component, registry):
    """With ``warmup=w`` the lr rises linearly over epochs ``0 … w-1`` to the main schedule's
    first value, then the main schedule runs on ``epoch - w`` over ``epochs - w`` epochs (as
    torch's ``SequentialLR`` of ``LinearLR`` and the schedule)."""
    warm, main = ex.make(component, warmup=WARMUP), ex.make(component, warmup=0)
    rest = WARMUP_RUN - WARMUP
    for k in range(rest):
        got, want = warm.lr_at(WARMUP + k, BASE_LR, WARMUP_RUN), main.lr_at(k, BASE_LR, rest)
        require(math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15),
                f"after a {WARMUP}-epoch warmup, epoch {WARMUP + k} has lr {got!r}; the main schedule "
                f"at its epoch {k} of {rest} has {want!r}")
    ramp = [warm.lr_at(e, BASE_LR, WARMUP_RUN) for e in range(WARMUP)] + [main.lr_at(0, BASE_LR, rest)]
    steps = [b - a for a, b in zip(ramp, ramp[1:])]
    linear = all(math.isclose(s, steps[0], rel_tol=1e-9) for s in steps)
    require(steps[0] > 0 and linear, f"warmup lr over epochs 0..{WARMUP} is {ramp}: expected a "
                                     "linear rise to the main schedule's first value")


def has_warmup(component) -> bool:
    """The warmup check applies to schedules with a ``warmup`` option."""
    return ex.declares(component.factory, "warmup")
