"""A real `mlflow server` on 127.0.0.1 receives a tracked run over HTTP."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from nnexp import tracking
from tracking_helpers import free_port, tracked_fit, wait_healthy


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": ""}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, proc.stdout.read, timeout=90)
        yield url
    finally:
        stop(proc)


def stop(proc) -> None:
    """End the server and the uvicorn worker it spawned: its own process group."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_run_is_tracked_over_http(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a remote store's records go to the working directory
    exp = tracking.ensure_experiment(server, "over-http")
    assert tracking.ensure_experiment(server, "over-http") == exp
    tracker, error, last = tracked_fit(server, exp, run_name="remote", epochs=2)
    assert error is None
    tracker.log_final({"test_loss": 0.5})
    mc = MlflowClient(server)
    run = mc.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["test_loss"] == 0.5
    assert run.data.metrics["loss"] == pytest.approx(last["loss"])
    assert [m.step for m in mc.get_metric_history(tracker.run_id, "loss")] == [1, 2]
    steps = np.loadtxt(mc.download_artifacts(tracker.run_id, "stats/steps.csv", str(tmp_path)),
                       delimiter=",", skiprows=1)
    assert len(steps) == 12  # 48 samples / batch 8, two epochs
    assert {a.path for a in mc.list_artifacts(tracker.run_id)} >= {"config.yaml", "model.npz", "stats"}
    assert tracker.record.path.parent == tmp_path / "nnexp-records" and tracker.record.exists()
