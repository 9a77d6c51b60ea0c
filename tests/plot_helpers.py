"""Shared by the picture tests: a real small training written out as a run's record (the
files of its MLflow artifacts), and checks on drawn figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import nnexp
from nnexp.stats import GradHistograms, StepStats

PNG = b"\x89PNG\r\n\x1a\n"
#: The moons run's dataset section, as config.yaml holds it.
MOONS = {"type": "moons", "n": 200, "seed": 3}


class Recorder:
    """Records the per-step table and histograms as the tracker does."""

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats = StepStats.for_run(run)
        self.hist = GradHistograms(run.network, bins=8)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)
        if run.step % 10 == 1:
            self.hist.record(run.step, run.epoch)


def train_moons(registry, epochs: int = 5):
    """(history, network, dataset, recorder) of a real small training on two moons."""
    ds = registry.create("dataset", dict(MOONS))
    net = nnexp.Network.mlp(2, [8, 8], 2, activation="tanh", output_activation="softmax",
                            registry=registry)
    rec = Recorder()
    history = nnexp.fit(net, ds.X_train, ds.y_train, loss="cross_entropy",
                        optimizer={"type": "adam", "lr": 0.01}, epochs=epochs,
                        validation_data=(ds.X_val, ds.y_val), callbacks=[rec], registry=registry)
    return history, net, ds, rec


def steps_table(rec) -> pd.DataFrame:
    columns, values = rec.stats.table()
    return pd.DataFrame(values, columns=columns)


def write_record(folder: Path, history, net, rec, *, steps: str = "parquet") -> Path:
    """The run's record as its MLflow artifacts lay it out: config.yaml, model.npz and
    stats/{steps.parquet or steps.csv, epochs.parquet, grad_hist.npz}."""
    from nnexp.plots.record import write_record as write

    write(folder, history=history, network=net, grad_hist=rec.hist,
          steps=rec.stats if steps == "parquet" else None, config={"seed": 0, "dataset": MOONS})
    if steps == "csv":
        rec.stats.write_csv(folder / "stats" / "steps.csv")
    return folder


def assert_png(path):
    data = Path(path).read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def visible(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def drawn_texts(fig):
    """(owner, window extent) of every visible, non-empty text of a drawn figure: titles,
    labels, tick labels, legends; owner is the axes (or the figure) it belongs to."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    out = [(fig, t.get_window_extent(renderer)) for t in fig.texts
           if t.get_visible() and t.get_text()]
    for name in ("_suptitle", "_supxlabel"):
        t = getattr(fig, name, None)
        if t is not None and t.get_visible() and t.get_text():
            out.append((fig, t.get_window_extent(renderer)))
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *shown_tick_labels(ax.xaxis),
                 *shown_tick_labels(ax.yaxis)]
        out += [(ax, t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text()]
    return out


def shown_tick_labels(axis):
    """The tick labels an axis draws: those of major ticks inside its view interval."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
    return [t.label1 for t in axis.get_major_ticks()
            if lo - slack <= t.get_loc() <= hi + slack and t.label1.get_visible()]


def layout_faults(fig) -> list[str]:
    """Texts that leave the figure, or overlap a text of another axes: a readable picture
    has none."""
    texts = drawn_texts(fig)
    page = fig.bbox
    faults = [f"outside: {box}" for _, box in texts
              if box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1 or box.y0 < page.y0 - 1
              or box.y1 > page.y1 + 1]
    for i, (a, box) in enumerate(texts):
        for b, other in texts[i + 1:]:
            if a is not b and box.overlaps(other) and np.isfinite([box.x0, other.x0]).all():
                faults.append(f"overlap: {box} / {other}")
    return faults
