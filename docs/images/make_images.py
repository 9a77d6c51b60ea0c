"""Regenerate the PNGs that docs/results.md shows (all but vanishing_gradients.png, which
comes from a tracked sweep: see docs/results.md). Run from the repository root::

    OPENBLAS_NUM_THREADS=1 python docs/images/make_images.py

Runs use the shipped experiment configs, composed by Hydra exactly as the ``nnexp`` command
composes them, and record per-step statistics with the same classes the MLflow tracker uses.
"""

from __future__ import annotations

from pathlib import Path

import nnexp
from nnexp import plots
from nnexp.plots._figure import save
from nnexp.stats import GradHistograms, StepStats

HERE = Path(__file__).resolve().parent


class Recorder:
    """Per-step statistics and gradient histograms, as the tracker keeps them."""

    def __init__(self, every: int):
        self.every = every

    @nnexp.hookimpl
    def on_run_start(self, run):
        fused = run.trainer.fused
        self.stats = StepStats(run.network, run.optimizer,
                               skip_layers=[len(run.network.layers) - 1] if fused else [])
        self.hist = GradHistograms(run.network, bins=24)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)
        if run.step % self.every == 1:
            self.hist.record(run.step, run.epoch)


def train(overrides: list[str], registry, every: int = 50):
    """Compose ``nnexp <overrides>``, train it; return (history, steps table, recorder, parts)."""
    import pandas as pd
    from hydra import compose, initialize_config_module

    from nnexp.config import build_parts

    with initialize_config_module("nnexp.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "tracking=off"])
    parts = build_parts(cfg, registry)
    ds, rec = parts.dataset, Recorder(every)
    history = nnexp.fit(parts.network, ds.X_train, ds.y_train, loss=parts.loss,
                        optimizer=parts.optimizer, epochs=cfg.trainer.epochs,
                        batch_size=cfg.trainer.batch_size, validation_data=(ds.X_val, ds.y_val),
                        shuffle=cfg.trainer.shuffle, schedule=parts.schedule, task=parts.task,
                        callbacks=[rec], registry=registry)
    columns, values = rec.stats.table()
    steps = pd.DataFrame(values, columns=columns).set_index("step")
    return history, steps, rec, parts


def main() -> None:
    from nnexp.config import register_configs

    registry = nnexp.get_registry()
    register_configs(registry)
    plots.plot_activations(HERE / "activations.png", registry=registry)
    plots.plot_losses(HERE / "losses.png", registry=registry)
    history, steps, rec, parts = train(["+experiment=spirals", "model.hidden=[64,64]",
                                        "model.activation=relu", "trainer.epochs=100"], registry)
    save(plots.curves_figure(history, "Two spirals: training curves"), HERE / "spirals_curves.png")
    save(plots.decision_boundary_figure(parts.network, parts.dataset),
         HERE / "spirals_decision_boundary.png")
    save(plots.grad_heatmap_figure(steps, "Two spirals: gradient norm per layer over training"),
         HERE / "spirals_grad_norms.png")
    save(plots.grad_hist_figure(_hist(rec.hist), "Two spirals: gradient histograms over training"),
         HERE / "spirals_grad_hist.png")
    _, steps, _, _ = train(["+experiment=vanishing"], registry)
    save(plots.grad_heatmap_figure(steps, "Sigmoid, 10 hidden layers, Xavier init: gradient norm "
                                   "per layer over training"), HERE / "vanishing_sigmoid_grad_norms.png")
    _, steps, _, _ = train(["+experiment=vanishing", "model.activation=relu",
                            "model.init=he_normal"], registry)
    save(plots.grad_heatmap_figure(steps, "ReLU, 10 hidden layers, He init: gradient norm per "
                                   "layer over training"), HERE / "vanishing_relu_grad_norms.png")


def _hist(hist) -> dict:
    """A GradHistograms' records as the arrays its .npz holds."""
    import tempfile

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        hist.save(Path(tmp) / "h.npz")
        with np.load(Path(tmp) / "h.npz") as data:
            return {k: data[k] for k in data.files}


if __name__ == "__main__":
    main()
