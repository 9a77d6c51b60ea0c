"""``hydra/launcher=joblib`` on a pool that survives its workers (:mod:`nnexp.launchers.pool`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import joblib_launcher
from hydra_plugins.hydra_joblib_launcher._core import execute_job

from nnexp.launchers import job_numbers, lost_job, reason
from nnexp.launchers.pool import Outcome, WorkerPool

log = logging.getLogger(__name__)


def worker_count(n_jobs, n_calls: int) -> int:
    """joblib's meaning of ``n_jobs`` (-1: every CPU, -2: all but one, ...), at most one
    worker per job."""
    n = int(n_jobs or 1)
    if n < 0:
        n = max(1, (os.cpu_count() or 1) + 1 + n)
    return max(1, min(n, n_calls))


class JoblibLauncher(joblib_launcher.JoblibLauncher):
    """Hydra's joblib launcher (its config, ``n_jobs``) with the jobs run on
    :class:`WorkerPool`: a job whose process dies is one FAILED job, and a fresh worker runs
    the rest. joblib's other options (backend, batching, memmapping) do not apply."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        calls = list(zip(job_numbers(self.config, initial_job_idx, len(job_overrides)),
                         map(list, job_overrides)))
        n = worker_count(self.joblib.get("n_jobs"), len(calls))
        log.info(f"nnexp's process pool ({n} workers) is launching {len(calls)} jobs")
        for num, overrides in calls:
            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
        returns: list[JobReturn | None] = [None] * len(calls)

        def report(outcome: Outcome) -> None:
            num, overrides = calls[outcome.index]
            if outcome.problem is None:
                returns[outcome.index] = outcome.value
            elif outcome.problem != "interrupted":  # an interrupted job recorded itself
                returns[outcome.index] = lost_job(self.config, num, overrides, reason(outcome.problem))

        setup = (self.hydra_context, self.config, self.task_function, Singleton.get_state())
        WorkerPool(execute_job, setup, n).run(calls, report)
        return returns  # type: ignore[return-value]  # an interrupted job's slot stays None
