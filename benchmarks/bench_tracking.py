"""Wall time of training with MLflow tracking on vs off, measured in the same run.

Usage::

    python benchmarks/bench_tracking.py              # both workloads, 5 interleaved repetitions
    python benchmarks/bench_tracking.py --reps 9 --only mlp

Workloads (one BLAS thread via threadpoolctl, synthetic data, sgd):

- ``mlp``: 784-256-256-10 ReLU MLP, softmax + cross_entropy, batch 128, 8 epochs of 40 steps;
- ``tutorial``: the 4-2-3 ReLU/sigmoid network, half squared error, lr 0.5, the ``tutorial``
  dataset (120 training samples), batch 8, 40 epochs (the ``+experiment=tutorial`` setup).

"on" is :class:`nnexp.tracking.RunTracker` at default settings on a fresh SQLite store in a
temporary directory, keeping every step's per-layer statistics. For each repetition the two
modes run back to back in alternating order; the ratio is the median over repetitions of
on/off. Reported:

- ``loop``: fit's wall time minus the tracker's one-off work (creating the run and logging
  params in ``on_run_start``; the final flush, artifacts and plots in ``on_run_end``), i.e.
  what tracking adds per step and per epoch; this is the number the 1.05x target is about;
- ``whole``: fit's wall time including that one-off work (its milliseconds are listed too);
- a breakdown of the loop overhead: statistics recording per step, the lifecycle hook
  dispatch per step (a no-op plugin), and MLflow flushes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import nnexp
from nnexp import tracking
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
        fused = [len(run.network.layers) - 1] if run.trainer.fused else []
        self.stats = StepStats(run.network, run.optimizer, skip_layers=fused)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)


def timed_fit(make, X, y, kwargs, callbacks=()) -> float:
    net = make()
    t0 = time.perf_counter()
    nnexp.fit(net, X, y, callbacks=list(callbacks), **kwargs)
    return time.perf_counter() - t0


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
        times = {}
        for mode, cbs in (modes if rep % 2 == 0 else modes[::-1]):
            times[mode] = timed_fit(make, X, y, kwargs, cbs)
        once = tracker.timings["start"] + tracker.timings["end"]
        rows.append({**times, "loop": times["on"] - once, "once": once, "flush": tracker.timings["flush"],
                     "steps": kwargs["epochs"] * -(-len(X) // kwargs["batch_size"])})
    return summarise(name, rows)


def summarise(name: str, rows: list[dict]) -> dict:
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    ratio = lambda key: statistics.median(r[key] / r["off"] for r in rows)  # noqa: E731
    steps = rows[0]["steps"]
    per_step = lambda key: (med(key) - med("off")) / steps * 1e6  # noqa: E731
    return {"workload": name, "steps": steps, "off_s": med("off"), "loop_ratio": ratio("loop"),
            "whole_ratio": ratio("on"), "once_ms": med("once") * 1e3, "flush_ms": med("flush") * 1e3,
            "off_us_per_step": med("off") / steps * 1e6, "loop_us_per_step": per_step("loop"),
            "stats_us_per_step": per_step("stats"), "hook_us_per_step": per_step("noop")}


def report(results: list[dict]) -> str:
    lines = ["| workload | steps | off (s) | loop ratio | whole ratio | one-off (ms) | flushes (ms) "
             "| step off (µs) | +loop (µs/step) | +stats only | +hook only |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['workload']} | {r['steps']} | {r['off_s']:.3f} | {r['loop_ratio']:.3f}x "
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


if __name__ == "__main__":
    main()
