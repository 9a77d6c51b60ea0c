"""Durable runs, measured: memory over a long run, interrupt-to-exit latency, what a SIGKILL
loses, and what checkpoints cost.

Usage (from the repository root, with nnexp installed in the running interpreter's venv)::

    python benchmarks/bench_durable.py              # everything (~6 minutes)
    python benchmarks/bench_durable.py --quick      # shorter runs (~2 minutes)
    python benchmarks/bench_durable.py --parts interrupt,kill   # some of: rss,interrupt,kill,checkpoint

1. **RSS against steps.** A tracked run (RunTracker on a fresh SQLite store, default
   settings: every step's statistics kept on disk) in a child process reports its resident set
   size at growing step counts: the tutorial's 4-2-3 network up to 10**6 steps, and a
   784-256-256-10 MLP (batch 128). The target: RSS after 10**6 tutorial steps within 100 MB of
   RSS after 10**4.
2. **Interrupt to exit.** ``nnexp +experiment=tutorial trainer.epochs=100000000`` gets SIGINT
   or SIGTERM after some seconds of training; the time from the signal to the process's exit
   (target 2 s, for any run length).
3. **SIGKILL loss window.** The same run is SIGKILLed; the record holds every step up to its
   last flush: the window is the time from that flush to the kill, and the steps trained in it
   (at the run's measured rate). The run's sender, which outlives the trainer, ends the run
   KILLED (``nnexp.failure=lost``) with what the record held; had it been killed too, the
   next command (here ``nnexp runs``) would.
4. **Checkpoint cost.** The time one checkpoint takes (recorder timings, a checkpoint every
   epoch), against the step time: as a fraction of training time at the default interval
   (``trainer.checkpoint.every_seconds`` = 60; target <= 2%) and at every epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

NNEXP = Path(sys.executable).with_name("nnexp")

CHILD = textwrap.dedent('''
    import json, sys, time
    import numpy as np, scipy.linalg.blas
    from threadpoolctl import threadpool_limits
    import nnexp
    from nnexp import hookimpl, tracking

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    class Probe:
        def __init__(self, at): self.at = set(at); self.t0 = None
        @hookimpl
        def on_step_end(self, run, loss):
            if run.step in self.at:
                print(json.dumps({"step": run.step, "rss_mb": rss_mb(),
                                  "seconds": time.perf_counter() - self.t0}), flush=True)
                if run.step == max(self.at): run.request_stop("benchmark done")
        @hookimpl
        def on_run_start(self, run): self.t0 = time.perf_counter()

    workload, steps, root = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    if workload == "tutorial":
        ds = nnexp.get_registry().create("dataset", "tutorial")
        X, y = ds.X_train, ds.y_train
        net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid")
        kw = dict(loss="half_squared_error", optimizer={"type": "sgd", "lr": 0.5}, batch_size=8,
                  validation_data=(ds.X_val, ds.y_val))
    else:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(128 * 40, 784)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(X))]
        net = nnexp.Network.mlp(784, [256, 256], 10, activation="relu", output_activation="softmax")
        kw = dict(loss="cross_entropy", optimizer={"type": "sgd", "lr": 0.01}, batch_size=128)
    uri = tracking.resolve_uri("sqlite:///mlflow.db", root)
    tracker = tracking.RunTracker(uri=uri, experiment_id=tracking.ensure_experiment(uri, workload),
                                  run_name=workload, settings={"plot": False})
    with threadpool_limits(1, "blas"):
        nnexp.fit(net, X, y, epochs=10**9, callbacks=[Probe(steps), tracker], **kw)
''')


def rss_against_steps(workload: str, steps: list[int]) -> list[dict]:
    with tempfile.TemporaryDirectory() as root:
        out = subprocess.run([sys.executable, "-c", CHILD, workload, json.dumps(steps), root],
                             capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise SystemExit(out.stderr)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def start_long_run(root: Path) -> subprocess.Popen:
    return subprocess.Popen([str(NNEXP), "+experiment=tutorial", "trainer.epochs=100000000",
                             "tracking.plot=false"], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def record_of(root: Path):
    from nnexp.record import Record

    found = sorted((root / "nnexp-records").glob("*/meta.json"))
    return Record(found[0].parent) if found else None


def wait_training(proc, root: Path, seconds: float):
    """Wait until the run's record exists, then ``seconds`` more; return the record."""
    deadline = time.monotonic() + 300
    while record_of(root) is None or record_of(root).steps.last_key() == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the run did not start: {proc.stderr.read()}")
        time.sleep(0.05)
    time.sleep(seconds)
    return record_of(root)


def sender_done(record, timeout: float = 120) -> None:
    """Wait until the run's sender (which outlives the trainer) has ended the run."""
    from nnexp.tracking.sender import state

    deadline = time.monotonic() + timeout
    while not state(record).get("status_sent") and time.monotonic() < deadline:
        time.sleep(0.1)


def interrupt_latency(sig, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        proc = start_long_run(root)
        record = wait_training(proc, root, seconds)
        sent = time.perf_counter()
        proc.send_signal(sig)
        code = proc.wait(120)
        took = time.perf_counter() - sent
        meta = record.meta()
        sender_done(record)
        return {"signal": signal.Signals(sig).name, "trained_s": seconds, "exit_s": took, "code": code,
                "steps": meta.get("step"), "checkpoint": record.checkpoint_path().is_file(),
                "status": meta.get("status")}


def sigkill_window(seconds: float) -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        proc = start_long_run(root)
        record = wait_training(proc, root, seconds)
        started = record.path.joinpath("meta.json").stat().st_mtime  # written as training starts
        proc.send_signal(signal.SIGKILL)
        killed = time.time()
        proc.wait(60)
        parts = list((record.path / "parts" / "steps").glob("*.parquet"))
        last_flush = max(p.stat().st_mtime for p in parts)
        held = record.steps.last_key()
        rate = held / max(1e-9, last_flush - started)
        sender_done(record)  # the trainer's sender sees it gone and ends the run (KILLED, lost)
        reap = subprocess.run([str(NNEXP), "runs"], cwd=root, capture_output=True, text=True, timeout=300)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
        (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
        window = killed - last_flush
        return {"trained_s": seconds, "steps_held": held, "window_s": window, "window_steps": window * rate,
                "status_after": run.info.status, "failure": run.data.tags.get("nnexp.failure"),
                "reaped": "no longer RUNNING" in reap.stderr}


def checkpoint_cost(workload: str, epochs: int) -> dict:
    import numpy as np
    import scipy.linalg.blas  # noqa: F401
    from threadpoolctl import threadpool_limits

    import nnexp
    from nnexp.record import Recorder

    if workload == "tutorial":
        ds = nnexp.get_registry().create("dataset", "tutorial")
        X, y = ds.X_train, ds.y_train
        net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid")
        kw = dict(loss="half_squared_error", optimizer={"type": "adam", "lr": 0.05}, batch_size=8)
    else:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(128 * 40, 784)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(X))]
        net = nnexp.Network.mlp(784, [256, 256], 10, activation="relu", output_activation="softmax")
        kw = dict(loss="cross_entropy", optimizer={"type": "adam", "lr": 0.001}, batch_size=128)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1, "blas"):
        rec = Recorder(Path(tmp) / "r", {"plot": False}, checkpoint={"every_epochs": 1, "every_seconds": 0})
        t0 = time.perf_counter()
        nnexp.fit(net, X, y, epochs=epochs, callbacks=[rec], **kw)
        total = time.perf_counter() - t0
        size = rec.record.checkpoint_path().stat().st_size
    per = rec.timings["checkpoint"] / rec.timings["checkpoints"]
    steps = epochs * -(-len(X) // kw["batch_size"])
    step_time = (total - rec.timings["checkpoint"]) / steps
    return {"workload": workload, "checkpoint_ms": per * 1e3, "size_kb": size / 1024,
            "step_us": step_time * 1e6, "at_default_interval": per / 60.0,
            "every_epoch": per / (step_time * steps / epochs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--parts", default="rss,interrupt,kill,checkpoint",
                   help="which measurements, comma-separated (default: all)")
    args = p.parse_args()
    parts = set(args.parts.split(","))
    big = 10 ** 5 if args.quick else 10 ** 6
    print(f"# bench_durable ({time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.2f})\n")

    if "rss" in parts:
        rss(args.quick, big)
    if "interrupt" in parts:
        interrupts(args.quick)
    if "kill" in parts:
        kills()
    if "checkpoint" in parts:
        checkpoints()


def rss(quick: bool, big: int) -> None:
    print("## RSS against steps\n\n| workload | step | RSS (MB) | seconds |\n|---|---|---|---|")
    for workload, steps in (("tutorial", [10 ** 4, 3 * 10 ** 4, 10 ** 5, 3 * 10 ** 5, big]),
                            ("mlp", [200, 1000, 2000 if quick else 8000])):
        rows = rss_against_steps(workload, sorted(set(steps)))
        for row in rows:
            print(f"| {workload} | {row['step']} | {row['rss_mb']:.1f} | {row['seconds']:.1f} |")
        growth = rows[-1]["rss_mb"] - rows[0]["rss_mb"]
        print(f"| {workload} | growth {rows[0]['step']} -> {rows[-1]['step']} | **{growth:+.1f}** | |")


def interrupts(quick: bool) -> None:
    print("\n## Interrupt to exit\n\n| signal | after (s) | exit (s) | exit code | steps | status | checkpoint |"
          "\n|---|---|---|---|---|---|---|")
    for sig, seconds in ((signal.SIGINT, 5), (signal.SIGTERM, 5), (signal.SIGINT, 10 if quick else 60)):
        r = interrupt_latency(sig, seconds)
        print(f"| {r['signal']} | {r['trained_s']} | **{r['exit_s']:.2f}** | {r['code']} | {r['steps']} "
              f"| {r['status']} | {r['checkpoint']} |")


def kills() -> None:
    print("\n## SIGKILL loss window\n\n| after (s) | steps in the record | window (s) | window (steps) "
          "| after `nnexp runs` |\n|---|---|---|---|---|")
    for seconds in (5, 12):
        r = sigkill_window(seconds)
        print(f"| {r['trained_s']} | {r['steps_held']} | {r['window_s']:.2f} | {r['window_steps']:.0f} "
              f"| {r['status_after']} ({r['failure']}) |")


def checkpoints() -> None:
    print("\n## Checkpoint cost\n\n| workload | one checkpoint (ms) | size (KB) | step (µs) "
          "| at the default 60 s interval | at every epoch |\n|---|---|---|---|---|---|")
    for workload, epochs in (("tutorial", 300), ("mlp", 6)):
        r = checkpoint_cost(workload, epochs)
        print(f"| {workload} | {r['checkpoint_ms']:.2f} | {r['size_kb']:.0f} | {r['step_us']:.1f} "
              f"| **{r['at_default_interval']:.4%}** | {r['every_epoch']:.1%} |")


if __name__ == "__main__":
    main()
