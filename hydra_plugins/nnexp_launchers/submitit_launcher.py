"""``hydra/launcher=submitit_local`` / ``submitit_slurm`` (and the ``slurm`` preset) for
tracked sweeps.

Hydra's submitit launcher collects the jobs' results in order and raises at the first job
that produced none (killed, out of memory, preempted past its retries), ending the sweep
while later jobs may still run. These wait for every job and record such a job FAILED with
the state submitit reports.

Stopped (Ctrl-C, SIGTERM), they stop the jobs that have not ended, as nnexp stops a run
(SIGTERM: the run ends KILLED at the end of a step, with a checkpoint), and wait for them:
submitit's jobs outlive the process that submitted them, so they would train on, and a
submitit_local job's own ``cancel`` kills it a second after its first signal. For the same
reason submitit_local's jobs run in sessions of their own: a Ctrl-C at the terminal reaches
only the sweep, which passes one SIGTERM on (the job's submitit controller, reached by the
terminal's signal too, would kill the job at once).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import contextmanager

from hydra.core.utils import JobReturn

from nnexp.interrupts import StopAtStepEnd, as_received
from nnexp.launchers import job_numbers, lost_job, returned
from nnexp.launchers.pool import STOP_GRACE_S

try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # nnexp[slurm] is not installed: nothing to adopt
    submitit_launcher = None


class _Collect:
    """Stands in for submitit's executor during Hydra's ``launch``: submits through it and
    hands back jobs whose ``results()`` never raise (see :meth:`Job.results`)."""

    def __init__(self, launcher, executor):
        self._launcher, self._executor = launcher, executor
        self.jobs: list[_Job] = []

    def __getattr__(self, name):
        return getattr(self._executor, name)

    def map_array(self, fn, overrides, dir_keys, indices, _ids, states):
        """Submit the jobs, each numbered (and named, as Hydra names them) as the sweep
        numbers it (:func:`job_numbers`), not by its place in this launch."""
        nums = job_numbers(self._launcher.config, indices[0], len(indices)) if indices else []
        ids = [f"job_id_for_{num}" for num in nums]
        jobs = self._executor.map_array(fn, overrides, dir_keys, nums, ids, states)
        self.jobs = [_Job(self._launcher.config, job, num, list(o)) for job, num, o in zip(jobs, nums, overrides)]
        return self.jobs

    def stop(self) -> None:
        """Stop every job that has not ended and wait for them, at most :data:`STOP_GRACE_S`;
        any still running then is cancelled as submitit does."""
        running = [job for job in self.jobs if not job.job.done()]
        for job in running:
            job.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
            running = [job for job in running if not job.job.done()]
        for job in running:
            job.job.cancel(check=False)


class _Job:
    def __init__(self, config, job, num: int, overrides: list[str]):
        self.config, self.job, self.num, self.overrides = config, job, num, overrides

    def stop(self) -> None:
        """SIGTERM to the job: submitit_local's controller passes it on to the job's process;
        on SLURM, ``scancel`` sends it (then SIGKILL after the cluster's KillWait) and drops a
        job still in the queue."""
        process = getattr(self.job, "_process", None)
        if process is None:
            self.job.cancel(check=False)
        elif process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def results(self) -> list[JobReturn]:
        try:
            return [returned(self.config, self.job.results()[0])]
        except Exception:  # noqa: BLE001 - submitit's UncompletedJobError/FailedJobError
            return [lost_job(self.config, self.num, self.overrides,
                             f"submitit job {self.job.job_id} produced no result (its process "
                             f"died; state {self.job.state}; log {self.job.paths.stderr})")]


class _OwnSessions:
    """``subprocess`` as submitit's local executor sees it during a launch: each job's
    controller starts in a session of its own (see the module)."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args, **kwargs):  # noqa: N802 - subprocess's name
        return subprocess.Popen(*args, start_new_session=True, **kwargs)


@contextmanager
def _patched(owner, name: str, value):
    """``owner.name`` is ``value`` within the block."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


if submitit_launcher is not None:
    import submitit
    import submitit.local.local

    class _Adopted:
        """``launch`` as Hydra's, with submitit's executor wrapped by :class:`_Collect`."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            # ignore: a mixin (super() is submitit's launcher) patching submitit for the call
            original, executors = submitit.AutoExecutor, []

            def executor(*args, **kwargs) -> _Collect:
                executors.append(_Collect(self, original(*args, **kwargs)))
                return executors[-1]

            try:
                with _patched(submitit, "AutoExecutor", executor), \
                        _patched(submitit.local.local, "subprocess", _OwnSessions()):
                    return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
            except KeyboardInterrupt as exc:
                for collect in executors:
                    collect.stop()
                raise as_received(exc) from None

        def __call__(self, *args, **kwargs) -> JobReturn:
            """One job, in its own process. submitit ignores SIGTERM there (a SLURM habit):
            from the start it stops the job as nnexp stops a run, not only once it trains."""
            with StopAtStepEnd():
                return super().__call__(*args, **kwargs)  # type: ignore[misc]

    class LocalLauncher(_Adopted, submitit_launcher.LocalLauncher):
        """Hydra's submitit local launcher; a job that dies is one FAILED job."""

    class SlurmLauncher(_Adopted, submitit_launcher.SlurmLauncher):
        """Hydra's submitit SLURM launcher; a job that dies is one FAILED job."""
