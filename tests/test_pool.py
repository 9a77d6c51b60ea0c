"""nnexp's worker pool: a worker that dies fails only its call, and the rest still run."""

from __future__ import annotations

import os
import signal

from nnexp.launchers.pool import WorkerPool, exit_reason


def square_or_die(x: int, offset: int) -> tuple[int, int]:
    """x^2 + offset and the worker's pid; x == 3 kills its own process, x == 4 raises."""
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 4:
        raise ValueError("four is not welcome")
    return x * x + offset, os.getpid()


def test_a_dead_worker_fails_only_its_call_and_a_fresh_one_runs_the_rest():
    outcomes = []
    WorkerPool(square_or_die, (100,), n=2).run([(x,) for x in range(8)], outcomes.append)
    by_index = {o.index: o for o in outcomes}
    assert sorted(by_index) == list(range(8))
    assert by_index[3].value is None and by_index[3].problem == exit_reason(-signal.SIGKILL)
    assert "ValueError: four is not welcome" in by_index[4].problem
    done = {i: o.value for i, o in by_index.items() if o.problem is None}
    assert {i: v[0] for i, v in done.items()} == {i: i * i + 100 for i in (0, 1, 2, 5, 6, 7)}
    pids = {v[1] for v in done.values()}
    assert len(pids) <= 3 and os.getpid() not in pids  # 2 workers, one replaced after the death


def test_exit_reasons_name_the_signal():
    assert exit_reason(-9) == "its process was killed by SIGKILL (out of memory, or killed)"
    assert exit_reason(-15) == "its process was killed by SIGTERM"
    assert exit_reason(3) == "its process exited with code 3"
