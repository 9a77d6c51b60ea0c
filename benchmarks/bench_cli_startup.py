"""Start-up time of the ``nnexp`` command, against ``python -c pass`` measured in the same run.

Target (issue 3): ``nnexp --help`` <= 0.5 s. mlflow alone takes ~1.5 s to import, so it must
never be imported to answer ``--help``. The other rows show what Hydra's own paths cost
(``--help`` with overrides composes the config; ``--cfg job`` too).

    python benchmarks/bench_cli_startup.py [--repeat 7]

Prints min and median wall time of each command (fresh process each time) and the ratio of
the minimum to ``python -c pass``. Latest result: benchmarks/RESULTS_cli.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NNEXP = str(Path(sys.executable).with_name("nnexp"))
CASES = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("nnexp --help", [NNEXP, "--help"]),
    ("nnexp --help model=deep_mlp (Hydra)", [NNEXP, "--help", "model=deep_mlp"]),
    ("nnexp --cfg job", [NNEXP, "--cfg", "job"]),
    ("python -c 'import mlflow'", [sys.executable, "-c", "import mlflow"]),
]


def timings(cmd: list[str], repeat: int, cwd: str) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - start)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as cwd:  # outside any repository, as a user would run it
        for name, cmd in CASES:
            t = timings(cmd, args.repeat, cwd)
            rows.append((name, min(t), statistics.median(t)))
    base = rows[0][1]
    print(f"{'command':<40} {'min s':>7} {'median s':>9} {'x python':>9}")
    for name, best, median in rows:
        print(f"{name:<40} {best:7.3f} {median:9.3f} {best / base:9.1f}")
    help_time = rows[1][1]
    print(f"\nnnexp --help: {help_time:.3f} s (target <= 0.5 s: {'met' if help_time <= 0.5 else 'NOT met'}); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
