"""The Python ecosystem's conventions: --version, python -m, messages in the run's log file, the
wheel's contents and metadata."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("nnexp-extras", "nnexp-sklearn")


@pytest.mark.parametrize("args", [["--version"], ["-V"], ["+experiment=xor", "--version"]])
def test_version_flag_prints_nnexps_version_not_hydras(nnexp_cli, args):
    out = nnexp_cli(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"nnexp {metadata.version('nnexp')}\n"
    assert "hydra" not in (out.stdout + out.stderr).lower()


def test_messages_are_printed_once_and_kept_in_the_runs_log_file(nnexp_cli, tmp_path):
    out = nnexp_cli("+experiment=xor", "tracking=off")
    assert out.returncode == 0, out.stderr
    (log,) = tmp_path.glob("outputs/*/*/nnexp.log")  # Hydra's job log, in the run's output directory
    text = log.read_text()
    run_line = next(line for line in out.stdout.splitlines() if line.startswith("nnexp: run xor"))
    assert run_line in text and "[nnexp.messages][INFO]" in text
    assert "nnexp: training xor" in text and out.stderr.count("nnexp: training xor") == 1  # once on screen
    assert out.stdout.count(run_line) == 1


def test_python_dash_m_nnexp_is_the_nnexp_command(tmp_path):
    version = subprocess.run([sys.executable, "-m", "nnexp", "--version"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"nnexp {metadata.version('nnexp')}\n")
    plugins = subprocess.run([sys.executable, "-m", "nnexp", "plugins"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert plugins.returncode == 0, plugins.stderr
    assert "nnexp-extras" in plugins.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """nnexp built as a wheel from this source tree, the way a release is built."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", str(ROOT), "-w", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("nnexp-*.whl")
    return zipfile.ZipFile(path)


def _wheel_metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(wheel.read(name))


def test_wheel_ships_license_py_typed_main_and_the_config_tree(wheel):
    names = set(wheel.namelist())
    assert "nnexp/py.typed" in names and "nnexp/__main__.py" in names
    assert "hydra_plugins/nnexp_optuna_sweeper/__init__.py" in names  # where Hydra finds the sweeper
    assert "nnexp/conf/config.yaml" in names and "nnexp/conf/experiment/spirals.yaml" in names
    license_file = [n for n in names if n.endswith("dist-info/licenses/LICENSE")]
    assert license_file and b"MIT License" in wheel.read(license_file[0])


def test_wheel_metadata_has_classifiers_license_and_bounded_hydra(wheel):
    meta = _wheel_metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    requires = {Requirement(r).name: Requirement(r) for r in meta.get_all("Requires-Dist")}
    hydra = requires["hydra-core"].specifier
    assert hydra.contains(metadata.version("hydra-core"))  # the version the tests run against
    assert not hydra.contains("1.4.0")  # private APIs: the next minor series is not assumed
    assert requires["optuna"].marker.evaluate({"extra": "optuna"})


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugins_require_the_installed_nnexp_minor_series_only(plugin):
    (nnexp_req,) = [Requirement(r) for r in metadata.requires(plugin) if r.startswith("nnexp")]
    installed = Version(metadata.version("nnexp"))
    assert nnexp_req.specifier.contains(installed)
    next_minor = Version(f"{installed.major}.{installed.minor + 1}.0")
    assert not nnexp_req.specifier.contains(next_minor), "a 0.x API: no bound means any break passes"
