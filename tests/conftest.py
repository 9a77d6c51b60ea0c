"""Shared fixtures: the real ``nnexp`` console script in a subprocess, and a real MLflow store.

Helpers append fixtures here; keep each one self-contained.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
import sys
from pathlib import Path

import pytest

#: The console script installed next to the interpreter running the tests.
NNEXP = Path(sys.executable).with_name("nnexp")
#: Overrides that keep a tracked test run fast (pictures cost ~1 s per run).
FAST = ["tracking.plot=false"]


def clean_environ() -> dict:
    """This process's environment without MLFLOW_TRACKING_URI: the CLI tests' runs go to the
    SQLite store in their tmp_path, never to a server the developer's shell points at; and
    without the spool of a sender an in-process test started (each command gets its own)."""
    return {k: v for k, v in os.environ.items()
            if k != "MLFLOW_TRACKING_URI" and k != "NNEXP_SENDER_SPOOL"}


def run_nnexp(args, cwd, *, timeout: float = 180, env: dict | None = None):
    """Run ``nnexp ARGS`` in ``cwd``; returns the CompletedProcess (text output)."""
    full_env = {**clean_environ(), "NO_COLOR": "1", **(env or {})}
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


@pytest.fixture
def subcommand(monkeypatch, capsys):
    """``subcommand(name, cwd, *args)`` runs ``nnexp NAME ARGS`` in-process through the CLI's
    subcommand runner from ``cwd``; returns returncode, stdout, stderr."""
    from types import SimpleNamespace

    from nnexp.cli import run_subcommand

    def run(name, cwd, *args):
        monkeypatch.chdir(cwd)
        code = run_subcommand(name, list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def store_runs(db_path) -> list:
    """Every run (any experiment, any status) in the SQLite store at ``db_path``."""
    client = store_client(db_path)
    experiments = client.search_experiments()
    if not experiments:
        return []
    return client.search_runs([e.experiment_id for e in experiments], max_results=1000)


def store_client(db_path):
    """A client of the SQLite store at ``db_path``, opened as nnexp opens it: under the
    store's file lock, so a test never migrates a brand-new store while a sender creates it."""
    from nnexp.tracking.store import client

    return client(f"sqlite:///{db_path}")


class Watched:
    """A running ``nnexp`` whose output threads collect, so a test can act while it trains."""

    #: Every one started by the current test (the ``no_leftovers`` fixture ends them).
    started: list = []

    def __init__(self, args, cwd, env: dict | None = None, session: bool = False):
        """``session``: in a session of its own, as a terminal's foreground command is in a
        process group of its own (:meth:`stop` with ``group`` then signals all of it)."""
        self.proc = subprocess.Popen([str(NNEXP), *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**clean_environ(), **(env or {})},
                                     start_new_session=session)
        Watched.started.append(self)
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=lambda s=s, d=d: d.extend(iter(s.readline, "")),
                                         daemon=True)
                        for s, d in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.threads:
            t.start()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for_logged_epoch(self, db, timeout=120) -> str:
        """Wait until training started, then until a run in ``db`` logged an epoch's loss;
        return its run id. The store is read only once training started: opening a
        brand-new store while its schema is being created breaks the migration."""
        deadline = time.monotonic() + timeout
        while "nnexp: training" not in self.stderr:
            assert self.proc.poll() is None and time.monotonic() < deadline, self.stderr
            time.sleep(0.2)
        while time.monotonic() < deadline:
            try:  # the store may not exist yet, or be half-made: the sender creates it
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                    row = con.execute("SELECT run_uuid FROM metrics WHERE key = 'loss' LIMIT 1").fetchone()
            except sqlite3.OperationalError:
                row = None
            if row:
                return row[0]
            time.sleep(0.3)
        raise AssertionError("the run never logged an epoch")

    def stop(self, sig, timeout=120, group: bool = False) -> int:
        """Send ``sig`` (``group``: to its process group, as a terminal's Ctrl-C does); wait
        for the exit code (kill after ``timeout``)."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            for t in self.threads:
                t.join(10)


def need(module: str, extra: str) -> None:
    """Skip a system test without ``module`` (from ``nnexp[extra]``); under NNEXP_SYSTEM=1
    (CI, which installs every extra) fail instead: a missing part must not pass as a skip."""
    if os.environ.get("NNEXP_SYSTEM") == "1":
        __import__(module)
    else:
        pytest.importorskip(module, reason=f"needs nnexp[{extra}]")


def sender_of(pid: int) -> int:
    """The pid of the sender process a trainer (``pid``) started (its argv names the trainer)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"nnexp.tracking.sender" in a for a in argv) and str(pid).encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no sender process for trainer {pid}")


CHECKOUT = Path(__file__).resolve().parents[1]
#: What a launch leaves in its directory (README): never the checkout's, from a test.
LAUNCH_LEFTOVERS = ("outputs", "multirun", "mlflow.db", "mlruns", "nnexp-records", "optuna.db")


@pytest.fixture(autouse=True, scope="session")
def checkout_stays_clean():
    """Every CLI test launches in a temporary directory: a run's files appearing in the
    checkout during the session fail it."""
    before = {name for name in LAUNCH_LEFTOVERS if (CHECKOUT / name).exists()}
    yield
    new = [name for name in LAUNCH_LEFTOVERS if (CHECKOUT / name).exists() and name not in before]
    if new:
        pytest.fail(f"tests left {', '.join(new)} in the checkout {CHECKOUT}: launch commands "
                    "with cwd=tmp_path (nnexp_cli does)", pytrace=False)


@pytest.fixture(autouse=True)
def no_leftovers():
    """A test that fails half-way leaves no ``nnexp`` training (or sending) behind."""
    yield
    for watched in Watched.started:
        if watched.proc.poll() is None:
            try:
                os.kill(sender_of(watched.proc.pid), 9)
            except (AssertionError, OSError):
                pass
            watched.proc.kill()
            watched.proc.wait()
    Watched.started.clear()
    sender = sys.modules.get("nnexp.tracking.sender")
    if sender is not None:  # an in-process tracker's sender: told to finish, then forgotten
        sender.stop_shared()
        sender.reset_shared()
