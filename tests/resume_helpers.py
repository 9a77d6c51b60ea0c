"""A sweep stopped mid-way by SIGTERM and resumed with ``nnexp resume``: the steps and the
checks its tests share, whatever launcher ran it (the basic one in test_durable_runs, Ray in
test_system, submitit_local in test_launchers). Each reads the real SQLite store back."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

from conftest import Watched, store_client, store_runs

from nnexp.record import Record

#: A sweep's jobs: 3000 XOR epochs (a few seconds), rows reaching the record every 0.05 s so
#: a job is seen (and stopped) mid-training; an experiment named on the command line.
XOR_3000 = ["+experiment=xor", "trainer.epochs=3000", "tracking.flush_every_s=0.05",
            "tracking.experiment=stopped"]


def records(root) -> list[Record]:
    return [Record(p) for p in sorted((root / "nnexp-records").iterdir())]


def wait_for_epoch(root, epoch: int, proc, timeout: float = 120) -> Record:
    """Wait until the training run's record holds ``epoch`` epochs; return the record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, proc.stderr
        training = [r for r in records(root) if r.meta().get("status") == "RUNNING"] \
            if (root / "nnexp-records").is_dir() else []
        if training and training[0].epochs.last_key() >= epoch:
            return training[0]
        time.sleep(0.05)
    raise AssertionError(f"epoch {epoch} never reached: {proc.stderr}")


def stop_mid_way(args: list[str], cwd: Path, finished: int, env: dict | None = None,
                 ctrl_c: bool = False) -> Watched:
    """Run the sweep ``nnexp ARGS`` until ``finished`` jobs reported and another one has
    trained 20 epochs, then SIGTERM it (``ctrl_c``: SIGINT to its process group, as a
    terminal sends it): it exits 143 (130), without a traceback."""
    store_client(cwd / "mlflow.db")  # a store in use: a brand-new one takes seconds to make on
    # a busy machine, while the jobs train on (a short sweep could end before its parent exists)
    sweep = Watched(args, cwd, env, session=ctrl_c)
    deadline = time.monotonic() + 300
    while len(list(cwd.glob("multirun/*/*/nnexp_jobs/*.json"))) < finished or \
            not list(cwd.glob("multirun/*/*/nnexp_parent.json")):
        assert sweep.proc.poll() is None and time.monotonic() < deadline, sweep.stderr
        time.sleep(0.1)
    wait_for_epoch(cwd, 20, sweep)
    code = sweep.stop(signal.SIGINT, group=True) if ctrl_c else sweep.stop(signal.SIGTERM)
    assert code == (130 if ctrl_c else 143), sweep.stdout + sweep.stderr
    assert "Traceback" not in sweep.stderr, sweep.stderr
    assert "the sweep is marked KILLED" in sweep.stderr, sweep.stderr
    return sweep


def sweep_runs(db) -> tuple:
    """``(parent, children)`` of the one sweep in the store at ``db``."""
    runs = store_runs(db)
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    return parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def stopped(db, finished: int, sweep: Watched) -> tuple:
    """``(parent, killed)``: the stopped sweep is KILLED, ``finished`` of its jobs FINISHED and
    the one stopped mid-training KILLED (jobs that never started have no run); its summary
    said how to continue it."""
    parent, children = sweep_runs(db)
    assert parent.info.status == "KILLED"
    assert f"with: nnexp resume {parent.info.run_id}" in sweep.stdout, sweep.stdout
    assert sorted(r.info.status for r in children) == ["FINISHED"] * finished + ["KILLED"]
    (killed,) = [r for r in children if r.info.status == "KILLED"]
    return parent, killed


def check_resumed(db, parent, killed, out, key: str, values: list[str], again: int) -> None:
    """After ``nnexp resume`` (``out``) of a sweep stopped mid-way: ``again`` jobs ran again,
    every configuration (``key``'s ``values``) is there exactly once under the same parent,
    FINISHED; the stopped job went on in its own run, none of its epochs twice or missing;
    the parent is FINISHED with the summary of every job."""
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert f"{again} job(s) to run again" in out.stderr
    n = len(values)
    assert f"sweep of {n} jobs: {n} FINISHED" in out.stdout
    assert "tracking.uri" not in out.stdout  # the jobs' overrides are the sweep's, nothing added
    resumed_parent, children = sweep_runs(db)
    assert resumed_parent.info.run_id == parent.info.run_id
    assert sorted(r.data.params[key] for r in children) == sorted(values)
    assert {r.info.status for r in children} == {"FINISHED"}
    client = store_client(db)
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["nnexp.resumed"] == "1"
    # 3000 epochs in at most 1000 points: every 3rd epoch, across the stop, none twice
    assert [m.step for m in client.get_metric_history(killed.info.run_id, "loss")] == list(range(3, 3001, 3))
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["nnexp.resumed"] == "1"
    assert parent.data.tags["nnexp.jobs"] == str(n) and parent.data.tags["nnexp.failed_jobs"] == "0"
    table = client.download_artifacts(parent.info.run_id, "sweep.csv", str(Path(db).parent))
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["run_id"], r["run_name"]) for r in rows) == \
        sorted((r.info.run_id, r.info.run_name) for r in children)
    assert {r["status"] for r in rows} == {"FINISHED"}


def check_nothing_to_resume(run_nnexp, parent, n: int) -> None:
    """A second ``nnexp resume`` of the finished sweep: one line, exit 2."""
    done = run_nnexp("resume", parent.info.run_id)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"all {n} jobs FINISHED; there is nothing to resume" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
