"""What tracking costs a small run and a small sweep, end to end (issue 10's targets).

Usage (from the repository root, with nnexp installed in the running interpreter's venv)::

    python benchmarks/bench_run_cost.py              # 2 repetitions of each (~3 minutes)
    python benchmarks/bench_run_cost.py --repeat 3

Each command is the real ``nnexp`` console script, timed from launch to exit (the sweep's
command returns once every run, pictures included, is in the store), in one temporary
directory whose SQLite store a first, untimed run created (a brand-new store costs MLflow's
schema migrations once, several seconds: printed separately), in three modes run alternately:

- ``off``: ``tracking=off`` (the reference: training and composing only);
- ``no plots``: tracked, ``tracking.plot=false``;
- ``default``: tracked with pictures (what a user gets).

Workloads: ``nnexp +experiment=xor`` (one run, ~0.2 s of training) and ``nnexp -m
+experiment=xor 'seed=range(8)'`` (8 jobs, basic launcher). Reported: the least wall time
of each, and the ratio tracked/off (targets: one run <= 2x, the sweep with pictures <= 1.5x).
The machine is shared: the load average before each command is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NNEXP = Path(sys.executable).with_name("nnexp")
MODES = {"off": ["tracking=off"], "no plots": ["tracking.plot=false"], "default": []}
WORKLOADS = {"one xor run": ["+experiment=xor"],
             "8-job xor sweep": ["-m", "+experiment=xor", "seed=range(8)"]}


def timed(args: list[str], cwd) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "NNEXP_SENDER_SPOOL")}
    t0 = time.perf_counter()
    out = subprocess.run([str(NNEXP), *args], cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"nnexp {' '.join(args)} failed:\n{out.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    opts = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    tmp = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
    load = os.getloadavg()[0]
    first = timed(["+experiment=xor", "tracking.plot=false"], tmp.name)
    print(f"a first tracked xor run, on a brand-new store: {first:.2f} s (load {load:.2f})\n")
    print(f"{'workload':<18} {'mode':<9} {'wall s':>7} {'load':>5}")
    for _ in range(opts.repeat):
        for workload, args in WORKLOADS.items():
            for mode, extra in MODES.items():
                load = os.getloadavg()[0]
                took = timed([*args, *extra], tmp.name)
                best[workload, mode] = min(took, best.get((workload, mode), float("inf")))
                print(f"{workload:<18} {mode:<9} {took:7.2f} {load:5.2f}", flush=True)
    print()
    for workload in WORKLOADS:
        off = best[workload, "off"]
        ratios = ", ".join(f"{mode} {best[workload, mode]:.2f} s = {best[workload, mode] / off:.2f}x"
                           for mode in ("no plots", "default"))
        print(f"{workload}: off {off:.2f} s; {ratios} (least of {opts.repeat})")


if __name__ == "__main__":
    main()
