"""Regenerate the PNGs that docs/results.md shows (all but vanishing_gradients.png, which
comes from a tracked sweep: see docs/results.md). Run from the repository root::

    OPENBLAS_NUM_THREADS=1 python docs/images/make_images.py

Runs use the shipped experiment configs, composed by Hydra exactly as the ``nnexp`` command
composes them; each run's record is written as its MLflow artifacts lay it out (config.yaml,
model.npz, stats/) and its pictures are drawn from that folder by
:func:`nnexp.plots.draw_run`, the same entry point ``nnexp plot run`` uses.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nnexp
from nnexp import plots
from nnexp.stats import GradHistograms, StepStats

HERE = Path(__file__).resolve().parent
#: (docs name, overrides, title) of the vanishing-gradient runs whose heat maps the docs show.
VANISHING = [
    ("vanishing_sigmoid", ["+experiment=vanishing"], "Sigmoid, 10 hidden layers, Xavier init"),
    ("vanishing_relu", ["+experiment=vanishing", "model.activation=relu", "model.init=he_normal"],
     "ReLU, 10 hidden layers, He init"),
]


class Recorder:
    """Per-step statistics and gradient histograms, as the tracker keeps them."""

    def __init__(self, every: int):
        self.every = every

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats = StepStats.for_run(run)
        self.hist = GradHistograms(run.network, bins=24)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)
        if run.step % self.every == 1:
            self.hist.record(run.step, run.epoch)


def record_run(overrides: list[str], registry, folder: Path, every: int = 50) -> Path:
    """Compose ``nnexp <overrides>``, train it, write its record into ``folder``."""
    from hydra import compose, initialize_config_module

    from nnexp.config import build_parts
    from nnexp.plots.record import write_record

    with initialize_config_module("nnexp.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "tracking=off"])
    parts = build_parts(cfg, registry)
    ds, rec = parts.dataset, Recorder(every)
    history = nnexp.fit(parts.network, ds.X_train, ds.y_train, loss=parts.loss,
                        optimizer=parts.optimizer, epochs=cfg.trainer.epochs,
                        batch_size=cfg.trainer.batch_size, validation_data=(ds.X_val, ds.y_val),
                        shuffle=cfg.trainer.shuffle, schedule=parts.schedule, task=parts.task,
                        callbacks=[rec], registry=registry)
    return write_record(folder, history=history, steps=rec.stats, grad_hist=rec.hist,
                        network=parts.network, config=cfg)


def publish(paths: list[Path], prefix: str, only=None) -> None:
    """Copy drawn pictures here as ``<prefix>_<name>.png`` (those named in ``only``, or all)."""
    for path in paths:
        if only is None or path.name in only:
            shutil.copy(path, HERE / f"{prefix}_{path.name}")
            print(f"wrote {HERE / f'{prefix}_{path.name}'}")


def main() -> None:
    from nnexp.config import register_configs

    registry = nnexp.get_registry()
    register_configs(registry)
    plots.plot_activations(HERE / "activations.png", registry=registry)
    plots.plot_losses(HERE / "losses.png", registry=registry)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spirals = record_run(["+experiment=spirals", "model.hidden=[64,64]",
                              "model.activation=relu", "trainer.epochs=100"], registry, tmp / "spirals")
        publish(plots.draw_run(spirals, tmp / "spirals_plots", registry=registry,
                               title="Two spirals"), "spirals")
        for name, overrides, title in VANISHING:
            folder = record_run(overrides, registry, tmp / name)
            publish(plots.draw_run(folder, tmp / f"{name}_plots", registry=registry, title=title),
                    name, only=("grad_norms.png",))


if __name__ == "__main__":
    main()
