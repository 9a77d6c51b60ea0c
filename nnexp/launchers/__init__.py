"""Hydra's launchers, with what a tracked sweep needs added.

nnexp's sweep callback (:mod:`nnexp.sweep`) swaps Hydra's joblib, Ray and submitit launchers
for the subclasses here (:func:`adopt`), so the usual ``hydra/launcher=joblib``, ``ray``,
``submitit_local`` and ``submitit_slurm`` (and the presets in ``conf/hydra/launcher``) run
every job of a sweep, even when one job's process dies (SIGKILL, out of memory, a lost node):
that job is recorded FAILED with how it died, its MLflow run is closed, the others go on.

- joblib: ``hydra_plugins.nnexp_launchers.joblib_launcher.JoblibLauncher`` runs the jobs on
  :class:`nnexp.launchers.pool.WorkerPool` instead of loky, whose pool breaks (and kills every
  running job) when one worker dies;
- Ray and submitit: the same launchers, waiting for each job on its own, so one lost job is
  one failed job instead of an exception that ends the sweep.

Each of them, and Hydra's basic launcher (swapped for
``hydra_plugins.nnexp_launchers.basic_launcher.BasicLauncher``), numbers the jobs of a
resumed sweep as the sweep did (:func:`job_numbers`), not 0, 1, ... for each launch.
"""

from __future__ import annotations

from collections.abc import Sequence

from nnexp.errors import NnexpError


class LaunchError(NnexpError):
    """The sweep's jobs could not be launched (e.g. no Ray cluster at the address)."""

    @classmethod
    def abandon(cls, message: str) -> LaunchError:
        """The error to raise, once the sweep's parent run is ended FAILED with it."""
        from nnexp.sweep import abandon

        abandon(message)
        return cls(message)

#: Hydra's launcher classes -> nnexp's subclasses of them.
ADOPTED = {
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher":
        "hydra_plugins.nnexp_launchers.basic_launcher.BasicLauncher",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher":
        "hydra_plugins.nnexp_launchers.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher":
        "hydra_plugins.nnexp_launchers.ray_launcher.RayLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher":
        "hydra_plugins.nnexp_launchers.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher":
        "hydra_plugins.nnexp_launchers.submitit_launcher.SlurmLauncher",
}


#: Launchers whose jobs run in the launching process or in processes it starts with its
#: environment: they hand their runs to its sender (the others' jobs have their own).
SHARING = ("hydra._internal.core_plugins.basic_launcher.BasicLauncher",
           "hydra_plugins.nnexp_launchers.basic_launcher.BasicLauncher",
           "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
           "hydra_plugins.nnexp_launchers.joblib_launcher.JoblibLauncher",
           "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
           "hydra_plugins.nnexp_launchers.submitit_launcher.LocalLauncher")


def shares_sender(config) -> bool:
    """Whether the sweep's jobs hand their runs to the launching process's sender."""
    return str(config.hydra.launcher.get("_target_", "")) in SHARING


#: Launchers whose ``n_jobs`` means joblib's (a positive count, or -1 for every CPU, ...).
JOBLIB = ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
          "hydra_plugins.nnexp_launchers.joblib_launcher.JoblibLauncher")


def check_settings(config) -> None:
    """Refuse launcher settings the launcher would refuse, before the sweep's parent run
    exists: joblib's ``n_jobs=0`` (joblib: "has no meaning")."""
    launcher = config.hydra.launcher
    if str(launcher.get("_target_", "")) in JOBLIB:
        n_jobs = launcher.get("n_jobs")
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
            from nnexp.errors import ConfigError

            raise ConfigError("hydra.launcher.n_jobs", n_jobs, "the number of worker processes: a "
                              "positive whole number, or -1 for every CPU (-2: all but one, ...)")


def adopt(config) -> None:
    """Point ``hydra.launcher._target_`` at nnexp's subclass of the chosen Hydra launcher
    (before Hydra instantiates it); any other launcher is left as it is."""
    from omegaconf import open_dict, read_write

    launcher = config.hydra.launcher
    target = launcher.get("_target_")
    if target in ADOPTED:
        with read_write(launcher), open_dict(launcher):
            launcher._target_ = ADOPTED[target]


def job_numbers(config, initial_job_idx: int, n: int) -> list[int]:
    """The sweep's own numbers of the ``n`` jobs of a launch (``hydra.job.num``): their places
    in the sweep, but in a resumed sweep the planned jobs' numbers (:mod:`nnexp.sweep_resume`),
    so a job run again keeps its output directory, its result file and its ``nnexp.job``."""
    from nnexp import sweep_resume

    if not sweep_resume.is_resume(config):
        return list(range(initial_job_idx, initial_job_idx + n))
    plan = sweep_resume.read_plan(config)
    return [sweep_resume.job_number(plan, initial_job_idx + i) for i in range(n)]


def reason(problem: str) -> str:
    """A one-line reason: a traceback is printed whole (stderr) and named by its last line."""
    import sys

    if not problem.startswith("Traceback"):
        return problem
    print(problem, file=sys.stderr, flush=True)
    return problem.strip().splitlines()[-1]


def lost_job(config, num: int, overrides: Sequence[str], reason: str):
    """The ``JobReturn`` of a job whose process died before it returned: its result is
    recorded FAILED with ``reason`` (:func:`nnexp.sweep.job_lost`), as a job that failed."""
    from hydra.core.utils import JobReturn, JobStatus

    from nnexp.sweep import job_lost

    result = job_lost(config, num, list(overrides), reason)
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=result,
                     task_name=str(config.hydra.job.name))


def returned(config, job_return):
    """A job's ``JobReturn`` as it comes back to the launching process: its result is
    recorded there too, so the summary has it even when the job ran on another machine."""
    from nnexp.sweep import record

    if isinstance(getattr(job_return, "_return_value", None), dict):
        record(config, job_return._return_value)
    return job_return
