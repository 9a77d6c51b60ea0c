"""``nnexp resume RUN_ID [KEY=VALUE ...]``: continue a KILLED or FAILED run in the same MLflow run,
or a sweep (its parent's id): only its jobs that did not finish, under the same parent.

The run continues from its last checkpoint (``checkpoints/last``: parameters, optimizer state,
every random stream, the position in the epoch), with its own composed config — the saved
``config.yaml``, not today's config files — plus the overrides given (``trainer.epochs=200``
to train longer). The result is bit-identical to a run that was never interrupted; metric
steps continue where they stopped. Its status goes back to RUNNING, then to its real end.

The record is read from this machine when it is here (``nnexp-records/``), else the
config and checkpoint are downloaded from the run's artifacts. A run without a checkpoint
starts again from the beginning, in the same MLflow run. A sweep is resumed from its
directory (``multirun/...``, tag ``nnexp.sweep_dir``): see :mod:`nnexp.sweep_resume`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from nnexp.commands.stores import URI_HELP, get_run, open_store
from nnexp.errors import NnexpError
from nnexp.record import Record, read_state
from nnexp.record.layout import default_root
from nnexp.tracking.reaper import check, local_record
from nnexp.tracking.runs import download_record

EXAMPLES = """examples:
  nnexp resume 3f2a...                     continue a KILLED or FAILED run where it stopped
  nnexp resume 9b1c...                     a sweep (its parent run): only its unfinished jobs
  nnexp resume 3f2a... trainer.epochs=200  ... and train it longer
  nnexp runs                               the store's runs, which are resumable
"""


class ResumeError(NnexpError):
    """A run that cannot be resumed (finished, still running, or its record is unusable)."""


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nnexp resume", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Continue a KILLED or FAILED run, in the same MLflow "
                                            "run, from its last checkpoint.")
    p.add_argument("run_id", help="the run's id (MLflow run id)")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE changes to its config, e.g. trainer.epochs=200")
    p.add_argument("--uri", help=URI_HELP)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if any(o in ("-m", "--multirun") or "=" not in o for o in args.overrides):
        raise ResumeError(f"overrides are KEY=VALUE changes to the run's config (got "
                          f"{' '.join(args.overrides)!r}); a run is resumed on its own, not as a sweep.")
    uri, client = open_store(args.uri)
    run = get_run(client, _run_id(args.run_id, uri), uri)
    if run.data.tags.get("nnexp.sweep") == "true":
        return _resume_sweep(run, client, args.overrides)
    _check_resumable(run)
    record, state, config_yaml = _load(client, run, uri)
    _say_where(run, state)
    from nnexp.app import main as app_main

    with tempfile.TemporaryDirectory(prefix="nnexp-resume-") as tmp:
        (Path(tmp) / "config.yaml").write_text(_primary(config_yaml))
        return app_main([*args.overrides, f"tracking.uri={uri}"], config_dir=tmp, resume={
            "run_id": run.info.run_id, "run_name": run.info.run_name, "uri": uri,
            "experiment_id": run.info.experiment_id, "state": state,
            "parent_run_id": run.data.tags.get("mlflow.parentRunId"),
            "record": str(record.path), "record_root": str(record.path.parent)})


def _resume_sweep(parent, client, overrides: list[str]) -> int:
    """A sweep: its unfinished jobs, launched again under its parent (nnexp.sweep_resume)."""
    from nnexp.app import main as app_main
    from nnexp.record.files import write_json
    from nnexp.sweep_resume import PLAN, make_plan

    if parent.info.status == "RUNNING":
        raise ResumeError(f"sweep {parent.info.run_id} ({parent.info.run_name}) is still RUNNING "
                          f"({check(parent).why}); stop it first, then resume it.")
    folder, plan, argv = make_plan(parent, client, overrides)
    write_json(folder / PLAN, plan)
    n = len(plan["jobs"])
    print(f"nnexp: resuming sweep {parent.info.run_id} ({parent.info.run_name}): {n} job(s) to run "
          f"again ({', '.join('#' + str(j['job']) for j in plan['jobs'])})", file=sys.stderr, flush=True)
    return app_main(argv)  # (its jobs' runs go to the sweep's store: its state says which)


def _run_id(given: str, uri: str) -> str:
    """``given``, or the MLflow run id of the local record called ``given`` (an interrupted
    run names its record when its run did not exist yet)."""
    from nnexp.tracking.sender import state

    record = Record(default_root(uri, Path.cwd()) / given)
    if record.exists():
        return state(record).get("run_id") or record.meta().get("resume_run_id") or given
    return given


def _check_resumable(run) -> None:
    status, name = run.info.status, f"{run.info.run_id} ({run.info.run_name})"
    if status == "FINISHED":
        raise ResumeError(f"run {name} is FINISHED: there is nothing to resume. To train longer, "
                          "start a new run with more epochs (trainer.epochs=N).")
    if status == "RUNNING":
        raise ResumeError(f"run {name} is still RUNNING ({check(run).why}); stop it first "
                          "(Ctrl-C or SIGTERM), then resume it.")
    if "nnexp.pid" not in run.data.tags:
        raise ResumeError(f"run {name} was not recorded by this version of nnexp: it has no "
                          "record or checkpoint to continue from.")


def _load(client, run, uri: str):
    """The run's record (here, or a new one filled from its artifacts), its last checkpoint
    (None: none was taken) and its saved config."""
    record = local_record(run)
    if record is None:  # on another machine: a new record, from the run's artifacts
        record = Record(default_root(uri, Path.cwd()) / run.info.run_id)
        download_record(client, run.info.run_id, record)
    config = record.artifacts / "config.yaml"
    if not config.is_file():
        raise ResumeError(f"run {run.info.run_id} has no config.yaml, so it cannot be rebuilt.")
    checkpoint = record.checkpoint_path("last")
    state = read_state(checkpoint) if checkpoint.is_file() else None
    return record, state, config.read_text()


def _say_where(run, state) -> None:
    name = f"{run.info.run_id} ({run.info.run_name})"
    if state is None:
        where = "it has no checkpoint, so it starts again from the beginning"
    else:
        done = len(state["history"]["epochs"]) + state["history"]["offset"]
        where = f"from its checkpoint at step {state['step']} ({done} epoch(s) done)"
    print(f"nnexp: resuming run {name} {where}", file=sys.stderr, flush=True)


def _primary(config_yaml: str) -> str:
    """A primary config: the run's composed config over nnexp's schema (so overrides are
    type-checked and keys added since get their defaults), with nnexp's Hydra settings."""
    return ("defaults:\n  - nnexp_schema\n  - override hydra/help: nnexp\n"
            "  - override hydra/job_logging: nnexp\n  - override hydra/hydra_logging: nnexp\n"
            "  - _self_\n\nhydra:\n  searchpath:\n    - pkg://nnexp.conf\n"
            "  job:\n    name: nnexp\n    chdir: false\n"
            "  run:\n    dir: outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}\n\n" + config_yaml)
