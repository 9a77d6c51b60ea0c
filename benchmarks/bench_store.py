"""Runs per second into the PostgreSQL tracking server (scripts/server.sh) vs the SQLite file.

Each "run" is what a short nnexp run writes through MlflowClient: create the run, one
``log_batch`` with 40 params, 10 tags and 200 metric rows (50 steps x 4 metrics), end it.
Writers are separate processes (1 and 4 at once: a sweep's jobs), each writing ``--runs``
runs into a store made for the benchmark:

- ``sqlite``: ``sqlite:///`` a file in a temp directory (nnexp's default store);
- ``server``: ``mlflow server`` on PostgreSQL over HTTP, started with scripts/server.sh on
  free ports in a temp directory and stopped at the end;
- ``postgresql``: the same database opened directly (``postgresql+psycopg://``).

    python benchmarks/bench_store.py [--runs 40]

Needs nnexp[server] and PostgreSQL (server.sh installs it as root). Prints runs/s per store
and writer count, and each against SQLite with one writer measured in the same run.
Latest result: benchmarks/RESULTS_store.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_runs(uri: str, experiment_id: str, n: int) -> None:
    """``n`` runs of one writer, as in the module docstring."""
    from mlflow.entities import Metric, Param, RunTag

    from nnexp.tracking import store

    mc = store.client(uri)
    for i in range(n):
        run = store.retry(mc.create_run, experiment_id, run_name=f"bench-{os.getpid()}-{i}")
        now = int(time.time() * 1000)
        params = [Param(f"group.key_{k}", str(k * 0.1)) for k in range(40)]
        tags = [RunTag(f"nnexp.tag_{k}", "x" * 20) for k in range(10)]
        metrics = [Metric(name, 1.0 / (s + 1), now, s) for s in range(50)
                   for name in ("loss", "accuracy", "grad_norm/dense_0.W", "lr")]
        store.retry(mc.log_batch, run.info.run_id, metrics=metrics, params=params, tags=tags)
        store.retry(mc.set_terminated, run.info.run_id, "FINISHED")


def rate(uri: str, writers: int, runs: int) -> float:
    """Runs per second of ``writers`` processes writing ``runs`` runs each."""
    from nnexp.tracking import store

    experiment = store.ensure_experiment(uri, f"bench-{writers}-{time.time_ns()}")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        pool.starmap(write_runs, [(uri, experiment, 1)] * writers)  # warm: imports, connections
        start = time.perf_counter()
        pool.starmap(write_runs, [(uri, experiment, runs)] * writers)
        return writers * runs / (time.perf_counter() - start)


def server(home: Path, action: str, env: dict) -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "server.sh"), action], check=True,
                         capture_output=True, text=True, env={**os.environ, **env})
    return out.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per writer")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="nnexp-bench-", dir="/tmp"))
    home.chmod(0o755)  # the postgres user must reach its data directory
    pg_port = free_port()
    env = {"NNEXP_SERVER_DIR": str(home), "NNEXP_MLFLOW_PORT": str(free_port()),
           "NNEXP_PG_PORT": str(pg_port), "NNEXP_VENV": sys.prefix}
    try:
        out = server(home, "start", env)
        http = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("tracking.uri="))
        password = (home / "password").read_text().strip()
        stores = {"sqlite": f"sqlite:///{home}/bench.db", "server": http,
                  "postgresql": f"postgresql+psycopg://nnexp:{password}@127.0.0.1:{pg_port}/mlflow"}
        rows = [(name, w, rate(uri, w, args.runs)) for w in (1, 4) for name, uri in stores.items()]
    finally:
        server(home, "stop", env)
        subprocess.run(["rm", "-rf", str(home)], check=False)
    base = rows[0][2]
    print(f"{args.runs} runs per writer (create, log_batch of 40 params + 10 tags + 200 metrics, end)")
    print(f"{'store':<12} {'writers':>7} {'runs/s':>8} {'x sqlite, 1 writer':>19}")
    for name, writers, value in rows:
        print(f"{name:<12} {writers:>7} {value:8.1f} {value / base:19.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
