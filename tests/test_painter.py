"""The sender's picture workers (nnexp.tracking.painter): a run's pictures are drawn beside
the sender, split between workers, all in MLflow when the command returns; a worker never
outlives its sender."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from PIL import Image

from conftest import store_client, store_runs
from nnexp.plots.run import PICTURES
from nnexp.tracking.painter import GROUPS, Painter, draw_record


def test_the_groups_name_every_picture_once():
    names = [name for group in GROUPS for name in group]
    assert sorted(names) == sorted(PICTURES) and len(set(names)) == len(names)


def test_every_job_of_a_sweep_has_its_pictures_in_mlflow_when_the_command_returns(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", "+experiment=xor", "trainer.epochs=20", "seed=0,1,2")
    assert out.returncode == 0, out.stderr
    client = store_client(tmp_path / "mlflow.db")
    children = [r for r in store_runs(tmp_path / "mlflow.db") if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    for run in children:
        assert run.info.status == "FINISHED"
        plots = sorted(a.path for a in client.list_artifacts(run.info.run_id, "plots"))
        assert plots == sorted(f"plots/{name}" for name in PICTURES), plots
        for name in PICTURES:  # each a whole PNG, as drawn
            with Image.open(client.download_artifacts(run.info.run_id, f"plots/{name}", str(tmp_path))) as png:
                png.verify()
        assert run.data.tags["nnexp.sync"] == "done"


def test_a_group_draws_only_its_pictures_and_the_pool_draws_them_all(nnexp_cli, tmp_path):
    out = nnexp_cli("+experiment=xor", "trainer.epochs=5", "tracking.plot=false")
    assert out.returncode == 0, out.stderr
    (record,) = (tmp_path / "nnexp-records").iterdir()
    assert not (record / "artifacts" / "plots").exists()
    group = GROUPS[0]
    assert sorted(p.name for p in draw_record(record, "xor", only=group)) == sorted(group)
    painter = Painter(workers=2)
    try:
        from nnexp.record import Record

        drawn = [p.name for future in painter.draw(Record(record), "xor") for p in future.result(120)]
    finally:
        painter.close(wait=True)
    assert sorted(drawn) == sorted(PICTURES)
    assert sorted(p.name for p in (record / "artifacts" / "plots").iterdir()) == sorted(PICTURES)


KILLED_SENDER = """
import os, sys, time
from nnexp.tracking.painter import Painter
painter = Painter(workers=2)
painter.warm()
time.sleep(0.5)
print(" ".join(str(p) for p in painter._pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_workers_of_a_killed_sender_exit():
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SENDER], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "a picture worker outlived its sender"
