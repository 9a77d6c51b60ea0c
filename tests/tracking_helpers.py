"""Shared by the tracking tests: small tracked runs and sweeps in a real MLflow store."""

from __future__ import annotations

import socket

import numpy as np

import nnexp
from nnexp import tracking

FAST = {"plot": False}  # pictures cost ~1 s per run; one test checks them


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, output, timeout: float = 120) -> None:
    """Wait until the ``mlflow server`` ``proc`` answers ``url``/health; ``output()`` is what
    it printed, shown if it exits or never answers."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mlflow server exited: {output()}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"mlflow server at {url} not healthy after {timeout} s: {output()}")


def data(seed: int = 0, n: int = 48):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)]
    return X, y


def tutorial_net(seed: int = 0, output_activation: str = "sigmoid"):
    return nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation=output_activation,
                             dtype="float64", seed=seed)


def tracked_fit(uri, experiment_id, *, run_name="run", lr=0.5, epochs=3, seed=0, settings=None,
                parent=None, callbacks=(), params=None, tags=None, batch_size=8, optimizer="sgd",
                output_activation="sigmoid"):
    """Train the tutorial network with a RunTracker; return (tracker, exception, last metrics)."""
    X, y = data(seed)
    tracker = tracking.RunTracker(
        uri=uri, experiment_id=experiment_id, run_name=run_name,
        params=params if params is not None else {"optimizer.lr": lr, "seed": seed},
        tags=tags or {"nnexp.overrides": f"optimizer.lr={lr} seed={seed}"},
        config_yaml=f"optimizer:\n  lr: {lr}\nseed: {seed}\n", parent_run_id=parent,
        settings={**FAST, **(settings or {})})
    error, history = None, None
    try:
        history = nnexp.fit(tutorial_net(seed, output_activation), X, y, loss="half_squared_error",
                  optimizer={"type": optimizer, "lr": lr}, epochs=epochs, batch_size=batch_size,
                  validation_data=data(seed + 100, 16), callbacks=[tracker, *callbacks])
    except (nnexp.NnexpError, KeyboardInterrupt) as exc:
        error = exc
    settled(tracker)
    return tracker, error, (history.last if history else {})


def settled(tracker, timeout: float = 60):
    """Wait until the sender has sent all of the tracker's run (an interrupted run's tracker
    waits only for its status, and only a second); return the tracker."""
    if tracker.record is not None:
        tracker.sender.wait(tracker.record, lambda st: st.get("synced"), timeout)
    return tracker


def make_sweep(uri, experiment_id, lrs=(0.2, 1.0), seeds=(0, 1), diverge_lr=None):
    """A sweep of lr x seed jobs (plus one job with a linear output and ``diverge_lr`` that
    diverges); returns (parent run id, jobs, summary)."""
    parent = tracking.start_sweep(uri, experiment_id, "sweep-test", {"nnexp.command": "test"})
    jobs = []
    grid = [(lr, s) for lr in lrs for s in seeds] + ([(diverge_lr, 0)] if diverge_lr else [])
    for lr, seed in grid:
        name = f"lr={lr}-seed={seed}"
        out = "identity" if lr == diverge_lr else "sigmoid"
        tracker, error, metrics = tracked_fit(uri, experiment_id, run_name=name, lr=lr, seed=seed,
                                              parent=parent, epochs=2, output_activation=out)
        jobs.append({"run_id": tracker.run_id, "run_name": name, "status": tracker.status,
                     "overrides": [f"optimizer.lr={lr}", f"seed={seed}"],
                     "error": None if error is None else str(error), "metrics": metrics,
                     "params": {"optimizer.lr": str(lr), "seed": str(seed), "epochs": "2"}})
    summary = tracking.end_sweep(uri, parent, jobs, "FINISHED")
    return parent, jobs, summary
