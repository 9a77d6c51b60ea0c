"""Resuming a sweep: run again only the jobs that did not finish, under the same parent run.

``nnexp resume SWEEP_RUN_ID [KEY=VALUE ...]`` (:mod:`nnexp.commands.resume`) finds the
sweep's jobs in its directory (the state file :mod:`nnexp.sweep` wrote, and each job's
result), and its children in the store. It writes a plan, :data:`PLAN` in the sweep directory:
the jobs to run (their numbers and overrides) — KILLED and FAILED ones continue from their
checkpoints in their own runs, never-started ones start — and launches a multirun with the
sweep's own launcher settings (plus the overrides given, which win) and
``hydra/sweeper=nnexp_resume``. That sweeper launches exactly the planned jobs; each keeps
its number (``hydra.job.num`` from nnexp's launchers: its output directory, its result file,
``nnexp.job``), and the sweep's parent run is reopened and ended again with the summary of
all its jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hydra.plugins.sweeper import Sweeper

from nnexp.errors import NnexpError

PLAN = "nnexp_resume.json"
#: The plugin class Hydra instantiates (it must live in the ``hydra_plugins`` package).
TARGET = "hydra_plugins.nnexp_resume_sweeper.NnexpResumeSweeper"


class SweepResumeError(NnexpError):
    """A sweep that cannot be resumed (finished, its directory gone, ...)."""


@dataclass
class ResumeConf:
    """``hydra.sweeper`` for ``hydra/sweeper=nnexp_resume`` (set by ``nnexp resume``)."""

    _target_: str = TARGET
    plan: str | None = None  # the plan file (default: the sweep directory's)


class ResumeSweep(Sweeper):
    """Launches the planned jobs, each with its own overrides and the command line's."""

    def __init__(self, plan: str | None = None):
        self.plan_path = plan
        self.config = self.launcher = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]):
        plan = read_plan(self.config)
        batch = [[*job["overrides"], *arguments] for job in plan["jobs"]]
        self.validate_batch_is_legal(batch)
        assert self.launcher is not None  # set by setup()
        return self.launcher.launch(batch, initial_job_idx=0)


def is_resume(config) -> bool:
    return str(config.hydra.sweeper.get("_target_", "")) == TARGET


def read_plan(config) -> dict:
    from nnexp.sweep import _absolute

    path = config.hydra.sweeper.get("plan") or _absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd) / PLAN
    return json.loads(Path(path).read_text())


def job_number(plan: dict, index: int) -> int:
    """The sweep's own number of the ``index``-th job of this launch."""
    return int(plan["jobs"][index]["job"])


def planned_job(plan: dict, hc) -> dict:
    """The planned job that the job of HydraConfig ``hc`` runs. nnexp's launchers give it its
    sweep number (:func:`nnexp.launchers.job_numbers`); another launcher numbers the jobs of
    the launch 0, 1, ... (its jobs then share output directories with the first ones)."""
    from nnexp.launchers import ADOPTED

    target = str(hc.launcher.get("_target_", ""))
    if target not in ADOPTED and target not in ADOPTED.values():
        return plan["jobs"][hc.job.num]
    return next(job for job in plan["jobs"] if int(job["job"]) == hc.job.num)


# -- planning (nnexp resume, in the command's process) ---------------------------------------
def make_plan(parent, client, extra: list[str]) -> tuple[Path, dict, list[str]]:
    """``(sweep directory, plan, the arguments of the resuming multirun)`` for a sweep's
    parent run; a :class:`SweepResumeError` when there is nothing to resume or no way to."""
    from nnexp.sweep import RESULTS_DIR, STATE_FILE

    name = f"{parent.info.run_id} ({parent.info.run_name})"
    folder = Path(parent.data.tags.get("nnexp.sweep_dir", ""))
    if not (folder / STATE_FILE).is_file():
        raise SweepResumeError(f"sweep {name}: its directory {str(folder) or '(not recorded)'} is not on "
                               "this machine, so its jobs cannot be known; resume its runs one by one.")
    state = json.loads((folder / STATE_FILE).read_text())
    if state.get("jobs") is None:
        raise SweepResumeError(f"sweep {name} was not a grid of jobs (a search): run its command again "
                               "to continue it (`nnexp.command` tag).")
    runs = _runs_by_job(parent, client)
    todo = [{"job": num, "overrides": overrides} for num, overrides in enumerate(state["jobs"])
            if num not in runs or runs[num].info.status != "FINISHED"]
    if not todo:
        raise SweepResumeError(f"sweep {name}: all {len(state['jobs'])} jobs FINISHED; there is "
                               "nothing to resume.")
    results = {p.stem: json.loads(p.read_text()) for p in (folder / RESULTS_DIR).glob("*.json")}
    for job in todo:
        job["record"] = (results.get(str(job["job"])) or {}).get("record")
        if job["job"] in runs:  # its run, also when its record or result is on another machine
            job.update(run_id=runs[job["job"]].info.run_id, run_name=runs[job["job"]].info.run_name)
    plan = {"parent_run_id": parent.info.run_id, "jobs": todo}
    args = ["-m", *state.get("hydra_overrides", []), "hydra/sweeper=nnexp_resume",
            f"hydra.sweep.dir={folder}", *extra]
    return folder, plan, args


def _runs_by_job(parent, client) -> dict:
    """The sweep's child runs by job number (a FINISHED one, if a job has several)."""
    from nnexp.tracking import store

    children = store.retry(client.search_runs, [parent.info.experiment_id],
                           f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=50000)
    numbered = [c for c in children if c.data.tags.get("nnexp.job", "").isdigit()]
    return {int(c.data.tags["nnexp.job"]): c for c in sorted(numbered, key=lambda c: c.info.status == "FINISHED")}


def resume_of(job: dict, uri: str, root: Path) -> dict | None:
    """How the planned ``job`` continues: its run from its record's checkpoint (a KILLED or
    FAILED job); when its record is not on this machine (it ran on another node), from the
    checkpoint in its run's artifacts, in a record made under ``root``; or None (it never
    started: it starts now)."""
    from nnexp.record import Record, read_state
    from nnexp.tracking.sender import state

    record = Record(job["record"]) if job.get("record") else None
    if record is not None and record.exists():
        run_id = state(record).get("run_id") or record.meta().get("resume_run_id") or job.get("run_id")
    elif job.get("run_id"):
        run_id, record = job["run_id"], _fetched(uri, job["run_id"], root)
    else:
        return None
    if not run_id:
        return None
    checkpoint = record.checkpoint_path()
    return {"run_id": run_id, "uri": uri, "record": str(record.path), "record_root": str(record.path.parent),
            "run_name": record.meta().get("run_name") or job.get("run_name"),
            "state": read_state(checkpoint) if checkpoint.is_file() else None}


def _fetched(uri: str, run_id: str, root: Path):
    """A new local record of run ``run_id`` holding its last checkpoint, from its artifacts."""
    from nnexp.record import Record
    from nnexp.tracking import store
    from nnexp.tracking.runs import download_record

    record = Record(Path(root) / run_id)
    download_record(store.client(uri), run_id, record)
    return record
