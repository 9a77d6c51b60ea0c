"""What MLflow's tools read from an nnexp experiment and run: the experiment kind, the
standard context tags, the datasets of each split, params as typed and tracking settings as
tags. Each test writes to a real SQLite store and reads back through ``MlflowClient``."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from conftest import run_nnexp
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from nnexp.plugins import get_registry
from nnexp.tracking import ensure_experiment
from nnexp.tracking.context import (
    EXPERIMENT_KIND,
    MODEL_TRAINING,
    dataset_inputs,
    experiment_tags,
    log_datasets,
    mark_model_training,
)
from nnexp.tracking.params import params_and_tags


@pytest.fixture
def client(tmp_path) -> MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_experiment(uri, "setup")  # creates the schema once
    return MlflowClient(tracking_uri=uri)


def test_a_new_experiment_opens_in_the_model_training_view(client):
    exp = client.create_experiment("spirals", tags=experiment_tags())
    assert client.get_experiment(exp).tags[EXPERIMENT_KIND] == "custom_model_development"


def test_an_untagged_experiment_is_marked_and_a_users_kind_is_kept(client):
    old = client.create_experiment("made-by-nnexp-0.1")
    genai = client.create_experiment("a users", tags={EXPERIMENT_KIND: "genai_development"})
    assert mark_model_training(client, old) is True
    assert mark_model_training(client, old) is False  # already marked: nothing to do
    assert mark_model_training(client, genai) is False
    assert client.get_experiment(old).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    assert client.get_experiment(genai).tags[EXPERIMENT_KIND] == "genai_development"


def _git_repo(path):
    path.mkdir()
    for cmd in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                  "--allow-empty", "-m", "first"]):
        subprocess.run(["git", *cmd], cwd=path, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                          text=True).stdout.strip()


def _context_tags_of_script(script, launch_dir) -> dict:
    """context_tags() as resolved in a process launched as ``script`` (its sys.argv[0])."""
    script.write_text(textwrap.dedent(f"""
        import json
        from nnexp.tracking.context import context_tags
        print(json.dumps(context_tags({str(launch_dir)!r})))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_a_run_gets_mlflows_user_source_and_git_commit_tags(client, tmp_path):
    project_commit = _git_repo(tmp_path / "project")
    elsewhere = tmp_path / "venv-bin"
    elsewhere.mkdir()
    # The script outside any repository: the commit comes from the launch directory.
    tags = _context_tags_of_script(elsewhere / "nnexp", tmp_path / "project")
    run = client.create_run(client.create_experiment("ctx"), tags=tags)
    got = client.get_run(run.info.run_id).data.tags
    assert got["mlflow.user"] == getpass.getuser()
    assert got["mlflow.source.type"] == "LOCAL"
    assert got["mlflow.source.name"] == str(elsewhere / "nnexp")
    assert got["mlflow.source.git.commit"] == project_commit
    # A script inside a work tree: MLflow's own git resolver names that tree's commit.
    tool_commit = _git_repo(tmp_path / "tool")
    inside = _context_tags_of_script(tmp_path / "tool" / "nnexp", tmp_path / "project")
    assert inside["mlflow.source.git.commit"] == tool_commit
    # Neither in a repository: no commit tag rather than a wrong one.
    assert "mlflow.source.git.commit" not in _context_tags_of_script(elsewhere / "x", elsewhere)


def _spirals():
    spec = {"type": "spirals", "n": 200, "seed": 3, "val_fraction": 0.2, "test_fraction": 0.25}
    return get_registry().create("dataset", spec), spec


def test_each_split_is_a_dataset_input_with_its_context_digest_and_schema(client):
    dataset, spec = _spirals()
    run_id = client.create_run(client.create_experiment("data")).info.run_id
    logged = log_datasets(client, run_id, dataset, spec)
    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == len(logged) == 3
    by_context = {i.tags[0].value: i.dataset for i in inputs if i.tags[0].key == "mlflow.data.context"}
    assert sorted(by_context) == ["test", "train", "validation"]
    assert by_context["train"].name == "spirals-train"
    assert len({d.digest for d in by_context.values()}) == 3  # the splits differ, so do digests
    for context, X in (("train", dataset.X_train), ("validation", dataset.X_val), ("test", dataset.X_test)):
        profile = json.loads(by_context[context].profile)
        assert profile["features_shape"] == list(X.shape)
        schema = json.loads(json.loads(by_context[context].schema)["mlflow_tensorspec"]["features"])
        assert schema[0]["tensor-spec"]["shape"] == [-1, dataset.n_features]
    source = json.loads(by_context["train"].source)
    assert by_context["train"].source_type == "code"
    assert json.loads(source["tags"]["nnexp.dataset"]) == spec  # the config that rebuilds it


def test_the_digest_follows_the_data(client):
    dataset, spec = _spirals()
    again = dataset_inputs(_spirals()[0], spec)
    assert [d.dataset.digest for d in dataset_inputs(dataset, spec)] == [d.dataset.digest for d in again]
    dataset.X_train = dataset.X_train + 1e-3
    assert dataset_inputs(dataset, spec)[0].dataset.digest != again[0].dataset.digest


def test_a_csv_dataset_names_its_file_as_source_and_empty_splits_are_left_out(client, tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{'yes' if x > y else 'no'}" for x, y in rng.normal(size=(40, 2))]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    spec = {"type": "csv", "path": str(tmp_path / "d.csv"), "target": "label", "test_fraction": 0.0}
    dataset = get_registry().create("dataset", spec)
    inputs = dataset_inputs(dataset, spec)
    assert [i.tags[0].value for i in inputs] == ["train", "validation"]
    assert inputs[0].dataset.source_type == "local"
    assert str(tmp_path / "d.csv") in inputs[0].dataset.source


@pytest.fixture(scope="module")
def spirals_config(tmp_path_factory):
    """The composed, resolved config of ``nnexp +experiment=spirals``, from the real CLI."""
    out = run_nnexp(["--cfg", "job", "--resolve", "+experiment=spirals"],
                    tmp_path_factory.mktemp("cfg"), timeout=120)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_a_run_gets_params_as_typed_and_tracking_settings_as_tags(client, spirals_config):
    params, tags = params_and_tags(spirals_config)
    run_id = client.create_run(client.create_experiment("params"), tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    data = client.get_run(run_id).data
    assert data.params["schedule"] == "null" and data.params["model.batchnorm"] == "false"
    assert data.params["optimizer.lr"] == "0.01" and data.params["model.hidden"] == "[64, 64]"
    assert data.params["optimizer.betas"] == "[0.9, 0.999]" and data.params["trainer.shuffle"] == "true"
    assert not {v for v in data.params.values()} & {"None", "True", "False"}
    assert not [k for k in data.params if k.startswith("tracking.") or k == "optimized_metric"]
    assert data.tags["nnexp.optimized_metric"] == "null"
    settings = {k.removeprefix("nnexp.tracking."): _as_override(k, v)
                for k, v in data.tags.items() if k.startswith("nnexp.tracking.")}
    assert settings == spirals_config["tracking"] and len(settings) >= 16
    for key, value in data.params.items():  # each param, typed on the command line, is the config's
        node = spirals_config
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert _as_override(key, value) == node, key


def _as_override(key: str, value: str):
    """What Hydra makes of ``key=value`` typed on the command line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(f"{key}={value}").value()
