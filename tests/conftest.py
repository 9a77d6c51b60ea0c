"""Shared fixtures: the real ``nnexp`` console script in a subprocess, and a real MLflow store.

Helpers append fixtures here; keep each one self-contained.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
import sys
from pathlib import Path

import pytest

#: The console script installed next to the interpreter running the tests.
NNEXP = Path(sys.executable).with_name("nnexp")
#: Overrides that keep a tracked test run fast (pictures cost ~1 s per run).
FAST = ["tracking.plot=false"]


def run_nnexp(args, cwd, *, timeout: float = 180, env: dict | None = None):
    """Run ``nnexp ARGS`` in ``cwd``; returns the CompletedProcess (text output)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([str(NNEXP), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.fixture
def nnexp_cli(tmp_path):
    """``nnexp_cli(*args)`` runs the installed ``nnexp`` with ``tmp_path`` as launch directory."""
    if not NNEXP.exists():
        pytest.skip(f"no nnexp console script next to {sys.executable}")

    def run(*args, cwd=None, **kwargs):
        return run_nnexp(list(args), cwd or tmp_path, **kwargs)

    return run


def store_runs(db_path) -> list:
    """Every run (any experiment, any status) in the SQLite store at ``db_path``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    experiments = client.search_experiments()
    if not experiments:
        return []
    return client.search_runs([e.experiment_id for e in experiments], max_results=1000)


def store_client(db_path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{db_path}")


def wait_for_logged_epoch(db, proc, timeout=120) -> str:
    """Poll the store read-only (an MlflowClient would race the new store's schema migration)
    until a run has logged an epoch's loss; return its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
                row = con.execute("SELECT run_uuid FROM metrics WHERE key = 'loss' LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # no file or tables yet, or locked
            row = None
        if row:
            return row[0]
        time.sleep(0.3)
    raise AssertionError("the run never logged an epoch")
