"""Time to draw a run's pictures: today's nnexp.plots against the implementation before the
rewrite (loaded from git, same run, same data), per picture and for a whole run, and a long
run against a short one.

Usage (from the repository root, in a git checkout)::

    python benchmarks/bench_plots.py              # 3 repetitions, fastest of each kept
    python benchmarks/bench_plots.py --reps 5 --long-steps 1000000

Workloads (real trainings recorded as the tracker records them: every step's statistics,
gradient histograms at each epoch's end with 32 bins):

- ``xor``: the ``+experiment=xor`` network (2-4-2 tanh, softmax, adam 0.1, 60 epochs of 1 step);
- ``spirals``: the ``+experiment=spirals`` network (2-64-64-2 relu, 100 epochs of 19 steps);
- ``long``: a synthetic record with the spirals network's columns: ``--long-steps`` per-step
  rows (default 10^6), ``--long-epochs`` epochs (default 5000) and one histogram per epoch,
  with the spirals run's ``model.npz`` and ``config.yaml`` (so all four pictures are drawn).

"before" is ``nnexp/plots/run.py`` at ``BEFORE`` (its figures on today's figure helpers),
fed as the tracker fed it (History, ``steps.csv``, ``grad_hist.npz``, network and dataset in
memory). "after" is :func:`nnexp.plots.draw_run` on the run's record folder (so it includes
reading ``stats/*.parquet``, ``model.npz`` and rebuilding the dataset from ``config.yaml``);
per picture, "after" draws from the record already read. Times are the least thread CPU
time over the repetitions (one BLAS thread), before, after and ``empty`` interleaved; each
is also given in units of ``empty``: saving an empty 8x4-inch figure as PNG, measured
beside it.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

import nnexp
from nnexp import plots
from nnexp.plots._figure import DPI
from nnexp.plots.record import read_record, write_record
from nnexp.plots.run import pictures
from nnexp.stats import GradHistograms, StepStats

BEFORE = "4a25134a064bb29b39bbcc5a158c7006a3692d98"  # the last commit with the old pictures
ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {  # dataset, hidden, activation, lr, epochs, batch size
    "xor": ("xor", [4], "tanh", 0.1, 60, 4),
    "spirals": ("spirals", [64, 64], "relu", 0.01, 100, 32),
}


def old_module():
    """nnexp/plots/run.py as it was at BEFORE, as a module."""
    source = subprocess.run(["git", "show", f"{BEFORE}:nnexp/plots/run.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("plots_before")
    exec(compile(source, "plots_before/run.py", "exec"), module.__dict__)  # noqa: S102
    return module


class Recorder:
    """Per-step statistics and per-epoch histograms, as the tracker keeps them by default."""

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats, self.hist = StepStats.for_run(run), GradHistograms(run.network, bins=32)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)

    @nnexp.hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        self.hist.record(run.step, epoch)


def real_run(name: str, folder: Path) -> dict:
    """Train a workload; write its record (and the tracker's old files) into ``folder``."""
    data, hidden, act, lr, epochs, batch = WORKLOADS[name]
    spec = {"type": data, "seed": 0}
    ds = nnexp.get_registry().create("dataset", spec)
    net = nnexp.Network.mlp(2, hidden, 2, activation=act, output_activation="softmax", seed=0)
    rec = Recorder()
    history = nnexp.fit(net, ds.X_train, ds.y_train, loss="cross_entropy", epochs=epochs,
                        optimizer={"type": "adam", "lr": lr}, batch_size=batch,
                        validation_data=(ds.X_val, ds.y_val), callbacks=[rec])
    write_record(folder, history=history, steps=rec.stats, grad_hist=rec.hist, network=net,
                 config={"seed": 0, "dataset": spec})
    rec.stats.write_csv(folder / "stats" / "steps.csv")  # what the old code read
    return {"history": history, "network": net, "dataset": ds, "steps": rec.stats.n}


def long_run(folder: Path, n_steps: int, n_epochs: int, like: Path) -> int:
    """A synthetic record with the spirals network's columns, ``n_steps`` rows, and the
    network and config of the run in ``like``."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for name in ("model.npz", "config.yaml"):
        shutil.copy(like / name, folder / name)
    params = [f"dense_{i}.{k}" for i in range(3) for k in "Wb"]
    columns = {"step": np.arange(1, n_steps + 1), "epoch": np.arange(n_steps) * n_epochs // n_steps + 1,
               "loss": rng.random(n_steps)}
    decay = np.exp(-np.arange(n_steps) / n_steps * 5)
    for stat in ("grad_norm", "grad_max", "weight_norm", "update_ratio"):
        for p in params:
            columns[f"{stat}/{p}"] = decay * rng.lognormal(0, 0.5, n_steps)
    for layer in ("relu_0", "relu_1"):
        columns[f"dead_frac/{layer}"] = rng.random(n_steps)
    (folder / "stats").mkdir()
    pd.DataFrame(columns).to_parquet(folder / "stats" / "steps.parquet", index=False)
    epochs = pd.DataFrame({k: np.exp(-np.arange(n_epochs) / 500) + rng.random(n_epochs) * 0.01
                           for k in ("loss", "val_loss")} | {"accuracy": rng.random(n_epochs),
                                                             "val_accuracy": rng.random(n_epochs)},
                          index=pd.RangeIndex(1, n_epochs + 1, name="epoch"))
    epochs.to_parquet(folder / "stats" / "epochs.parquet")
    hist = {"steps": np.arange(1, n_epochs + 1) * (n_steps // n_epochs),
            "epochs": np.arange(1, n_epochs + 1)}
    for p, size in zip(params, (128, 64, 4096, 64, 128, 2)):
        hist[f"counts/{p}"] = rng.multinomial(size, np.full(32, 1 / 32), n_epochs)
        hist[f"edges/{p}"] = np.linspace(-1, 1, 33) * rng.lognormal(-3, 1, (n_epochs, 1))
    np.savez(folder / "stats" / "grad_hist.npz", **hist)
    return n_steps


def fastest(calls: dict, reps: int) -> dict:
    """Name -> the least CPU time of this thread over ``reps`` calls of each (after one
    untimed warm-up call each), the calls interleaved so that all see the same machine.

    Drawing runs on one thread (BLAS is limited to one in :func:`main`), so thread CPU time
    is the work done, and is less disturbed than wall time by other jobs on the machine."""
    for fn in calls.values():
        fn()
    best = {name: float("inf") for name in calls}
    for _ in range(reps):
        for name, fn in calls.items():
            t0 = time.thread_time()
            fn()
            best[name] = min(best[name], time.thread_time() - t0)
    return best


def save(fig) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=DPI)


def old_pictures(old, run: dict, folder: Path) -> dict:
    """Picture name -> figure builder, the old code fed as the tracker fed it."""
    stats = folder / "stats"
    return {"curves.png": lambda: old.curves_figure(run["history"]),
            "decision_boundary.png": lambda: old.decision_boundary_figure(run["network"], run["dataset"]),
            "grad_norms.png": lambda: old.grad_heatmap_figure(stats / "steps.csv"),
            "grad_hist.png": lambda: old.grad_hist_figure(stats / "grad_hist.npz")}


def measure(name: str, folder: Path, run: dict | None, old, reps: int, out: Path) -> list[tuple]:
    """Rows (workload, what, before s or None, after s, empty s) for each picture and the
    whole run; ``empty`` (the unit) is measured interleaved with each row."""
    record = read_record(folder)
    olds = old_pictures(old, run, folder) if run else {}
    rows = []
    for picture, build in pictures(record):
        calls = {"after": lambda: save(build()), "empty": save_empty}
        if picture in olds:
            calls["before"] = lambda: save(olds[picture]())
        best = fastest(calls, reps)
        rows.append((name, picture, best.get("before"), best["after"], best["empty"]))
    calls = {"after": lambda: plots.draw_run(folder, out / name / "after"), "empty": save_empty}
    if run:
        stats = folder / "stats"
        calls["before"] = lambda: old.plot_run(run["history"], stats / "steps.csv",
                                               out / name / "before", network=run["network"],
                                               dataset=run["dataset"], grad_hist=stats / "grad_hist.npz")
    best = fastest(calls, reps)
    rows.append((name, "whole run", best.get("before"), best["after"], best["empty"]))
    return rows


def save_empty() -> None:
    save(Figure(figsize=(8, 4)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--long-steps", type=int, default=1_000_000)
    p.add_argument("--long-epochs", type=int, default=5_000)
    args = p.parse_args()
    with threadpool_limits(1):
        run_all(args)


def run_all(args) -> None:
    old = old_module()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in WORKLOADS:
            run = real_run(name, tmp / name)
            print(f"{name}: {run['steps']} steps, {len(run['history'])} epochs", flush=True)
            rows += measure(name, tmp / name, run, old, args.reps, tmp / "out")
        long_run(tmp / "long", args.long_steps, args.long_epochs, like=tmp / "spirals")
        print(f"long: {args.long_steps} steps, {args.long_epochs} epochs (synthetic)", flush=True)
        rows += measure("long", tmp / "long", None, old, args.reps, tmp / "out")
    report(rows)


def report(rows: list[tuple]) -> None:
    print("\n| workload | picture | before (s) | after (s) | after / before | before (empty=1) "
          "| after (empty=1) |")
    print("|---|---|---|---|---|---|---|")
    for name, what, before, after, empty in rows:
        ratio = f"{after / before:.2f}x" if before else "-"
        b, bu = (f"{before:.3f}", f"{before / empty:.0f}") if before else ("-", "-")
        print(f"| {name} | {what} | {b} | {after:.3f} | {ratio} | {bu} | {after / empty:.0f} |")
    empties = [e for *_, e in rows]
    print(f"\nempty: an empty 8x4-inch figure saved as PNG, {min(empties) * 1000:.1f}-"
          f"{max(empties) * 1000:.1f} ms over the rows")
    whole = {name: (after, empty) for name, what, _, after, empty in rows if what == "whole run"}
    long, short = whole["long"][0] / whole["long"][1], whole["spirals"][0] / whole["spirals"][1]
    print(f"long run / spirals run, whole run after (in empty units): {long / short:.2f}x")


if __name__ == "__main__":
    main()
