"""Multiruns as grouped runs: one MLflow parent run per sweep, one child run per job.

:class:`SweepCallback` (a Hydra callback, ``hydra.callbacks`` in ``conf/config.yaml``) runs in
the launching process. Before any job starts it

1. expands the sweep into its jobs and builds every job's parts, so a mistake in any job
   stops the sweep with one message before anything is recorded;
2. creates the MLflow store and experiment once (a brand-new SQLite store migrated by several
   workers at once breaks) and the parent run, and writes their ids to a state file in the
   sweep directory, where jobs find them in this process and in joblib's worker processes.

Each job (:func:`run_job`) catches its own failure, records it in a result file and returns
normally: a job that raises makes Hydra skip ``on_multirun_end`` and report only the first
failure, and ``sys.exit`` in a job aborts the sweep. At the end the callback reads every
result, gives the parent its summary, prints each failed job and sets a non-zero exit code.

A job whose process dies cannot record itself: nnexp's launchers (:mod:`nnexp.launchers`,
swapped in for Hydra's joblib, Ray and submitit ones before the sweep starts) record it
FAILED with how it died (:func:`job_lost`), and :func:`finish` closes its MLflow run, which
would otherwise stay RUNNING. The callback also carries the sweep's state to the jobs
(``on_job_start`` runs where the job runs), so workers need not see the state file, and the
launchers record each job's result in the launching process as it comes back.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from nnexp import launchers
from nnexp.errors import NnexpError
from nnexp.messages import say

STATE_FILE = "nnexp_sweep.json"
RESULTS_DIR = "nnexp_jobs"

#: The sweep this process launched: set by on_multirun_start, read at the end.
_active: dict[str, Any] | None = None
_failed: list[dict] = []
#: The sweep of the job this process runs, from the callback (see on_job_start).
_job_state: dict[str, Any] | None = None
#: The resolver in conf/config.yaml's output directories (``${nnexp.id:}``).
LAUNCH_ID = "nnexp.id"


def register_resolvers() -> None:
    """``${nnexp.id:}``: a short random id, the same for every read within one launch.

    It makes each launch's output directory its own, so sweeps started in the same second
    never share a state file. Cached, and Hydra copies the cache into every job's config
    (``load_sweep_config``), so the jobs, in any process, see the launching process's id.
    Registered on import: every process that resolves a job's config imports this module
    (Hydra unpickles the sweep callback there)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(LAUNCH_ID):
        OmegaConf.register_new_resolver(LAUNCH_ID, lambda: secrets.token_hex(3), use_cache=True)


register_resolvers()


class SweepConfigError(NnexpError):
    """One or more jobs of a sweep have an invalid config; nothing was run."""


class SweepAborted(BaseException):
    """Carries an error out of a Hydra callback to :func:`nnexp.app.main`.

    Hydra turns an ``Exception`` raised by a callback into a warning and carries on, which
    would launch every job of a sweep that must not start."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def reset() -> None:
    global _active, _failed, _job_state
    _active, _failed, _job_state = None, [], None


def exit_code() -> int:
    """1 when a job of the last sweep failed, else 0."""
    return 1 if _failed else 0


# -- the launching process ---------------------------------------------------------------------
class SweepCallback(Callback):
    """Opens the sweep (validate, parent run, state file) and closes it (summary)."""

    def __init__(self):
        self.state: dict | None = None  # pickled with the callback to the jobs' processes

    def on_multirun_start(self, config, **kwargs) -> None:
        try:
            self._start(config)
        except Exception as exc:
            raise SweepAborted(exc) from exc
        launchers.adopt(config)

    def on_job_start(self, config, **kwargs) -> None:
        global _job_state
        _job_state = self.state

    def on_multirun_end(self, config, **kwargs) -> None:
        try:
            finish("FINISHED")
        except Exception as exc:
            raise SweepAborted(exc) from exc

    def _start(self, config) -> None:
        global _active
        from nnexp import sweep_resume

        if sweep_resume.is_resume(config):
            _active = self.state = _resume_state(config)
            return
        launch_dir = config.hydra.runtime.cwd
        launchers.check_settings(config)  # before the parent run: a launcher that cannot start
        jobs = expand_jobs(config)
        if jobs is not None:
            validate_jobs(config, jobs)
        else:  # [search] jobs known only as they run: check the search before the parent run
            from nnexp.search.checks import check_search

            check_search(config)
        state = {"sweep_dir": str(_absolute(config.hydra.sweep.dir, launch_dir)), "jobs": jobs,
                 "uri": None, "experiment_id": None, "parent_run_id": None,
                 "metric": config.get("optimized_metric"),
                 "hydra_overrides": [o for o in config.hydra.overrides.hydra if not o.startswith(RELAUNCH)]}
        if config.tracking.enabled:
            state.update(_open_parent(config, jobs))
            _active = state  # from now on a failure ends the parent run (app._report_error)
            if not launchers.shares_sender(config):  # jobs elsewhere need the parent's id itself
                state["parent_run_id"] = _parent_id(state)
        Path(state["sweep_dir"]).mkdir(parents=True, exist_ok=True)
        (Path(state["sweep_dir"]) / STATE_FILE).write_text(json.dumps(state, indent=1))
        _active = self.state = state


#: Hydra overrides a resumed sweep sets itself (the rest, e.g. the launcher's, it repeats).
RELAUNCH = ("hydra.sweep.dir", "hydra/sweeper", "hydra.sweeper", "hydra.run.dir")


def _resume_state(config) -> dict:
    """The state of a sweep being resumed (:mod:`nnexp.sweep_resume`): the original one, with
    the plan; the planned jobs checked as a new sweep's are; its parent run reopened."""
    from nnexp import sweep_resume
    from nnexp.record.liveness import identity
    from nnexp.tracking import sender

    folder = _absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd)
    state = json.loads((folder / STATE_FILE).read_text())
    plan = sweep_resume.read_plan(config)
    # the jobs' store and experiment were checked when the sweep started: their runs go to its
    validate_jobs(config, [job["overrides"] + list(config.hydra.overrides.task) for job in plan["jobs"]],
                  same_store=False)
    state["resume"] = plan
    if state.get("parent_key"):
        for name in (sender.PARENT, sender.SUMMARY):
            (folder / name).unlink(missing_ok=True)
        sender.shared().submit(kind="sweep", key=state["parent_key"], meta={
            "uri": state["uri"], "resume_run_id": plan["parent_run_id"],
            "heartbeat_every_s": float(config.tracking.get("heartbeat_every_s", 10.0)), **identity()})
        state.update(spool=str(sender.shared().spool), parent_run_id=None)
        if not launchers.shares_sender(config):
            state["parent_run_id"] = _parent_id(state)
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1))
    return state


def _open_parent(config, jobs) -> dict:
    """Ask this command's sender (:mod:`nnexp.tracking.sender`) for the sweep's parent run;
    the store is checked now, the run is made while the jobs start (they wait for it)."""
    from nnexp import tracking
    from nnexp.app import experiment_name, run_tags_common
    from nnexp.record.liveness import identity
    from nnexp.tracking import sender

    uri = tracking.resolve_uri(config.tracking.uri, config.hydra.runtime.cwd)
    name = experiment_name(config, config.hydra.runtime.choices)
    tracking.preflight(uri, name)
    key = str(_absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd))
    Path(key).mkdir(parents=True, exist_ok=True)
    overrides = list(config.hydra.overrides.task)
    tags = {**run_tags_common(config, config.hydra.runtime.choices, config.hydra.runtime.cwd),
            "nnexp.overrides": " ".join(overrides), "nnexp.sweep_dir": key,
            "nnexp.jobs": str(len(jobs)) if jobs is not None else "unknown"}
    from nnexp.tracking.run import source_context

    sender.shared().submit(kind="sweep", key=key, meta={
        "uri": uri, "experiment": name, "run_name": f"sweep-{name}-{_stamp()}", "tags": tags,
        "context": source_context(config.hydra.runtime.cwd),
        "heartbeat_every_s": float(config.tracking.get("heartbeat_every_s", 10.0)), **identity()})
    return {"uri": uri, "experiment": name, "experiment_id": None, "parent_key": key,
            "parent_run_id": None, "spool": str(sender.shared().spool)}


def _parent_id(state: dict, timeout: float = 300.0) -> str:
    """The parent run's id, once the sender has made it; its error, raised."""
    from nnexp.tracking.store import TrackingError

    parent = parent_run(state, timeout)
    if "run_id" not in parent:
        raise TrackingError(parent.get("error") or f"the sweep's parent run was not made within {timeout:.0f} s")
    return parent["run_id"]


def parent_run(state: dict, timeout: float = 60.0) -> dict:
    """The sweep's parent as the sender made it: ``run_id`` and ``experiment_id``, or
    ``error``; {} if it was not made within ``timeout`` seconds."""
    import time

    from nnexp.record.files import read_json
    from nnexp.tracking.sender import PARENT

    deadline = time.monotonic() + timeout
    while True:
        parent = read_json(Path(state["parent_key"]) / PARENT)
        if parent is not None or time.monotonic() >= deadline:
            return parent or {}
        time.sleep(0.05)


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def expand_jobs(config) -> list[list[str]] | None:
    """Each job's overrides, in Hydra's job order, for the basic sweeper (None for others:
    their jobs are only known as they run)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    params += list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    batches = BasicSweeper.split_arguments(parser.parse_overrides(params), None)
    return [list(job) for batch in batches for job in batch]


def validate_jobs(config, jobs: list[list[str]], same_store: bool = True) -> None:
    """Compose and build every job; raise one :class:`SweepConfigError` listing the bad ones
    (``same_store``: also those that name another store or experiment than the sweep's)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from nnexp.app import user_error_message
    from nnexp.config import build_parts
    from nnexp.plugins import get_registry

    loader, registry, errors = GlobalHydra.instance().config_loader(), get_registry(), []
    labels = varying(jobs)[1]
    for num, overrides in enumerate(jobs):
        try:
            job_cfg = loader.load_sweep_config(config, list(overrides))
            with open_dict(job_cfg):
                del job_cfg["hydra"]
            if same_store:
                _check_same_store(config, job_cfg)
            build_parts(job_cfg, registry)
        except Exception as exc:
            message = user_error_message(exc)
            if message is None:
                raise
            errors.append(f"job #{num} ({' '.join(labels[num]) or 'no overrides'}): {message}")
    if errors:
        raise SweepConfigError(f"{len(errors)} of {len(jobs)} jobs have an invalid config; "
                               "nothing was run:\n" + "\n".join(errors))


def _check_same_store(config, job_cfg) -> None:
    """A tracked sweep records every job under its one parent run: a job cannot choose
    another store or experiment (it would be recorded in the sweep's, under a wrong param)."""
    if not (config.tracking.enabled and job_cfg.tracking.enabled):
        return
    for key in ("uri", "experiment"):
        mine, sweeps = job_cfg.tracking[key], config.tracking[key]
        if mine != sweeps:
            raise SweepConfigError(
                f"tracking.{key}: got {mine!r}, but every job of a tracked sweep is recorded in "
                f"the sweep's ({'null' if sweeps is None else repr(sweeps)}); "
                f"run one sweep per tracking.{key}.")


def finish(status: str) -> None:
    """Collect every job's result, close the parent run and print the summary."""
    global _active, _failed
    state, _active = _active, None
    if state is None:
        return
    jobs = collect_results(state, status)
    _failed = [j for j in jobs if j["status"] != "FINISHED"]
    tracked = None
    if state.get("parent_key"):
        tracked = _end_parent(state, jobs, status)
    print_summary(state, jobs, tracked)


def _end_parent(state: dict, jobs: list[dict], status: str) -> str | None:
    """Hand the sweep's end to the sender and wait for its summary (an interrupted sweep
    waits a second: the sender ends it on its own)."""
    import time

    from nnexp.record.files import read_json
    from nnexp.tracking import sender

    sender.shared().submit(kind="sweep_end", key=state["parent_key"], status=status, jobs=jobs,
                           metric=state.get("metric"))
    state["parent_run_id"] = parent_run(state, 1.0 if status == "KILLED" else 60.0).get("run_id")
    deadline = time.monotonic() + (1.0 if status == "KILLED" else 600.0)
    summary = None
    while summary is None and time.monotonic() < deadline and sender.shared().alive():
        summary = read_json(Path(state["parent_key"]) / sender.SUMMARY)
        time.sleep(0.05)
    if summary is None:
        if status != "KILLED":  # (an interrupted sweep's sender ends it on its own)
            proc = sender.shared().proc
            why = (f"its sender exited (code {proc.returncode})" if proc is not None and proc.poll() is not None
                   else "its sender did not end it within 600 s")
            say(f"nnexp: the sweep's parent run {state.get('parent_run_id')} was not ended: {why}; "
                "its jobs' runs are in their records (`nnexp sync` sends what is missing)", file=sys.stderr)
        return None
    for job in jobs:  # the jobs' results get the run ids the sender knows
        run_id = summary["run_ids"].get(str(job["job"]))
        if run_id and run_id != job.get("run_id"):
            job["run_id"] = run_id
            _write_result(Path(state["sweep_dir"]), job)
    return summary["text"]


def abandon(reason: str) -> None:
    """The launcher could not launch the jobs: the parent run ends FAILED with ``reason``
    (the caller reports the error)."""
    global _active
    state, _active = _active, None
    if state is not None and state.get("parent_key"):
        from nnexp.tracking import sender

        sender.shared().submit(kind="sweep_abandon", key=state["parent_key"], reason=reason)


def interrupted() -> bool:
    """Ctrl-C or SIGTERM during a sweep: close it as KILLED with the jobs that reported.
    Whether there was a sweep to close."""
    if _active is None:
        return False
    finish("KILLED")
    return True


def collect_results(state: dict, status: str = "FINISHED") -> list[dict]:
    """Every job's result. A job that never reported counts as FAILED (its process died), or
    as KILLED when the sweep was interrupted before or while it ran."""
    found = {}
    for path in sorted((Path(state["sweep_dir"]) / RESULTS_DIR).glob("*.json")):
        result = json.loads(path.read_text())
        found[int(result["job"])] = result
    expected = range(len(state["jobs"])) if state.get("jobs") is not None else sorted(found)
    return [found.get(num) or _lost(num, state["jobs"][num], status) for num in expected]


def _lost(num: int, overrides: list[str], sweep_status: str) -> dict:
    killed = sweep_status == "KILLED"
    return {"job": num, "run_id": None, "run_name": f"job-{num}", "overrides": overrides,
            "status": "KILLED" if killed else "FAILED", "metrics": {}, "params": {},
            "error": "not run or not finished: the sweep was interrupted" if killed
            else "the job never reported a result (its process died)"}


def job_lost(config, num: int, overrides: list[str], reason: str) -> dict:
    """Record a job that did not return (its process died: ``reason`` says how) as FAILED,
    from the launching process; :func:`finish` closes its MLflow run."""
    result = _lost(num, overrides, "FINISHED")
    result["error"] = f"the job did not finish: {reason}"
    record(config, result)
    return result


def record(config, result: dict) -> None:
    """Write a job's result into the sweep directory of ``config`` (a job's or the sweep's)."""
    _write_result(_absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd), result)


def varying(jobs: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The overrides all jobs share, and each job's others."""
    common = set.intersection(*(set(j) for j in jobs)) if jobs else set()
    shared = [o for o in (jobs[0] if jobs else []) if o in common]
    return shared, [[o for o in j if o not in common] for j in jobs]


def print_summary(state: dict, jobs: list[dict], tracked: str | None = None) -> None:
    """A line per job (its own overrides, its final metrics), every failure, where to look."""
    from nnexp.app import format_metrics, look_command, training_data_note

    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    shared, own = varying([j["overrides"] for j in jobs])
    say(f"\nnnexp: sweep of {len(jobs)} jobs: "
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if shared:
        say(f"  all jobs: {' '.join(shared)}")
    width = max((len(" ".join(o)) for o in own), default=0)  # metrics in one column
    for job, overrides in zip(jobs, own):
        metrics = {k: v for k, v in job["metrics"].items()
                   if k.startswith("test_") or k == "grad_ratio"} or job["metrics"]
        say(f"  #{job['job']:<3} {job['status']:<8} {' '.join(overrides):<{width}}  {format_metrics(metrics)}"
              f"{training_data_note(job)}")
    failed = [(j, o) for j, o in zip(jobs, own) if j["status"] != "FINISHED"]
    if failed:
        say(f"{len(failed)} job(s) did not finish:")
        for job, overrides in failed:
            say(f"  #{job['job']} ({' '.join(overrides) or 'no overrides'}): {job['error']}")
    best = [line for line in (tracked or "").splitlines() if line.startswith("Best")]
    if state.get("parent_run_id"):
        uri = state["uri"]
        look = look_command(uri)
        say("\n".join(best + [f"Sweep recorded as parent run {state['parent_run_id']} in {uri}",
                                f"Look at it: {look}"]))
        if state.get("jobs") is not None and any(j["status"] == "KILLED" for j in jobs):
            say(f"Continue it (its jobs that did not finish) with: nnexp resume {state['parent_run_id']}")
    sys.stdout.flush()


# -- one job (this process or a joblib worker) -------------------------------------------------
def run_job(cfg, hc) -> dict:
    """Run one job of a sweep and record its result; never raises except on interruption."""
    from nnexp.app import new_result, run_experiment, run_name, user_error_message
    from nnexp.interrupts import StopAtStepEnd

    result = new_result(hc)
    sweep_dir = _absolute(hc.sweep.dir, hc.runtime.cwd)
    try:
        state = _job_state if _job_state and _job_state["sweep_dir"] == str(sweep_dir) else \
            json.loads((sweep_dir / STATE_FILE).read_text())
        resume = _resumed_job(state, hc, result)
        if resume and resume.get("run_name"):  # it goes on in its run, under that run's name
            result["run_name"] = resume["run_name"]
        elif state.get("jobs"):  # name the run by what varies across the sweep
            result["run_name"] = run_name(varying(state["jobs"])[1][result["job"]], hc)
        with StopAtStepEnd():
            run_experiment(cfg, hc, result, sweep_info=state if state.get("parent_key") else None,
                           resume=resume)
    except KeyboardInterrupt:
        if result["status"] != "FINISHED":  # (a signal held while a finished run was recorded)
            result.update(status="KILLED", error="interrupted (Ctrl-C or SIGTERM)")
        _write_result(sweep_dir, result)
        raise
    except Exception as exc:  # noqa: BLE001 - one job's failure must not end the sweep
        message = user_error_message(exc)
        if message is None:
            traceback.print_exc()
            message = f"{type(exc).__name__}: {exc}"
        result.update(status="FAILED", error=message)
        say(f"nnexp: job #{result['job']} FAILED: {message}", file=sys.stderr, level=logging.WARNING)
    _write_result(sweep_dir, result)
    return result


def _resumed_job(state: dict, hc, result: dict) -> dict | None:
    """In a resumed sweep: the job's own number, and how its run continues (None: anew)."""
    plan = state.get("resume")
    if not plan:
        return None
    from nnexp.record.layout import default_root
    from nnexp.sweep_resume import planned_job, resume_of

    job = planned_job(plan, hc)
    result["job"] = int(job["job"])
    resume = resume_of(job, state["uri"], default_root(state["uri"], hc.runtime.cwd))
    if resume is not None:
        resume.update(experiment_id=state.get("experiment_id"), parent_run_id=None)
    return resume


def _write_result(sweep_dir: Path, result: dict) -> None:
    out = sweep_dir / RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{result['job']}.tmp"
    tmp.write_text(json.dumps(result, default=str))
    tmp.replace(out / f"{result['job']}.json")  # atomic: a reader never sees half a file


def _absolute(path, base) -> Path:
    path = Path(str(path))
    return path if path.is_absolute() else Path(str(base)) / path
