"""What logging a network as an MLflow model costs, against what a run logs today.

Usage::

    python benchmarks/bench_model.py              # 5 repetitions of each
    python benchmarks/bench_model.py --reps 9

For the tutorial's 4-2-3 network and a 784-256-256-10 MLP, on a fresh SQLite store in a
temporary directory, each repetition a new run:

- ``log_model``: :func:`nnexp.tracking.model.log_model` (pyfunc model from code, signature,
  input example, MLflow's serving-input check, logged model linked to the run);
- ``+register``: the same with ``registered_model_name`` (a new registry version each time);
- ``npz artifact`` (reference): ``Network.save`` + ``MlflowClient.log_artifact``, what
  ``tracking.save_model`` costs a run today;
- ``xor job`` (reference): training the README's XOR network (2-4-2 tanh, adam, 300 epochs,
  untracked), a small sweep job's training.

The first ``log_model`` of a process also pays for importing ``mlflow.pyfunc`` and friends:
shown apart as ``first call``. Reported: median and fastest seconds, and each median as a
ratio to the two references measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import nnexp
from nnexp.tracking import ensure_experiment
from nnexp.tracking.store import client


def networks() -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    tutorial = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid", seed=0)
    mlp = nnexp.Network.mlp(784, [256, 256], 10, activation="relu", output_activation="softmax", seed=0)
    return {"tutorial 4-2-3": (tutorial, rng.normal(size=(16, 4))),
            "mlp 784-256-256-10": (mlp, rng.normal(size=(16, 784)))}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def xor_job() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], float)
    net = nnexp.Network.mlp(2, [4], 2, activation="tanh", output_activation="softmax", seed=0)
    nnexp.fit(net, X, y, loss="cross_entropy", optimizer={"type": "adam", "lr": 0.1}, epochs=300, batch_size=4)


def npz_artifact(mc, exp, net, tmp: Path) -> None:
    run_id = mc.create_run(exp).info.run_id
    mc.log_artifact(run_id, str(net.save(tmp / "model.npz")))


def measure(reps: int) -> list[tuple[str, str, list[float]]]:
    from nnexp.tracking.model import log_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        exp = ensure_experiment(uri, "bench")
        mc = client(uri)
        new_run = lambda: mc.create_run(exp).info.run_id  # noqa: E731
        rows.append(("xor job (reference)", "", [timed(xor_job) for _ in range(reps)]))
        first = None
        for label, (net, X) in networks().items():
            if first is None:
                first = timed(lambda: log_model(uri, new_run(), net, X))
                rows.append(("log_model, first call", label, [first]))
            rows.append(("npz artifact (reference)", label,
                         [timed(lambda: npz_artifact(mc, exp, net, Path(tmp))) for _ in range(reps)]))
            rows.append(("log_model", label, [timed(lambda: log_model(uri, new_run(), net, X))
                                              for _ in range(reps)]))
            rows.append(("log_model +register", label,
                         [timed(lambda: log_model(uri, new_run(), net, X, registered_model_name="bench"))
                          for _ in range(reps)]))
    return rows


def report(rows) -> None:
    xor = statistics.median(rows[0][2])
    npz = {label: statistics.median(t) for what, label, t in rows if what.startswith("npz")}
    print("| what | network | median (s) | fastest (s) | / npz artifact | / xor job |")
    print("|---|---|---|---|---|---|")
    for what, label, times in rows:
        med = statistics.median(times)
        vs_npz = f"{med / npz[label]:.1f}x" if label in npz else ""
        print(f"| {what} | {label} | {med:.3f} | {min(times):.3f} | {vs_npz} | {med / xor:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    report(measure(args.reps))


if __name__ == "__main__":
    main()
