"""A network logged as an MLflow model: loaded by MLflow's own tools, never unpickled, and
predicting exactly what ``Network.predict`` does. Real SQLite store, real ``mlflow`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

import nnexp
from nnexp.tracking import ensure_experiment
from nnexp.tracking.model import log_model

MLFLOW = Path(sys.executable).with_name("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store, its experiment and a client; MLflow's loaders resolve runs:/ URIs through the
    global tracking URI (as `mlflow models predict` does through MLFLOW_TRACKING_URI)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp = ensure_experiment(uri, "models")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri, exp, MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def _spirals_net(activation="tanh"):
    data = nnexp.get_registry().create("dataset", {"type": "spirals", "n": 200})
    net = nnexp.Network.mlp(2, [16], 2, activation=activation, output_activation="softmax", seed=3)
    nnexp.fit(net, data.X_train, data.y_train, loss="cross_entropy", optimizer="adam", epochs=3)
    return net, data


def test_pyfunc_predictions_equal_network_predict_exactly(store):
    uri, exp, mc = store
    net, data = _spirals_net()
    run_id = mc.create_run(exp).info.run_id
    logged = log_model(uri, run_id, net, data.X_train)
    expected = net.predict(data.X_test)
    for model_uri in (f"runs:/{run_id}/model", logged.run_uri, logged.model_uri):
        got = mlflow.pyfunc.load_model(model_uri).predict(data.X_test)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), model_uri
    # The run shows the model (the runs table's Model column), READY.
    (output,) = mc.get_run(run_id).outputs.model_outputs
    assert output.model_id == logged.model_id
    assert str(mc.get_logged_model(logged.model_id).status) in ("READY", "LoggedModelStatus.READY")


def test_the_model_holds_the_networks_npz_signature_and_example_and_no_pickle(store, tmp_path):
    uri, exp, mc = store
    net, data = _spirals_net()
    run_id = mc.create_run(exp).info.run_id
    log_model(uri, run_id, net, data.X_train)
    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp_path / "dl")))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert "artifacts/network.npz" in files and "model_code.py" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))]
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert "python_model" not in mlmodel["flavors"]["python_function"]  # models from code
    inputs = json.loads(mlmodel["signature"]["inputs"])[0]["tensor-spec"]
    outputs = json.loads(mlmodel["signature"]["outputs"])[0]["tensor-spec"]
    assert inputs == {"dtype": "float64", "shape": [-1, 2]}
    assert outputs == {"dtype": "float32", "shape": [-1, 2]}
    assert mlmodel["saved_input_example_info"]["type"] == "ndarray"
    np.testing.assert_array_equal(nnexp.Network.load(local / "artifacts/network.npz").predict(data.X_test),
                                  net.predict(data.X_test))
    reqs = (local / "requirements.txt").read_text().split()
    assert f"nnexp=={metadata.version('nnexp')}" in reqs


def test_a_plugin_layer_adds_its_distribution_to_the_requirements(store, tmp_path):
    uri, exp, mc = store
    net, data = _spirals_net(activation="mish")  # from the nnexp-extras package
    run_id = mc.create_run(exp).info.run_id
    logged = log_model(uri, run_id, net, data.X_train)
    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path / "dl")))
    assert f"nnexp-extras=={metadata.version('nnexp-extras')}" in (local / "requirements.txt").read_text()
    assert np.array_equal(mlflow.pyfunc.load_model(logged.run_uri).predict(data.X_val), net.predict(data.X_val))


def test_registering_by_name_adds_a_version_each_time(store):
    uri, exp, mc = store
    first, data = _spirals_net()
    second = nnexp.Network.mlp(2, [16], 2, activation="tanh", output_activation="softmax", seed=9)
    runs = [mc.create_run(exp).info.run_id for _ in range(2)]
    v1 = log_model(uri, runs[0], first, data.X_train, registered_model_name="spirals-net")
    v2 = log_model(uri, runs[1], second, data.X_train, registered_model_name="spirals-net")
    assert (v1.registered_version, v2.registered_version) == ("1", "2")
    versions = {str(v.version): v for v in mc.search_model_versions("name='spirals-net'")}
    assert versions["1"].run_id == runs[0] and versions["2"].run_id == runs[1]
    for version, net in (("1", first), ("2", second)):
        got = mlflow.pyfunc.load_model(f"models:/spirals-net/{version}").predict(data.X_test)
        assert np.array_equal(got, net.predict(data.X_test))


def test_an_example_of_the_wrong_width_is_refused_before_anything_is_written(store):
    uri, exp, mc = store
    net, _ = _spirals_net()
    run_id = mc.create_run(exp).info.run_id
    with pytest.raises(nnexp.ShapeError, match=r"expects input of shape \(batch, 2\)"):
        log_model(uri, run_id, net, np.zeros((4, 3)))
    assert mc.search_logged_models(experiment_ids=[exp]) == []


def test_mlflow_models_predict_cli_runs_the_model_on_a_csv(store, tmp_path):
    uri, exp, mc = store
    net, data = _spirals_net()
    run_id = mc.create_run(exp).info.run_id
    log_model(uri, run_id, net, data.X_train)
    X = data.X_test[:7]
    (tmp_path / "x.csv").write_text("a,b\n" + "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in X) + "\n")
    out = subprocess.run(
        [str(MLFLOW), "models", "predict", "-m", f"runs:/{run_id}/model", "-i", str(tmp_path / "x.csv"),
         "-t", "csv", "--env-manager", "local", "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert out.returncode == 0, out.stderr[-3000:]
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert np.array_equal(np.asarray(predictions, dtype=np.float32), net.predict(X))
