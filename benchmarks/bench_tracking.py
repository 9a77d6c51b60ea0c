"""Wall time of training with tracking (the record, fed to MLflow by the sender) on vs off,
measured in the same run.

Usage::

    python benchmarks/bench_tracking.py              # both workloads, 5 interleaved repetitions
    python benchmarks/bench_tracking.py --reps 9 --only mlp

Workloads (one BLAS thread via threadpoolctl, synthetic data, sgd):

- ``mlp``: 784-256-256-10 ReLU MLP, softmax + cross_entropy, batch 128, 8 epochs of 40 steps;
- ``tutorial``: the 4-2-3 ReLU/sigmoid network, half squared error, lr 0.5, the ``tutorial``
  dataset (120 training samples), batch 8, 40 epochs (the ``+experiment=tutorial`` setup).

"on" is :class:`nnexp.tracking.RunTracker` at default settings on a fresh SQLite store in a
temporary directory, keeping every step's per-layer statistics. For each repetition the two
modes run back to back in alternating order. Ratios compare each mode's fastest repetition
(the one least disturbed by other processes); medians of per-repetition ratios are shown too.
Reported:

- ``loop``: the training loop, from the end of ``on_run_start`` to the start of
  ``on_run_end`` (marked by :class:`Clock` plugins): what tracking adds per step and per
  epoch. The 1.05x target is about this ratio; the CPU column uses thread CPU time, which a
  loaded machine disturbs less than wall time;
- ``whole``: fit's wall time including the tracker's one-off work (creating the run, params;
  the final flush, artifacts and plots), whose milliseconds are listed as ``one-off``;
- ``flushes``: time writing the run's record (Parquet parts, the metrics journal), the
  training process's whole share of tracking I/O: MLflow is fed from the record by the
  command's sender process, which never runs in the training loop;
- the per-step overhead of the loop, of the statistics alone (no MLflow), and of a no-op
  ``on_step_end`` plugin (the lifecycle hook dispatch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.linalg.blas  # noqa: F401 - load scipy's OpenBLAS (sgd's axpy) before limiting threads
from threadpoolctl import threadpool_limits

import nnexp
from nnexp import tracking
from nnexp.plugins import direct_caller
from nnexp.stats import StepStats


def mlp_workload():
    rng = np.random.default_rng(0)
    n = 128 * 40
    X = rng.normal(size=(n, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    make = lambda: nnexp.Network.mlp(784, [256, 256], 10, activation="relu",  # noqa: E731
                                     output_activation="softmax", seed=0)
    return make, X, y, {"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.01},
                        "epochs": 8, "batch_size": 128}


def tutorial_workload():
    ds = nnexp.get_registry().create("dataset", "tutorial")
    make = lambda: nnexp.Network.mlp(4, [2], 3, activation="relu",  # noqa: E731
                                     output_activation="sigmoid", dtype="float64", seed=0)
    return make, ds.X_train, ds.y_train, {"loss": "half_squared_error", "epochs": 40,
                                          "optimizer": {"type": "sgd", "lr": 0.5}, "batch_size": 8,
                                          "validation_data": (ds.X_val, ds.y_val)}


WORKLOADS = {"mlp": mlp_workload, "tutorial": tutorial_workload}


class Noop:
    """A plugin that subscribes to every step and does nothing: the hook dispatch cost."""

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        pass


class StatsOnly:
    """Records the per-step statistics and nothing else (no MLflow)."""

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats = StepStats.for_run(run)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)


class Clock:
    """Marks the training loop: the last plugin called in on_run_start and the first in
    on_run_end (pluggy calls later-registered plugins first), in wall and CPU time."""

    def __init__(self, edge: str):
        self.edge = edge
        self.wall = self.cpu = 0.0

    @nnexp.hookimpl
    def on_run_start(self, run):
        if self.edge == "start":
            self.wall, self.cpu = time.perf_counter(), time.thread_time()

    @nnexp.hookimpl
    def on_run_end(self, run, status, error):
        if self.edge == "end":
            self.wall, self.cpu = time.perf_counter(), time.thread_time()


def timed_fit(make, X, y, kwargs, callbacks=()) -> dict:
    """Wall time of the whole fit, and wall and CPU (thread) time of its training loop."""
    net = make()
    start, end = Clock("start"), Clock("end")
    t0 = time.perf_counter()
    nnexp.fit(net, X, y, callbacks=[start, *callbacks, end], **kwargs)
    whole = time.perf_counter() - t0
    return {"whole": whole, "loop": end.wall - start.wall, "cpu": end.cpu - start.cpu}


def tracked(uri, exp, name):
    return tracking.RunTracker(uri=uri, experiment_id=exp, run_name=name, params={"bench": name},
                               config_yaml="bench: true\n")


def measure(name: str, reps: int, uri: str, exp: str) -> dict:
    make, X, y, kwargs = WORKLOADS[name]()
    timed_fit(make, X, y, kwargs, [tracked(uri, exp, "warmup")])  # imports, first-run caches
    rows = []
    for rep in range(reps):
        tracker = tracked(uri, exp, f"{name}-{rep}")
        modes = [("off", ()), ("on", (tracker,)), ("noop", (Noop(),)), ("stats", (StatsOnly(),))]
        t = {}
        for mode, cbs in (modes if rep % 2 == 0 else modes[::-1]):
            t[mode] = timed_fit(make, X, y, kwargs, cbs)
        rows.append({"off": t["off"]["loop"], "loop": t["on"]["loop"], "whole": t["on"]["whole"],
                     "off_whole": t["off"]["whole"], "cpu_ratio": t["on"]["cpu"] / t["off"]["cpu"],
                     "noop": t["noop"]["loop"], "stats": t["stats"]["loop"],
                     "once": t["on"]["whole"] - t["on"]["loop"], "flush": tracker.recorder.timings["flush"],
                     "steps": kwargs["epochs"] * -(-len(X) // kwargs["batch_size"])})
    return summarise(name, rows)


def steady_state(name: str, uri: str, exp: str, reps: int = 60) -> dict:
    """Per-step cost with and without a live RunTracker, steps timed in short bursts.

    A burst of ``k`` training steps (with the tracker: plus the ``on_step_end`` hook call as
    fit makes it, through :func:`nnexp.plugins.direct_caller`) is timed ``reps`` times per
    mode, interleaved; the fastest burst of each mode is kept, which filters out other
    processes' interference far better than whole runs.
    """
    make, X, y, kwargs = WORKLOADS[name]()
    net, bs = make(), kwargs["batch_size"]
    trainer = nnexp.Trainer(net, kwargs["loss"], kwargs["optimizer"])
    run = nnexp.Run(trainer, epochs=1, batch_size=bs, config=None, schedule=None, classification=True)
    run.steps_per_epoch, run.epoch = 1000, 1
    tracker = tracked(uri, exp, f"{name}-steady")
    pm = net.registry.pm
    pm.register(tracker)
    pm.hook.on_run_start(run=run)
    k = max(3, int(3e-3 / (timed_steps(trainer, run, X, y, bs, 1, None) + 1e-9)))
    best = {"off": float("inf"), "on": float("inf")}
    step_end = direct_caller(pm, "on_step_end", ("run", "loss"))
    for rep in range(reps):
        for mode in (("off", "on") if rep % 2 == 0 else ("on", "off")):
            hook = step_end if mode == "on" else None
            best[mode] = min(best[mode], timed_steps(trainer, run, X, y, bs, k, hook))
    pm.hook.on_run_end(run=run, status="FINISHED", error=None)
    pm.unregister(tracker)
    return {"off_us": best["off"] * 1e6, "on_us": best["on"] * 1e6, "ratio": best["on"] / best["off"]}


def timed_steps(trainer, run, X, y, bs: int, k: int, hook) -> float:
    """Seconds per step over a burst of ``k`` steps on consecutive batches."""
    n = len(X)
    t0 = time.perf_counter()
    for i in range(k):
        start = (i * bs) % (n - bs + 1)
        value = trainer.train_step(X[start:start + bs], y[start:start + bs])
        run.step += 1
        if hook is not None:
            hook(run, value)
    return (time.perf_counter() - t0) / k


def summarise(name: str, rows: list[dict]) -> dict:
    """Ratios of the fastest repetition of each mode (the least disturbed by other load),
    and the median of the per-repetition ratios beside them."""
    low = lambda key: min(r[key] for r in rows)  # noqa: E731
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    steps = rows[0]["steps"]
    per_step = lambda key: (low(key) - low("off")) / steps * 1e6  # noqa: E731
    return {"workload": name, "steps": steps, "off_s": low("off"), "loop_ratio": low("loop") / low("off"),
            "loop_ratio_med": statistics.median(r["loop"] / r["off"] for r in rows),
            "cpu_ratio": med("cpu_ratio"), "whole_ratio": low("whole") / low("off_whole"),
            "once_ms": med("once") * 1e3, "flush_ms": med("flush") * 1e3,
            "off_us_per_step": low("off") / steps * 1e6, "loop_us_per_step": per_step("loop"),
            "stats_us_per_step": per_step("stats"), "hook_us_per_step": per_step("noop")}


def report(results: list[dict]) -> str:
    lines = ["| workload | steps | loop off (s) | loop ratio (fastest) | loop ratio (median) "
             "| loop ratio (CPU, median) | whole ratio | one-off (ms) | record flushes (ms) | step off (µs) "
             "| +loop (µs/step) | +stats only | +hook only |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['workload']} | {r['steps']} | {r['off_s']:.3f} | {r['loop_ratio']:.3f}x "
                     f"| {r['loop_ratio_med']:.3f}x "
                     f"| {r['cpu_ratio']:.3f}x "
                     f"| {r['whole_ratio']:.2f}x | {r['once_ms']:.0f} | {r['flush_ms']:.1f} "
                     f"| {r['off_us_per_step']:.1f} | {r['loop_us_per_step']:.1f} "
                     f"| {r['stats_us_per_step']:.1f} | {r['hook_us_per_step']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", choices=sorted(WORKLOADS))
    args = parser.parse_args()
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        uri = tracking.resolve_uri("sqlite:///bench.db", Path(tmp))
        exp = tracking.ensure_experiment(uri, "bench")
        names = [args.only] if args.only else list(WORKLOADS)
        print(report([measure(n, args.reps, uri, exp) for n in names]))
        print("\nSteady state per step (fastest of interleaved bursts):\n")
        print("| workload | step off (µs) | step with tracker (µs) | ratio |\n|---|---|---|---|")
        for n in names:
            r = steady_state(n, uri, exp)
            print(f"| {n} | {r['off_us']:.1f} | {r['on_us']:.1f} | {r['ratio']:.3f}x |")


if __name__ == "__main__":
    main()
