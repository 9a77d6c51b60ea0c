"""A 16-job sweep on joblib with 2 workers against the basic launcher (one job at a time).

Target (issue 9): the joblib sweep >= 1.7x faster. Both are the real ``nnexp -m`` command,
each on a brand-new store in its own temp directory, run alternately (``--repeat`` pairs) so
the shared machine's load hits both alike. The ratio compares the fastest of each.

    python benchmarks/bench_sweep.py [--repeat 2] [--epochs 20] [--jobs 16] [--modes default,off]

``--modes`` picks the tracking each pair of sweeps runs with: ``default`` (tracked, pictures),
``noplots`` (``tracking.plot=false``), ``off`` (``tracking=off``): a tracked sweep's runs are
sent and drawn by the command's sender process, which works beside the jobs on the same two
cores, so ``off`` shows what the launcher itself gains.

Also printed, to see where the time goes: the CPU time of the whole sweep (every process of
it), the sum of the jobs' own wall times (``seconds`` in each job's result: build, train,
evaluate, log), the time before the first job started training (launch; for joblib also
spawning the 2 workers and their imports), and the machine's load average before each sweep
(the cores are shared: 2 workers only help when a second core is free). How many cores are
free is measured in the same run: two processes spinning for 2 s of CPU each, against one.
Latest result: benchmarks/RESULTS_sweep.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NNEXP = str(Path(sys.executable).with_name("nnexp"))
LAUNCHERS = {"basic": [], "joblib n_jobs=2": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}
MODES = {"default": [], "noplots": ["tracking.plot=false"], "off": ["tracking=off"]}


def sweep(extra: list[str], jobs: int, epochs: int) -> dict:
    """One sweep in a fresh directory: wall seconds, the jobs' summed seconds, time to first job."""
    args = ["-m", "+experiment=spirals", f"trainer.epochs={epochs}", f"seed=range({jobs})", *extra]
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        proc = subprocess.Popen([NNEXP, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        first = None
        for line in proc.stderr:
            if first is None and "nnexp: training" in line:
                first = time.perf_counter() - start
        assert proc.wait() == 0, f"sweep failed: {args}"
        wall = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process, once waited for
        results = [json.loads(p.read_text()) for p in Path(cwd).glob("multirun/*/*/nnexp_jobs/*.json")]
    assert len(results) == jobs and all(r["status"] == "FINISHED" for r in results)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    return {"wall": wall, "cpu": cpu, "jobs": sum(r["seconds"] for r in results), "first": first,
            "load": load}


def spin(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def free_cores(seconds: float = 2.0) -> float:
    """About how many cores this run gets: 2 x (one spinner's wall) / (two spinners' wall)."""
    ctx = multiprocessing.get_context("spawn")
    walls = []
    for n in (1, 2):
        procs = [ctx.Process(target=spin, args=(seconds,)) for _ in range(n)]
        start = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        walls.append(time.perf_counter() - start)
    return 2 * walls[0] / walls[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--modes", default="default",
                        help=f"comma-separated tracking modes, of {', '.join(MODES)}")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; valid: {', '.join(MODES)}")
    runs: dict[tuple[str, str], list[dict]] = {(m, name): [] for m in modes for name in LAUNCHERS}
    cores = [free_cores()]
    for i in range(args.repeat):
        for mode in modes:
            order = list(LAUNCHERS) if i % 2 == 0 else list(LAUNCHERS)[::-1]
            for name in order:
                runs[mode, name].append(sweep([*LAUNCHERS[name], *MODES[mode]], args.jobs, args.epochs))
    print(f"{args.jobs} jobs of +experiment=spirals trainer.epochs={args.epochs}, "
          f"{args.repeat} sweep(s) per launcher and mode")
    print(f"{'mode':<8} {'launcher':<16} {'wall s':>7} {'CPU s':>6} {'sum of jobs s':>13} "
          f"{'first job at s':>14} {'load before':>11}")
    for (mode, name), rs in runs.items():
        for r in rs:
            print(f"{mode:<8} {name:<16} {r['wall']:7.1f} {r['cpu']:6.1f} {r['jobs']:13.1f} "
                  f"{r['first']:14.1f} {r['load']:11.2f}")
    cores.append(free_cores())
    print(f"free cores (two spinners vs one): {cores[0]:.2f} before, {cores[1]:.2f} after\n")
    for mode in modes:
        basic, joblib = (min(r["wall"] for r in runs[mode, name]) for name in LAUNCHERS)
        ratio = basic / joblib
        print(f"{mode}: joblib (2 workers) vs basic: {ratio:.2f}x faster (target >= 1.7x: "
              f"{'met' if ratio >= 1.7 else 'NOT met'})")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
