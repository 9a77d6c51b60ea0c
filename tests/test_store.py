"""Where runs go: MLFLOW_TRACKING_URI, database drivers, the store's creation lock."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import FAST, run_nnexp, store_runs
from nnexp import tracking
from nnexp.tracking import store

XOR = ["+experiment=xor", "trainer.epochs=2", *FAST]


def test_mlflow_tracking_uri_is_the_default_and_tracking_uri_overrides_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert tracking.resolve_uri(None, tmp_path) == f"sqlite:///{tmp_path}/from-env.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    assert tracking.resolve_uri(None, tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"


def test_the_cli_honours_mlflow_tracking_uri_and_cfg_job_says_so(tmp_path):
    env = {"MLFLOW_TRACKING_URI": "sqlite:///from-env.db"}
    shown = run_nnexp(["--cfg", "job", *XOR], tmp_path, env=env)
    assert "uri: ${oc.env:MLFLOW_TRACKING_URI,sqlite:///mlflow.db}" in shown.stdout
    resolved = run_nnexp(["--cfg", "job", "--resolve", *XOR], tmp_path, env=env)
    assert "uri: sqlite:///from-env.db" in resolved.stdout
    out = run_nnexp(XOR, tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(store_runs(tmp_path / "from-env.db")) == 1 and not (tmp_path / "mlflow.db").exists()
    out = run_nnexp([*XOR, "tracking.uri=sqlite:///given.db"], tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(store_runs(tmp_path / "given.db")) == 1


def test_postgresql_without_its_driver_is_one_error_naming_the_extra(tmp_path):
    # The real CLI, with both PostgreSQL drivers made unimportable.
    code = ("import sys; sys.modules['psycopg'] = sys.modules['psycopg2'] = None; "
            "sys.argv[0] = 'nnexp'; from nnexp.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, *XOR,
                          "tracking.uri=postgresql://nnexp@127.0.0.1:1/mlflow"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stdout + out.stderr  # the environment's fault (nnexp.failures)
    assert "pip install 'nnexp[server]'" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_postgresql_uris_name_the_installed_driver(monkeypatch):
    monkeypatch.setattr(store, "_installed", lambda module: module == "psycopg")
    assert store.resolve_uri("postgresql://u@h/db", ".") == "postgresql+psycopg://u@h/db"
    assert store.resolve_uri("postgresql+psycopg://u@h/db", ".") == "postgresql+psycopg://u@h/db"
    with pytest.raises(store.TrackingError, match="psycopg2 is not installed"):
        store.resolve_uri("postgresql+psycopg2://u@h/db", ".")


def test_a_database_store_is_opened_under_a_lock_beside_it(tmp_path):
    uri = tracking.resolve_uri("sqlite:///runs/m.db", tmp_path)
    assert store.lock_path(uri) == tmp_path / "runs" / "m.db.lock"
    store.client(uri)
    assert (tmp_path / "runs" / "m.db").exists() and (tmp_path / "runs" / "m.db.lock").exists()
    server = store.lock_path("postgresql+psycopg://u@h/db")
    assert server is not None and server != store.lock_path("postgresql+psycopg://u@h/other")
    assert store.lock_path("http://127.0.0.1:5000") is None
