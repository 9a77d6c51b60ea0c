"""``nnexp plugins`` and the entry-point path of the two real packages in plugins/.

They must be installed (scripts/setup.sh does it: ``pip install -e plugins/nnexp-extras
-e plugins/nnexp-sklearn``); nothing here registers them by calling functions directly.
"""

import json
import re
from importlib import metadata

import pytest
from plugin_fixtures import NNEXP, run

import nnexp

REAL = {"extras": "nnexp-extras", "sklearn": "nnexp-sklearn"}


def plugins_json(*args, **env) -> dict:
    out = run([NNEXP, "plugins", "--json", *args], **env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def listing() -> dict:
    return plugins_json()


def test_real_packages_are_listed_with_distribution_version_and_components(listing):
    entries = {e["name"]: e for e in listing["plugins"]}
    for plugin, dist in REAL.items():
        entry = entries[plugin]
        assert (entry["distribution"], entry["version"]) == (dist, metadata.version(dist))
        assert entry["status"] == "ok" and not entry["builtin"] and entry["errors"] == []
    assert {"mish", "snake", "prelu"} <= set(entries["extras"]["components"]["activation"])
    assert {"maxout", "residual_dense"} <= set(entries["extras"]["components"]["layer"])
    assert {"log_cosh", "focal"} <= set(entries["extras"]["components"]["loss"])
    assert entries["extras"]["aliases"]["focal"] == ["focal_loss"]
    assert set(entries["sklearn"]["components"]) == {"dataset"}
    assert {"digits", "iris", "wine", "breast_cancer", "sk_moons", "sk_circles"} <= set(
        entries["sklearn"]["components"]["dataset"])


def test_registry_provenance_names_the_installing_distribution():
    registry = nnexp.get_registry()
    mish = registry.get("activation", "mish").provenance
    assert (mish.distribution, mish.plugin, mish.version) == (
        "nnexp-extras", "extras", metadata.version("nnexp-extras"))
    assert registry.get("dataset", "digits").provenance.requirement == (
        f"nnexp-sklearn=={metadata.version('nnexp-sklearn')}")


def test_builtins_are_listed_only_with_all(listing):
    assert not any(e["builtin"] for e in listing["plugins"])
    everything = plugins_json("--all")
    builtins = [e for e in everything["plugins"] if e["builtin"]]
    assert {e["distribution"] for e in builtins} == {"nnexp"}
    relu_owner = [e["name"] for e in builtins if "relu" in e["components"].get("activation", [])]
    assert relu_owner == ["nnexp.activations"]
    assert [e["name"] for e in everything["plugins"]][:len(builtins)] == [e["name"] for e in builtins]


def test_text_listing_aligns_components_under_one_column():
    out = run([NNEXP, "plugins", "--all"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.match(r"\d+ built-in and \d+ installed plugin\(s\)\.$", lines[0])
    head = next(line for line in lines if line.startswith("extras "))
    assert head.split() == ["extras", "nnexp-extras", metadata.version("nnexp-extras")]
    kind_lines = [line for line in lines if re.match(r"  (activation|layer|loss|dataset) ", line)]
    columns = {len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in kind_lines}
    assert len(columns) == 1, kind_lines  # every component list starts at the same column
    indent = " " * columns.pop()
    wrapped = [line for line in lines if line.startswith(indent) and line.strip()]
    assert all(len(line) <= 100 for line in lines) and wrapped  # long lists wrap, aligned
    assert "focal (focal_loss)" in out.stdout


def test_clean_install_passes_strict_and_reports_no_failures(listing):
    assert listing["failures"] == [] and listing["conflicts"] == []
    out = run([NNEXP, "plugins", "--strict"])
    assert out.returncode == 0, out.stderr


def test_blocked_real_plugin_is_listed_as_blocked_and_its_components_vanish():
    report = plugins_json(NNEXP_BLOCK_PLUGINS="sklearn")
    assert report["blocked"] == [{"plugin": "sklearn", "distribution": "nnexp-sklearn",
                                  "version": metadata.version("nnexp-sklearn")}]
    assert "sklearn" not in {e["name"] for e in report["plugins"]}
    with pytest.raises(nnexp.UnknownComponentError, match="Unknown dataset 'digits'"):
        nnexp.load_registry(blocked=["sklearn"]).get("dataset", "digits")


def test_listing_without_installed_plugins_points_to_the_guide():
    from nnexp.commands.plugins import collect, format_text

    report = collect(nnexp.load_registry(entry_points=False))
    assert report["plugins"] == [] and report["failures"] == []
    text = format_text(report, include_builtins=False)
    assert text.startswith("0 installed plugin(s)") and "docs/plugin-guide.md" in text


def test_unknown_option_exits_2_with_usage():
    out = run([NNEXP, "plugins", "--bogus"])
    assert out.returncode == 2 and "usage: nnexp plugins" in out.stderr


def test_sweep_over_a_plugin_activation_records_its_distribution_in_mlflow(tmp_path):
    pytest.importorskip("nnexp.app", reason="the Hydra experiment app (nnexp/app.py) is missing")
    tracking = pytest.importorskip("nnexp.tracking", reason="MLflow tracking (nnexp/tracking) is missing")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run([NNEXP, "-m", "model.activation=mish,relu", "dataset=xor", "trainer.epochs=2",
               f"tracking.uri={uri}", "tracking.plot=false", "tracking.save_model=false",
               f"hydra.sweep.dir={tmp_path / 'multirun'}"], cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    client = MlflowClient(tracking.resolve_uri(uri, tmp_path))
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
            if r.data.params.get("model.activation")]
    by_activation = {r.data.params["model.activation"]: r for r in runs}
    assert sorted(by_activation) == ["mish", "relu"]
    assert all(r.info.status == "FINISHED" for r in runs)
    mish_tags = by_activation["mish"].data.tags
    assert mish_tags["nnexp.component.activation.mish"] == (
        f"nnexp-extras=={metadata.version('nnexp-extras')}")
    assert by_activation["relu"].data.tags["nnexp.component.activation.relu"] == (
        f"nnexp=={metadata.version('nnexp')}")


@pytest.mark.parametrize("activation", ["prelu", "{type:snake,frequency:2.0}"])
def test_experiment_app_runs_with_a_plugin_activation_and_its_options(activation, tmp_path):
    pytest.importorskip("nnexp.app", reason="the Hydra experiment app (nnexp/app.py) is missing")
    out = run([NNEXP, f"model.activation={activation}", "dataset=xor", "trainer.epochs=1",
               "tracking=off"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FINISHED" in out.stdout + out.stderr
