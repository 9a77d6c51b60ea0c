"""``hydra/launcher=submitit_local`` / ``submitit_slurm`` (and the ``slurm`` preset) for
tracked sweeps.

Hydra's submitit launcher collects the jobs' results in order and raises at the first job
that produced none (killed, out of memory, preempted past its retries), ending the sweep
while later jobs may still run. These wait for every job and record such a job FAILED with
the state submitit reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn

from nnexp.launchers import lost_job, returned

try:
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
except ImportError:  # nnexp[slurm] is not installed: nothing to adopt
    submitit_launcher = None


class _Collect:
    """Stands in for submitit's executor during Hydra's ``launch``: submits through it and
    hands back jobs whose ``results()`` never raise (see :meth:`Job.results`)."""

    def __init__(self, launcher, executor):
        self._launcher, self._executor = launcher, executor

    def __getattr__(self, name):
        return getattr(self._executor, name)

    def map_array(self, fn, *args):
        overrides, nums = args[0], args[2]
        return [_Job(self._launcher.config, job, num, list(o))
                for job, num, o in zip(self._executor.map_array(fn, *args), nums, overrides)]


class _Job:
    def __init__(self, config, job, num: int, overrides: list[str]):
        self.config, self.job, self.num, self.overrides = config, job, num, overrides

    def results(self) -> list[JobReturn]:
        try:
            return [returned(self.config, self.job.results()[0])]
        except Exception:  # noqa: BLE001 - submitit's UncompletedJobError/FailedJobError
            return [lost_job(self.config, self.num, self.overrides,
                             f"submitit job {self.job.job_id} produced no result (its process "
                             f"died; state {self.job.state}; log {self.job.paths.stderr})")]


if submitit_launcher is not None:
    import submitit

    class _Adopted:
        """``launch`` as Hydra's, with submitit's executor wrapped by :class:`_Collect`."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            # ignore: a mixin (super() is submitit's launcher) patching submitit for the call
            original = submitit.AutoExecutor
            submitit.AutoExecutor = lambda *a, **k: _Collect(self, original(*a, **k))  # type: ignore[misc, assignment]
            try:
                return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
            finally:
                submitit.AutoExecutor = original  # type: ignore[misc]

    class LocalLauncher(_Adopted, submitit_launcher.LocalLauncher):
        """Hydra's submitit local launcher; a job that dies is one FAILED job."""

    class SlurmLauncher(_Adopted, submitit_launcher.SlurmLauncher):
        """Hydra's submitit SLURM launcher; a job that dies is one FAILED job."""
