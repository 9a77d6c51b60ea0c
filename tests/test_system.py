"""System tests with real parts (``-m system``): PostgreSQL + ``mlflow server`` started by
scripts/server.sh, a local Ray cluster started by scripts/ray_cluster.sh, 4-job sweeps into
the server through the joblib and Ray launchers, every value read back with MlflowClient.

They need ``nnexp[server,ray,slurm]`` and Debian's postgresql (server.sh installs it as root):
without them they are skipped, unless NNEXP_SYSTEM=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import FAST, need, run_nnexp
from resume_helpers import XOR_3000, check_nothing_to_resume, check_resumed, stop_mid_way, stopped
from tracking_helpers import free_port

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[1]
XOR = ["+experiment=xor", "trainer.epochs=2", *FAST]


def script(name: str, action: str, env: dict, timeout: float = 600) -> str:
    """Run scripts/NAME start|stop|status with ``env``; its stdout (fails with its stderr)."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / name), action], capture_output=True,
                         text=True, timeout=timeout, env={**os.environ, "NNEXP_VENV": sys.prefix, **env})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def server():
    """scripts/server.sh on free ports, in a directory the postgres user can reach."""
    need("psycopg", "server")
    home = Path(tempfile.mkdtemp(prefix="nnexp-server-", dir="/tmp"))
    home.chmod(0o755)
    env = {"NNEXP_SERVER_DIR": str(home), "NNEXP_MLFLOW_PORT": str(free_port()),
           "NNEXP_PG_PORT": str(free_port())}
    try:
        out = script("server.sh", "start", env)
        uri = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("tracking.uri="))
        yield {"uri": uri, "home": home, "env": env}
    finally:
        try:
            script("server.sh", "stop", env)
            assert "mlflow server: stopped" in script("server.sh", "status", env)
        finally:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_address():
    need("hydra_plugins.hydra_ray_launcher", "ray")
    env = {"NNEXP_RAY_PORT": str(free_port()), "NNEXP_RAY_CPUS": "2"}
    try:
        out = script("ray_cluster.sh", "start", env)
        yield next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("export RAY_ADDRESS="))
    finally:
        script("ray_cluster.sh", "stop", env)


def check_sweep(server, launch_dir: Path, out, experiment: str) -> None:
    """Everything the sweep printed and wrote, as the server holds it."""
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "sweep of 4 jobs: 4 FINISHED" in out.stdout
    mc = MlflowClient(server["uri"])
    exp = mc.get_experiment_by_name(experiment)
    runs = mc.search_runs([exp.experiment_id], max_results=100)
    [parent] = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert parent.info.status == "FINISHED" and parent.info.run_id in out.stdout
    assert parent.data.tags["nnexp.jobs"] == "4" and parent.data.tags["nnexp.failed_jobs"] == "0"
    assert {"sweep.csv", "summary.txt"} <= {a.path for a in mc.list_artifacts(parent.info.run_id)}
    [state] = launch_dir.glob("multirun/*/*/nnexp_sweep.json")
    results = {int(p.stem): json.loads(p.read_text()) for p in state.parent.glob("nnexp_jobs/*.json")}
    assert sorted(results) == [0, 1, 2, 3]
    for child in children:
        result = results[int(child.data.tags["nnexp.job"])]
        assert child.info.run_id == result["run_id"] and child.info.status == "FINISHED"
        assert child.data.params["seed"] == result["params"]["seed"]
        assert f"seed={child.data.params['seed']}" in child.data.tags["nnexp.overrides"]
        for key in ("loss", "val_loss", "test_loss", "test_accuracy"):
            assert child.data.metrics[key] == pytest.approx(result["metrics"][key])
        assert [m.step for m in mc.get_metric_history(child.info.run_id, "loss")] == [1, 2]
        model = mc.download_artifacts(child.info.run_id, "model.npz", str(launch_dir))
        assert set(np.load(model).files) >= {"dense_0.W", "dense_0.b"}
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1", "2", "3"]
    stored = list((server["home"] / "artifacts").rglob("model.npz"))  # proxied to the server's disk
    assert len([p for p in stored if exp.experiment_id in p.parts]) == 4


def runs_in_postgres(server) -> int:
    import psycopg

    password = (server["home"] / "password").read_text().strip()
    with psycopg.connect(host="127.0.0.1", port=int(server["env"]["NNEXP_PG_PORT"]),
                         user="nnexp", password=password, dbname="mlflow") as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_joblib_sweep_into_the_postgresql_server(server, tmp_path):
    before = runs_in_postgres(server)
    out = run_nnexp(["-m", *XOR, "seed=0,1,2,3", "tracking.experiment=sys-joblib",
                     "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], tmp_path, timeout=600,
                    env={"MLFLOW_TRACKING_URI": server["uri"]})
    check_sweep(server, tmp_path, out, "sys-joblib")
    assert runs_in_postgres(server) == before + 5
    assert not (tmp_path / "mlflow.db").exists()  # MLFLOW_TRACKING_URI was the store


def test_a_ray_sweep_into_the_postgresql_server(server, ray_address, tmp_path):
    out = run_nnexp(["-m", *XOR, "seed=0,1,2,3", "tracking.experiment=sys-ray",
                     f"tracking.uri={server['uri']}", "hydra/launcher=ray_cluster"], tmp_path,
                    timeout=600, env={"RAY_ADDRESS": ray_address})
    check_sweep(server, tmp_path, out, "sys-ray")
    assert "Ray is launching 4 jobs" in out.stderr


def test_a_ray_sweep_stopped_mid_way_resumes_its_unfinished_jobs_on_ray(ray_address, tmp_path, nnexp_cli):
    # a job takes both CPUs of the cluster, so they run one at a time: two finish, the third
    # is stopped mid-training, the fourth never starts (Ray picks the order)
    env = {"RAY_ADDRESS": ray_address}
    sweep = stop_mid_way(["-m", *XOR_3000, "seed=0,1,2,3", *FAST, "hydra/launcher=ray_cluster",
                  "hydra.launcher.ray.remote.num_cpus=2"], tmp_path, finished=2, env=env)
    parent, killed = stopped(tmp_path / "mlflow.db", finished=2, sweep=sweep)
    # as on a cluster of several machines, the stopped job's record is not where it runs again:
    # it goes on from the checkpoint in its run's artifacts
    shutil.move(killed.data.tags["nnexp.record"], tmp_path / "on-another-node")
    out = nnexp_cli("resume", parent.info.run_id, env=env, timeout=600)
    check_resumed(tmp_path / "mlflow.db", parent, killed, out, "seed", ["0", "1", "2", "3"], again=2)
    # on Ray again: its launcher launched them, and Ray's worker went on from the checkpoint
    assert "Ray is launching 2 jobs" in out.stderr, out.stderr
    assert re.search(r"\(_run_job pid=\d+\).*from epoch \d+ \(resumed\)", out.stderr), out.stderr
    check_nothing_to_resume(nnexp_cli, parent, 4)


def test_the_server_script_refuses_an_unknown_action():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "server.sh"), "restart"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "usage: bash scripts/server.sh start|stop|status|install" in out.stderr


def mlflow_down(server) -> None:
    """Kill the tracking server (its whole process group; PostgreSQL stays up)."""
    import signal

    pid = int((server["home"] / "mlflow.pid").read_text())
    os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_a_server_outage_mid_sweep_loses_nothing(server, tmp_path):
    from conftest import Watched

    sweep = Watched(["-m", "+experiment=xor", "trainer.epochs=300", "seed=0,1,2,3", *FAST,
                     f"tracking.uri={server['uri']}", "tracking.experiment=sys-outage",
                     "tracking.flush_every_s=0.2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                    tmp_path)
    mc = MlflowClient(server["uri"])
    deadline = time.monotonic() + 300
    while not (mc.get_experiment_by_name("sys-outage") and
               any(r.data.metrics for r in mc.search_runs(
                   [mc.get_experiment_by_name("sys-outage").experiment_id]))):
        assert sweep.proc.poll() is None and time.monotonic() < deadline, sweep.stderr
        time.sleep(0.2)
    mlflow_down(server)  # mid-sweep: runs are training, one has sent some epochs
    time.sleep(4)
    script("server.sh", "start", server["env"])  # back (PostgreSQL kept everything)
    assert sweep.proc.wait(600) == 0, sweep.stdout + sweep.stderr
    sweep.stop(0)
    assert "Traceback" not in sweep.stderr, sweep.stderr
    assert sweep.stderr.count("did not answer") == 1, sweep.stderr  # one line, not one per call
    assert "answers again" in sweep.stderr
    exp = mc.get_experiment_by_name("sys-outage")
    runs = mc.search_runs([exp.experiment_id], max_results=100)
    assert len(runs) == 5 and {r.info.status for r in runs} == {"FINISHED"}  # nothing RUNNING
    for child in (r for r in runs if r.data.tags.get("mlflow.parentRunId")):
        steps = [m.step for m in mc.get_metric_history(child.info.run_id, "loss")]
        assert steps == list(range(1, 301))  # every epoch's value, none twice
        assert "stats/steps.parquet" in [a.path for a in mc.list_artifacts(child.info.run_id, "stats")]
        assert "test_loss" in child.data.metrics


def test_a_run_ended_while_the_server_was_down_is_sent_by_nnexp_sync(server, tmp_path):
    import signal

    from conftest import Watched, sender_of

    run = Watched(["+experiment=xor", "trainer.epochs=20000", *FAST, f"tracking.uri={server['uri']}",
                   "tracking.experiment=sys-sync", "tracking.flush_every_s=0.2",
                   "tracking.finish_wait_s=3"], tmp_path)
    mc = MlflowClient(server["uri"])
    deadline = time.monotonic() + 300
    while not (mc.get_experiment_by_name("sys-sync") and
               mc.search_runs([mc.get_experiment_by_name("sys-sync").experiment_id])):
        assert run.proc.poll() is None and time.monotonic() < deadline, run.stderr
        time.sleep(0.2)
    sender = sender_of(run.proc.pid)
    mlflow_down(server)
    assert run.proc.wait(600) == 0, run.stderr  # it trained on and finished
    os.kill(sender, signal.SIGKILL)  # as if the machine went down before the server came back
    run.stop(0)
    assert "nnexp sync" in run.stderr, run.stderr
    script("server.sh", "start", server["env"])
    out = run_nnexp(["sync", "--uri", server["uri"], "--records", str(tmp_path / "nnexp-records")],
                    tmp_path, timeout=300)
    assert out.returncode == 0 and "FINISHED" in out.stdout, out.stdout + out.stderr
    (mlrun,) = mc.search_runs([mc.get_experiment_by_name("sys-sync").experiment_id])
    assert mlrun.info.status == "FINISHED"
    assert len(mc.get_metric_history(mlrun.info.run_id, "loss")) == 1000  # 20000 epochs, 1000 points
    assert "model.npz" in [a.path for a in mc.list_artifacts(mlrun.info.run_id)]
