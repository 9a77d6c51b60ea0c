"""The ``nnexp`` Hydra app through its real console script, against real SQLite stores."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FAST, store_client, store_runs

import nnexp

CONF = Path(nnexp.__file__).with_name("conf")
SHIPPED = ("tutorial", "xor", "spirals", "deep_circles")


def test_single_run_lands_in_a_store_in_the_launch_directory(nnexp_cli, tmp_path):
    launch = tmp_path / "elsewhere"  # not the repository: the installed script must find its configs
    launch.mkdir()
    out = nnexp_cli("+experiment=xor", "trainer.epochs=3", "optimizer.lr=0.2", *FAST, cwd=launch)
    assert out.returncode == 0, out.stderr
    runs = store_runs(launch / "mlflow.db")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.lr"] == "0.2"
    assert run.data.params["model.activation"] == "tanh"
    assert run.data.params["trainer.epochs"] == "3"
    tags = run.data.tags
    assert tags["nnexp.overrides"] == "+experiment=xor trainer.epochs=3 optimizer.lr=0.2 tracking.plot=false"
    assert tags["nnexp.command"].startswith("nnexp +experiment=xor")
    assert tags["nnexp.seed"] == "0" and tags["nnexp.version"] == nnexp.__version__
    assert tags["nnexp.experiment"] == "xor"
    assert run.info.run_name.startswith("xor-") and "lr=0.2" in run.info.run_name
    client = store_client(launch / "mlflow.db")
    assert client.get_experiment(run.info.experiment_id).name == "xor"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2, 3]
    assert "test_accuracy" in run.data.metrics
    assert run.info.run_id in out.stdout


def test_jobs_with_identical_overrides_get_distinct_run_names(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", "+experiment=xor", "trainer.epochs=1", "seed=3,3", *FAST)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = [r for r in store_runs(tmp_path / "mlflow.db") if "nnexp.job" in r.data.tags]
    assert [r.data.params["seed"] for r in runs] == ["3", "3"]
    names = [r.info.run_name for r in runs]
    assert len(set(names)) == 2 and all(n.startswith("xor") for n in names)


def test_relative_sqlite_uri_is_resolved_against_the_launch_directory(nnexp_cli, tmp_path):
    out = nnexp_cli("+experiment=xor", "trainer.epochs=1", "tracking.uri=sqlite:///stores/a.db",
                    "tracking.experiment=mine", *FAST)
    assert out.returncode == 0, out.stderr
    runs = store_runs(tmp_path / "stores" / "a.db")
    assert [r.data.tags["nnexp.experiment"] for r in runs] == ["mine"]


def test_cfg_job_prints_the_composed_experiment_and_runs_nothing(nnexp_cli, tmp_path):
    out = nnexp_cli("--cfg", "job", "+experiment=tutorial")
    assert out.returncode == 0, out.stderr
    cfg = yaml.safe_load(out.stdout)
    assert cfg["model"]["hidden"] == [2] and cfg["model"]["output_activation"] == "sigmoid"
    assert cfg["loss"]["type"] == "half_squared_error"
    assert cfg["optimizer"]["type"] == "sgd" and cfg["optimizer"]["lr"] == 0.5
    assert cfg["dataset"]["type"] == "tutorial"
    assert not (tmp_path / "mlflow.db").exists()


def test_help_lists_groups_with_registry_options_and_shipped_experiments(nnexp_cli):
    out = nnexp_cli("--help")
    assert out.returncode == 0, out.stderr
    groups = dict(line.split(": ", 1) for line in out.stdout.splitlines()
                  if line.split(":")[0] in ("dataset", "loss", "optimizer", "experiment", "model"))
    registry = nnexp.get_registry()
    assert set(groups["optimizer"].split(", ")) == set(registry.names("optimizer"))
    assert set(groups["loss"].split(", ")) == set(registry.names("loss"))
    assert set(SHIPPED) <= set(groups["experiment"].split(", "))
    assert {"mlp", "deep_mlp", "layers"} <= set(groups["model"].split(", "))


def test_help_with_overrides_shows_hydras_composed_config(nnexp_cli):
    out = nnexp_cli("--help", "model=deep_mlp")
    assert out.returncode == 0, out.stderr
    assert "== Config groups" in out.stdout and "init: he_normal" in out.stdout


def test_help_does_not_import_mlflow():
    code = ("import sys, io, contextlib\nfrom nnexp.app import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "heavy = [m for m in ('mlflow', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_shell_completion_suggests_config_keys_and_installs_for_nnexp(nnexp_cli):
    out = nnexp_cli("-sc", "query=bash", env={"COMP_LINE": "nnexp model.acti", "COMP_POINT": "16"})
    assert out.returncode == 0, out.stderr
    assert "model.activation=" in out.stdout.split()
    install = nnexp_cli("-sc", "install=bash")
    assert "complete" in install.stdout and install.stdout.rstrip().endswith("nnexp")


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_experiment_files_are_global_and_show_their_command(name):
    text = (CONF / "experiment" / f"{name}.yaml").read_text()
    assert text.splitlines()[0].strip() == "# @package _global_"
    assert re.search(rf"nnexp (-m )?\+experiment={name}\b", text), "no comment shows the command"


def test_shipped_experiments_each_finish_and_learn(nnexp_cli):
    out = nnexp_cli("-m", f"+experiment={','.join(SHIPPED)}", "tracking=off")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = {line.split()[2]: line for line in out.stdout.splitlines()
             if line.strip().startswith("#") and "+experiment=" in line}
    assert set(lines) == {f"+experiment={e}" for e in SHIPPED}
    assert all(" FINISHED " in line for line in lines.values())
    for name in ("xor", "deep_circles"):
        assert "test_accuracy 1" in lines[f"+experiment={name}"]


def test_tutorial_experiment_is_the_specs_network():
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / "experiment" / "tutorial.yaml")
    registry = nnexp.get_registry()
    ds = registry.create("dataset", "tutorial")
    net = nnexp.Network.mlp(ds.n_features, list(cfg.model.hidden), ds.n_outputs,
                            activation=cfg.model.activation, output_activation=cfg.model.output_activation)
    assert [p.shape for p in net.params.values()] == [(2, 4), (2,), (3, 2), (3,)]
    assert net.types == ["dense", "relu", "dense", "sigmoid"]


def test_installed_plugin_activation_is_usable_by_name(nnexp_cli):
    registry = nnexp.get_registry()
    plugin_acts = [c.name for c in registry.components("activation") if c.provenance.distribution != "nnexp"]
    if not plugin_acts:
        pytest.skip("no third-party activation plugin installed")
    out = nnexp_cli(f"model.activation={plugin_acts[0]}", "trainer.epochs=1", "tracking=off")
    assert out.returncode == 0, out.stderr
    assert "FINISHED" in out.stdout


def test_progress_bar_counts_epochs_and_shows_the_loss():
    import io

    from nnexp.progress import ProgressBar

    registry = nnexp.get_registry()
    ds = registry.create("dataset", "xor")
    stream = io.StringIO()
    net = nnexp.Network.mlp(2, [4], 2, activation="tanh", output_activation="softmax")
    history = nnexp.fit(net, ds.X_train, ds.y_train, loss="cross_entropy", epochs=3, batch_size=4,
                        callbacks=[ProgressBar("xor", enabled=True, stream=stream)])
    text = stream.getvalue()
    assert "xor" in text and "3/3" in text
    assert f"loss={history['loss'][-1]:.4g}" in text


def test_no_progress_bar_when_stderr_is_not_a_terminal(nnexp_cli):
    out = nnexp_cli("+experiment=xor", "tracking=off", "trainer.epochs=3")
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "epoch/s" not in out.stderr and "it/s" not in out.stderr


def test_tracking_schema_matches_the_trackers_settings():
    import dataclasses

    from nnexp.config import TrackingConfig
    from nnexp.record.settings import CALLER_KEYS, DEFAULT_SETTINGS

    fields = {f.name: f for f in dataclasses.fields(TrackingConfig)}
    assert set(fields) == set(CALLER_KEYS) | set(DEFAULT_SETTINGS)
    defaults = TrackingConfig()
    for key, value in DEFAULT_SETTINGS.items():
        assert getattr(defaults, key) == value, key


def test_registry_options_get_typed_schemas_from_factory_signatures():
    from nnexp.config import schema_for

    class Opt:
        def __init__(self, lr: float = 0.1, steps: int | None = None, betas=(0.9, 0.99),
                     name: str = "x", fn=print, **extra):
            pass

    comp = nnexp.Component("optimizer", "opt", Opt, nnexp.Provenance("p", "d", "1"))
    schema = {f.name: f for f in __import__("dataclasses").fields(schema_for("optimizer", comp))}
    assert list(schema) == ["type", "lr", "steps", "betas", "name"]  # fn and **extra: not settable
    assert schema["type"].default == "opt" and schema["lr"].type is float
    assert schema["steps"].type == (int | None) or "Optional[int]" in str(schema["steps"].type)
    assert schema["betas"].default_factory() == [0.9, 0.99]


def test_bad_validation_or_test_data_is_an_error_before_training():
    import numpy as np
    from omegaconf import OmegaConf

    from nnexp.config import NnexpConfig, build_parts
    from nnexp.plugins import load_registry

    def bad_test_split():
        X, y = np.zeros((8, 2)), np.eye(2)[[0, 1] * 4]
        X_test = X.copy()
        X_test[3, 1] = np.nan
        return nnexp.Dataset("bad", X, y, X_val=X, y_val=y, X_test=X_test, y_test=y)

    registry = load_registry(entry_points=False)
    registry.add("dataset", "bad_test", bad_test_split, nnexp.Provenance("t", "local", "0"))
    cfg = OmegaConf.structured(NnexpConfig)
    cfg.dataset, cfg.loss, cfg.optimizer = {"type": "bad_test"}, {"type": "mse"}, {"type": "sgd"}
    cfg.tracking.enabled = False
    with pytest.raises(nnexp.DataError, match="test data X contains 1 NaN/inf value"):
        build_parts(cfg, registry)


def test_a_model_config_without_output_activation_gets_the_losss_auto_choice():
    from omegaconf import OmegaConf

    from nnexp.config import NnexpConfig, build_parts

    cfg = OmegaConf.structured(NnexpConfig)  # what a user's model file leaves unset
    cfg.dataset, cfg.loss, cfg.optimizer = {"type": "moons"}, {"type": "cross_entropy"}, {"type": "adam"}
    cfg.tracking.enabled = False
    assert build_parts(cfg, nnexp.get_registry()).network.types[-1] == "softmax"


def _parts(loss: str, **model):
    from omegaconf import OmegaConf

    from nnexp.config import NnexpConfig, build_parts

    cfg = OmegaConf.structured(NnexpConfig)
    cfg.dataset, cfg.loss, cfg.optimizer = {"type": "xor"}, {"type": loss}, {"type": "adam"}
    for key, value in model.items():
        cfg.model[key] = value
    cfg.tracking.enabled = False
    return build_parts(cfg, nnexp.get_registry())


RAW = [{"type": "dense", "units": 4, "activation": "tanh"}, {"type": "dense", "units": 2}]


@pytest.mark.parametrize("loss, model, head", [
    ("cross_entropy", {"layers": RAW}, "softmax"),            # auto appends what the loss fuses with
    ("cross_entropy", {"layers": RAW, "output_activation": "softmax"}, "softmax"),  # not ignored
    ("cross_entropy", {"layers": [*RAW, "softmax"], "output_activation": "softmax"}, "softmax"),
    ("binary_cross_entropy", {"layers": RAW}, "sigmoid"),
    ("mse", {"layers": RAW}, "dense"),                       # a raw output fits mse
    ("mse", {"layers": RAW, "output_activation": "sigmoid"}, "sigmoid"),
    ("mse", {"output_activation": "identity"}, "dense"),
])
def test_a_layer_list_gets_model_output_activation_as_the_mlp_does(loss, model, head):
    network = _parts(loss, **model).network
    assert network.types[-1] == head and network.types.count(head) == (1 if head != "dense" else 2)
    assert getattr(network, "appended_head", None) == (head if "output_activation" not in model
                                                        and head != "dense" else None)


@pytest.mark.parametrize("loss, model, head", [
    ("cross_entropy", {"output_activation": "identity"}, "raw, with no activation after dense_1"),
    ("cross_entropy", {"output_activation": "sigmoid"}, "sigmoid (sigmoid_0)"),
    ("cross_entropy", {"layers": [*RAW, "relu"]}, "relu (relu_0)"),
    ("binary_cross_entropy", {"output_activation": "softmax"}, "softmax (softmax_0)"),
    ("kl_div", {"output_activation": "softmax"}, "softmax (softmax_0)"),
])
def test_a_loss_and_an_output_head_that_cannot_train_together_are_refused(loss, model, head):
    from nnexp.errors import OutputHeadError

    with pytest.raises(OutputHeadError, match=re.escape(f"output is {head}: it needs")) as caught:
        _parts(loss, **model)
    assert isinstance(caught.value, nnexp.ConfigError) and caught.value.exit_code == 2


def test_xor_says_its_val_and_test_metrics_are_on_its_training_points(nnexp_cli):
    """Issue 12: XOR reported test accuracy on its 4 training points as if held out."""
    note = "(val_/test_ on its 4 training points: no held-out data)"
    out = nnexp_cli("+experiment=xor", "trainer.epochs=2", "tracking=off")
    assert out.returncode == 0, out.stderr
    assert "test_accuracy" in out.stdout and out.stdout.splitlines()[0].endswith(note)
    out = nnexp_cli("+experiment=xor", "trainer.epochs=2", "dataset.n=40", "tracking=off")
    assert out.returncode == 0 and "test_accuracy" in out.stdout and note not in out.stdout
    out = nnexp_cli("+experiment=xor", "dataset.test_fraction=0.5", "tracking=off")
    assert out.returncode == 2 and "dataset.test_fraction (xor): got 0.5" in out.stderr


def test_a_layer_list_with_a_raw_output_trains_cross_entropy_fused_and_says_so(nnexp_cli, tmp_path):
    """Issue 12: the loss went to -2.05 on raw outputs and the run FINISHED, no warning."""
    layers = "model.layers=[{type: dense, units: 8, activation: tanh}, {type: dense, units: 2}]"
    out = nnexp_cli("+experiment=xor", "model=layers", layers, *FAST)
    assert out.returncode == 0, out.stderr
    assert "softmax appended for loss cross_entropy" in out.stderr
    (run,) = store_runs(tmp_path / "mlflow.db")
    assert run.data.metrics["loss"] >= 0


def test_wheel_ships_the_config_tree_and_experiments(tmp_path):
    """A non-editable install must find conf/ without the repository (it is package data)."""
    import shutil
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    shutil.copytree(repo, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "*.egg-info", "build", "dist", ".venv", "__pycache__", ".pytest_cache", "mlruns",
        "outputs", "multirun", "*.db", "plugins"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                          "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and "bdist_wheel" in out.stderr:
        pytest.skip("this environment cannot build wheels offline")
    assert out.returncode == 0, out.stderr
    wheel = next((tmp_path / "dist").glob("nnexp-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"nnexp/conf/{p.relative_to(CONF)}" for p in CONF.rglob("*.yaml")}
    assert "nnexp/conf/config.yaml" in shipped and shipped <= names
    assert {f"nnexp/conf/experiment/{e}.yaml" for e in SHIPPED} <= names


def test_the_hint_to_look_at_runs_fits_the_store():
    """Issue 12: `mlflow ui --backend-store-uri http://...` is wrong for a server."""
    from nnexp.app import look_command

    assert look_command("http://127.0.0.1:5000") == "open http://127.0.0.1:5000"
    assert look_command("sqlite:////tmp/x/mlflow.db") == "mlflow ui --backend-store-uri sqlite:////tmp/x/mlflow.db"
