"""What MLflow's own tools find of an ``nnexp`` run (issue 13): its network as a pyfunc model
(loaded and served by MLflow, registered by name), its datasets, MLflow's context tags, the
experiment's kind, params as typed with the tracking settings as tags, and a sweep's summary
as its parent's description. Everything goes through the real ``nnexp`` console script into a
SQLite store in ``tmp_path``, and is read back through ``MlflowClient`` and the ``mlflow`` CLI."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST, NNEXP, store_client, store_runs

import nnexp

MLFLOW = Path(sys.executable).with_name("mlflow")
SPIRALS = ["+experiment=spirals", "trainer.epochs=3", *FAST]


def _git(cwd, *args) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


@pytest.fixture(scope="module")
def spirals_run(tmp_path_factory):
    """One tracked spirals run, launched from a git work tree, its model registered."""
    project = tmp_path_factory.mktemp("project")
    _git(project, "init", "-q")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "first")
    from conftest import run_nnexp

    out = run_nnexp([*SPIRALS, "tracking.register_model=spirals-net"], project, timeout=300)
    assert out.returncode == 0, out.stderr
    (run,) = store_runs(project / "mlflow.db")
    return project, run, out


@pytest.fixture
def global_uri(spirals_run, monkeypatch):
    """MLflow's loaders resolve ``runs:/`` and ``models:/`` through the global tracking URI."""
    import mlflow

    uri = f"sqlite:///{spirals_run[0] / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def _dataset_of(run):
    """The run's dataset, rebuilt from the config its MLflow dataset source names."""
    (first, *_) = run.inputs.dataset_inputs
    spec = json.loads(json.loads(first.dataset.source)["tags"]["nnexp.dataset"])
    return nnexp.get_registry().create("dataset", spec)


def _network_and_data(project: Path, run):
    """The run's network as nnexp saved it (its ``model.npz`` artifact), and its data."""
    client = store_client(project / "mlflow.db")
    local = client.download_artifacts(run.info.run_id, "model.npz", str(project / "dl"))
    return nnexp.Network.load(local), _dataset_of(client.get_run(run.info.run_id))


def test_the_run_logs_its_network_as_a_pyfunc_model_predicting_exactly_as_nnexp(spirals_run, global_uri):
    import mlflow

    project, run, _ = spirals_run
    client = store_client(project / "mlflow.db")
    network, data = _network_and_data(project, run)
    X = np.concatenate([data.X_test, data.X_train]).astype(np.float64)
    expected = network.predict(X)
    (output,) = client.get_run(run.info.run_id).outputs.model_outputs  # the runs table's Model column
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{output.model_id}", "models:/spirals-net/1"):
        got = mlflow.pyfunc.load_model(uri).predict(X)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), uri
    (version,) = client.search_model_versions("name='spirals-net'")
    assert version.run_id == run.info.run_id and str(version.version) == "1"
    model = client.get_logged_model(output.model_id)
    assert "READY" in str(model.status) and model.source_run_id == run.info.run_id
    mlmodel = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model/MLmodel",
                                                       dst_path=str(project / "mlmodel")))
    text = mlmodel.read_text()
    assert "signature:" in text and "saved_input_example_info" in text and "network" in text


def test_mlflow_models_predict_serves_the_runs_model_on_a_csv(spirals_run, tmp_path):
    project, run, _ = spirals_run
    network, data = _network_and_data(project, run)
    X = data.X_test[:9]
    (tmp_path / "x.csv").write_text("x0,x1\n" + "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in X) + "\n")
    out = subprocess.run(
        [str(MLFLOW), "models", "predict", "-m", f"runs:/{run.info.run_id}/model", "-i",
         str(tmp_path / "x.csv"), "-t", "csv", "--env-manager", "local", "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"})
    assert out.returncode == 0, out.stderr[-3000:]
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert np.array_equal(np.asarray(predictions, dtype=network.predict(X).dtype), network.predict(X))


def test_the_runs_datasets_context_tags_and_experiment_kind_read_through_the_client(spirals_run):
    project, run, _ = spirals_run
    client = store_client(project / "mlflow.db")
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    full = client.get_run(run.info.run_id)
    inputs = {i.tags[0].value: i.dataset for i in full.inputs.dataset_inputs
              if i.tags and i.tags[0].key == "mlflow.data.context"}
    assert sorted(inputs) == ["test", "train", "validation"]
    data = _dataset_of(full)  # the source's config rebuilds the very data: same digests
    import mlflow.data

    for context, X, y in (("train", data.X_train, data.y_train), ("validation", data.X_val, data.y_val),
                          ("test", data.X_test, data.y_test)):
        assert mlflow.data.from_numpy(X, targets=y).digest == inputs[context].digest
    for context, X in (("train", data.X_train), ("validation", data.X_val), ("test", data.X_test)):
        ds = inputs[context]
        assert ds.name == f"spirals-{context}" and len(ds.digest) == 8
        assert json.loads(ds.profile)["features_shape"] == list(X.shape)
        schema = json.loads(json.loads(ds.schema)["mlflow_tensorspec"]["features"])
        assert schema[0]["tensor-spec"]["shape"] == [-1, 2]
        assert ds.source_type == "code"
        assert json.loads(json.loads(ds.source)["tags"]["nnexp.dataset"])["type"] == "spirals"
    assert len({d.digest for d in inputs.values()}) == 3
    tags = full.data.tags
    assert tags["mlflow.user"] == getpass.getuser()
    assert tags["mlflow.source.name"] == str(NNEXP)  # the script the user launched, not the sender's
    assert tags["mlflow.source.type"] == "LOCAL"
    # MLflow's git resolver names the script's work tree; a script outside one (or ignored in
    # it, as a .venv is) leaves it to the launch directory's.
    script_commit = _git(NNEXP.parent, "rev-parse", "HEAD")
    ignored = bool(_git(NNEXP.parent, "check-ignore", str(NNEXP)))
    launch_commit = _git(project, "rev-parse", "HEAD")
    expected = launch_commit if not script_commit or ignored else script_commit
    assert tags["mlflow.source.git.commit"] == expected


def test_params_are_as_typed_and_tracking_settings_are_tags(spirals_run):
    _, run, _ = spirals_run
    params, tags = run.data.params, run.data.tags
    assert not [k for k in params if k.startswith("tracking.") or k == "optimized_metric"]
    assert params["schedule"] == "null" and params["trainer.shuffle"] == "true"
    assert params["model.hidden"] == "[64, 64]" and params["optimizer.lr"] == "0.01"
    assert not {"None", "True", "False"} & set(params.values())
    assert tags["nnexp.tracking.register_model"] == "spirals-net"
    assert tags["nnexp.tracking.plot"] == "false" and tags["nnexp.tracking.save_model"] == "true"
    assert tags["nnexp.optimized_metric"] == "null"


def test_a_sweep_logs_only_its_best_jobs_model_and_summarises_in_its_description(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", "+experiment=xor", "trainer.epochs=2", "seed=0,1,2", *FAST)
    assert out.returncode == 0, out.stderr
    runs = store_runs(tmp_path / "mlflow.db")
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    tags = parent.data.tags
    best = tags["nnexp.best.run_id"]
    note = tags["mlflow.note.content"]
    assert note.startswith("**Sweep: 3 job(s), 3 finished, 0 failed.** Status: FINISHED.")
    assert "Best by " in note and f"runs:/{best}/model" in note
    assert tags["nnexp.best.model_uri"] == f"runs:/{best}/model"
    assert tags["mlflow.source.name"] == str(NNEXP)
    client = store_client(tmp_path / "mlflow.db")
    (model,) = client.search_logged_models(experiment_ids=[parent.info.experiment_id])
    assert model.source_run_id == best  # the jobs log none (a model costs more than a small job)
    for child in children:
        outputs = client.get_run(child.info.run_id).outputs
        assert [o.model_id for o in (outputs.model_outputs if outputs else [])] == \
            ([model.model_id] if child.info.run_id == best else [])
        assert "train" in {i.tags[0].value for i in child.inputs.dataset_inputs}


def test_a_registered_name_must_be_a_name(nnexp_cli, tmp_path):
    out = nnexp_cli("+experiment=xor", "trainer.epochs=1", "tracking.register_model=' '", *FAST)
    assert out.returncode == 2, out.stderr
    assert "tracking.register_model" in out.stderr


def test_a_records_model_is_logged_once_and_only_where_it_is_wanted(spirals_run):
    from nnexp.record import Record
    from nnexp.tracking.runs import log_run_model, wants_model

    project, run, _ = spirals_run
    record = Record(run.data.tags["nnexp.record"])
    client = store_client(project / "mlflow.db")
    (output,) = client.get_run(run.info.run_id).outputs.model_outputs
    # Its end sent again (final metrics after the end, `nnexp sync`): the same model, no new one.
    assert log_run_model(record, record.meta(), run.info.run_id) == output.model_id
    assert len(client.search_logged_models(experiment_ids=[run.info.experiment_id])) == 1
    assert len(client.search_model_versions("name='spirals-net'")) == 1
    settings = {"save_model": True, "register_model": None}
    assert wants_model({"settings": settings})
    assert not wants_model({"settings": settings, "parent_key": "/sweep"})
    assert not wants_model({"settings": {**settings, "save_model": False}})
    assert wants_model({"settings": {**settings, "register_model": "m"}, "parent_run_id": "p"})
