"""Pictures of one run, drawn from its record (never inside the step loop).

:func:`draw_run` reads a folder laid out like the run's MLflow artifacts
(:mod:`nnexp.plots.record`) and writes every picture it has data for:

- ``curves.png``: loss and accuracy per epoch, train and validation;
- ``decision_boundary.png``: the predicted class over the plane (2-feature classification);
- ``grad_norms.png``: per-layer gradient norm, a heat map (layer x step);
- ``grad_hist.png``: gradient histograms over time (:mod:`nnexp.plots.histograms`).

Each picture costs the same for any run length: curves are averaged into at most
``MAX_POINTS`` points and the heat map into ``MAX_COLUMNS`` columns, histograms show at most
``histograms.MAX_ROWS`` steps, and the per-step table is read for its gradient norms only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.plots._figure import (
    bin_means,
    figure,
    fitted_title,
    fixed_figure,
    inch_axes,
    panel_title,
    save,
    wrapped_title,
)
from nnexp.plots.record import RunRecord, read_record, read_table

MAX_COLUMNS = 600  # heat-map columns: longer runs are averaged into this many bins of steps
MAX_POINTS = 1000  # points per curve: longer histories are averaged into this many bins
#: A run's pictures, by file name (each drawn only when the record has its data).
PICTURES = ("curves.png", "decision_boundary.png", "grad_norms.png", "grad_hist.png")
#: Fixed layouts, inches. Curves: panel size, left margin (tick labels and the y label), gap
#: between panels, right and bottom margins, room for the panel titles.
CURVE_W, CURVE_H, CURVE_LEFT, CURVE_GAP, CURVE_RIGHT, CURVE_BOTTOM, PANEL_TITLE = \
    3.7, 2.5, 0.8, 0.9, 0.2, 0.55, 0.45
#: Heat map: figure width, row height, right margin (colour bar and its labels), bottom
#: margin, and the inches per character of a layer name (10-point tick labels).
HEAT_WIDTH, HEAT_ROW, HEAT_RIGHT, HEAT_BOTTOM, TICK_CHAR = 8.0, 0.42, 1.3, 0.6, 0.085


def history_frame(history):
    """A DataFrame indexed by epoch from a History, its DataFrame, or a list of dicts."""
    import pandas as pd

    if hasattr(history, "to_frame"):
        return history.to_frame()
    if isinstance(history, pd.DataFrame):
        return history
    return pd.DataFrame(list(history), index=pd.RangeIndex(1, len(history) + 1, name="epoch"))


def steps_frame(steps):
    """The per-step table as a DataFrame indexed by step: a DataFrame as it is, a file
    (``.parquet`` or ``.csv``) for its ``epoch`` and gradient-norm columns only."""
    import pandas as pd

    if steps is None or isinstance(steps, pd.DataFrame):
        frame = steps
    else:
        frame = read_table(steps)
    if frame is not None and "step" in frame.columns:
        frame = frame.set_index("step")
    return frame


# -- loss and accuracy ----------------------------------------------------------------------
def _curve_panel(ax, frame, key: str, title: str) -> None:
    lines = [(c, label, style) for c, label, style in
             ((key, "train", "-"), (f"val_{key}", "validation", "--")) if c in frame.columns]
    values = frame[[c for c, _, _ in lines]].to_numpy(float)
    x, drawn = bin_means(frame.index.to_numpy(), values, MAX_POINTS)
    for j, (_, label, style) in enumerate(lines):
        ax.plot(x, drawn[:, j], style, marker="o" if len(x) < 30 else None, ms=3, label=label)
    positive = values[np.isfinite(values) & (values > 0)]
    if key == "loss" and positive.size and positive.max() / positive.min() > 100:
        ax.set_yscale("log")
    panel_title(ax, title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right" if key == "loss" else "lower right")  # where curves end up


def curves_figure(history, title: str = "Training curves"):
    """Loss (and accuracy, when recorded) per epoch, train and validation."""
    frame = history_frame(history)
    keys = [k for k in ("loss", "accuracy") if k in frame.columns]
    n = max(len(keys), 1)
    width = CURVE_LEFT + n * CURVE_W + (n - 1) * CURVE_GAP + CURVE_RIGHT
    head, head_h = wrapped_title(title, width)
    fig = fixed_figure(width, 0.1 + head_h + PANEL_TITLE + CURVE_H + CURVE_BOTTOM, head)
    for i, key in enumerate(keys):
        ax = inch_axes(fig, CURVE_LEFT + i * (CURVE_W + CURVE_GAP), CURVE_BOTTOM, CURVE_W, CURVE_H)
        _curve_panel(ax, frame, key, f"{key.capitalize()} per epoch")
    return fig


# -- decision boundary ----------------------------------------------------------------------
def _labels(out) -> np.ndarray:
    """Class indices of network outputs or targets: argmax of several columns, else > 0.5."""
    out = np.asarray(out, dtype=np.float64)
    return out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(int)


def _classes_of(network, X) -> np.ndarray:
    return _labels(network.predict(X))


def _shown_split(dataset):
    """(X, true class, split name): test points, else validation, else training."""
    X, y, split = next((x, t, s) for x, t, s in ((dataset.X_test, dataset.y_test, "test"),
                                                  (dataset.X_val, dataset.y_val, "validation"),
                                                  (dataset.X_train, dataset.y_train, "training"))
                       if x is not None)
    return X, _labels(y), split


def _plane(points: np.ndarray, resolution: int):
    """A grid over the points' bounding box with a 10% margin: (g0, g1) meshgrids."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * (hi - lo)
    return np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                       np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))


def decision_boundary_figure(network, dataset, resolution: int = 300):
    """The predicted class over the plane of a 2-feature dataset, with the test points
    (validation or training points when there is no test split) coloured by true class."""
    from matplotlib.colors import ListedColormap

    X, truth, split = _shown_split(dataset)
    g0, g1 = _plane(np.concatenate([dataset.X_train, X]), resolution)
    regions = _classes_of(network, np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)
    n_classes = max(int(truth.max()) + 1, int(regions.max()) + 1, len(dataset.classes or []))
    colors = [f"C{i % 10}" for i in range(n_classes)]
    fig, axes = figure(1, 1, panel=(6.6, 4.8))
    ax = axes[0, 0]
    ax.contourf(g0, g1, regions, levels=np.arange(n_classes + 1) - 0.5,
                cmap=ListedColormap(colors), alpha=0.25)  # measured cheaper than imshow here
    ax.contour(g0, g1, regions, levels=np.arange(n_classes) + 0.5, colors="k", linewidths=0.8)
    names = dataset.classes or [str(i) for i in range(n_classes)]
    for c in np.unique(truth):
        ax.scatter(X[truth == c, 0], X[truth == c, 1], s=14, color=colors[c], edgecolor="k",
                   linewidth=0.3, label=f"class {names[c]}")
    acc = float(np.mean(_classes_of(network, X) == truth))
    ax.set_title(f"Decision boundary on {dataset.name} ({split} accuracy {acc:.1%})")
    labels = (dataset.feature_names or ["feature 1", "feature 2"])[:2]
    ax.set(xlabel=labels[0], ylabel=labels[1])
    # outside the axes, right of the plane: a legend inside would hide points (XOR's (1, 1))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title=f"{split} points", title_fontsize=8)
    return fig


# -- gradient norms -------------------------------------------------------------------------
def layer_grad_norms(steps):
    """Per-layer gradient norm per step: ``sqrt(Σ_params ‖∂L/∂p‖²)`` over the layer's params.

    Returns a DataFrame indexed by step with one column per layer, in network order."""
    import pandas as pd

    frame = steps_frame(steps)
    cols = [c for c in frame.columns if c.startswith("grad_norm/")]
    layers: dict[str, list[str]] = {}
    for c in cols:
        layers.setdefault(c.split("/", 1)[1].rsplit(".", 1)[0], []).append(c)
    data = {layer: np.sqrt((frame[cs].astype(float) ** 2).sum(axis=1)) for layer, cs in layers.items()}
    return pd.DataFrame(data, index=frame.index)


def grad_heatmap_figure(steps, title: str = "Gradient norm per layer over training"):
    """Heat map (layer x step) of per-layer gradient L2 norms on a log colour scale, one
    image; a long run is averaged into ``MAX_COLUMNS`` columns of consecutive steps. Where a
    layer's gradient is exactly 0 (every unit dead) the cell is left white."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    norms = layer_grad_norms(steps)
    steps_ = norms.index.to_numpy()
    _, values = bin_means(steps_, norms.to_numpy(float), MAX_COLUMNS)
    positive = values[np.isfinite(values) & (values > 0)]
    ax, cax = _heat_layout(list(norms.columns), title)
    fig = ax.figure
    norm = LogNorm(positive.min(), positive.max()) if positive.size else None
    half = (steps_[1] - steps_[0]) / 2 if len(steps_) > 1 else 0.5
    image = ax.imshow(np.where(values > 0, values, np.nan).T, aspect="auto", norm=norm,
                      cmap=colormaps["viridis"].with_extremes(bad="white"),
                      interpolation="nearest", extent=(steps_[0] - half, steps_[-1] + half,
                                                       len(norms.columns) - 0.5, -0.5))
    ax.set_yticks(range(len(norms.columns)), norms.columns)
    zeros = bool(np.any(values == 0))
    ax.set_xlabel("step" + ("   (white: gradient exactly 0)" if zeros else ""))
    ax.set_ylabel("layer (input at top)")
    fig.colorbar(image, cax=cax, label="‖∂L/∂θ‖₂ of the layer (log scale)")
    return fig


def _heat_layout(layers: list[str], title: str):
    """(heat-map axes, colour-bar axes) of a fixed layout: the left margin fits the longest
    layer name, the height the layers (at least 5 rows), the top the wrapped title."""
    left = 0.5 + TICK_CHAR * max(map(len, layers), default=4)
    plot_w, plot_h = HEAT_WIDTH - left - HEAT_RIGHT, HEAT_ROW * max(len(layers), 5)
    # centred on the plot, it may reach into the margins up to the nearer figure edge
    room = 2 * min(left, HEAT_RIGHT) + plot_w
    head = fitted_title(title, int(room * 72 / (12 * 0.6)))  # 12-point, ~0.6 em a character
    top = 0.2 + 0.22 * (head.count("\n") + 1)
    fig = fixed_figure(HEAT_WIDTH, top + plot_h + HEAT_BOTTOM)
    ax = inch_axes(fig, left, HEAT_BOTTOM, plot_w, plot_h)
    panel_title(ax, head)
    cax = inch_axes(fig, HEAT_WIDTH - HEAT_RIGHT + 0.2, HEAT_BOTTOM, 0.18, plot_h, label="<colorbar>")
    return ax, cax


# -- a whole run ----------------------------------------------------------------------------
def draw_run(folder, out, *, network=None, dataset=None, registry=None,
             title: str | None = None, only=None) -> list[Path]:
    """Every picture of the run recorded in ``folder`` (laid out like its MLflow artifacts:
    see :mod:`nnexp.plots.record`) into ``out``; returns the paths written.

    ``network``/``dataset`` are used when given; else the network comes from ``model.npz``
    and the dataset is rebuilt from ``config.yaml`` (through ``registry``, default: the
    installed plugins'), both only for the decision boundary. ``title`` (e.g. the run's name)
    heads each picture's title. A picture whose data is missing is skipped; one that cannot
    be drawn is warned about and the rest are drawn. ``only``: the file names to draw (of
    :data:`PICTURES`; default all)."""
    return render(read_record(folder, network, dataset, registry), out, title, only)


def plot_run(history, steps, out_dir, network=None, dataset=None, grad_hist=None) -> list[Path]:
    """:func:`draw_run` from in-memory parts: the :class:`nnexp.History` (or its frame), the
    per-step table (DataFrame or file), the histograms (``.npz`` path or its arrays)."""
    from nnexp.plots.histograms import load_hist

    record = RunRecord(epochs=None if history is None else history_frame(history),
                       steps=steps_frame(steps), network=network, dataset=dataset,
                       grad_hist=None if grad_hist is None else load_hist(grad_hist))
    return render(record, out_dir)


def pictures(record: RunRecord, title: str | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """``(file name, figure builder)`` of each picture ``record`` has the data for; ``title``
    heads the pictures' own titles (``"xor-12: training curves"``)."""
    from nnexp.plots.histograms import grad_hist_figure

    def titled(text: str) -> str:
        return f"{title}: {text[0].lower()}{text[1:]}" if title else text

    epochs, steps, net, ds = record.epochs, record.steps, record.network, record.dataset
    out: list[tuple[str, Callable[[], Any]]] = []
    if epochs is not None and len(epochs) and {"loss", "accuracy"} & set(epochs.columns):
        out.append(("curves.png", lambda: curves_figure(epochs, titled("Training curves"))))
    if net is not None and ds is not None and ds.n_features == 2 and ds.task == "classification":
        out.append(("decision_boundary.png", lambda: decision_boundary_figure(net, ds)))
    if steps is not None and len(steps) and any(c.startswith("grad_norm/") for c in steps.columns):
        out.append(("grad_norms.png", lambda: grad_heatmap_figure(
            steps, titled("Gradient norm per layer over training"))))
    if record.grad_hist is not None and len(record.grad_hist.get("steps", ())):
        out.append(("grad_hist.png", lambda: grad_hist_figure(
            record.grad_hist, titled("Gradient histograms over training"))))
    return out


def render(record: RunRecord, out, title: str | None = None, only=None) -> list[Path]:
    """Draw and save :func:`pictures` of ``record`` (those named in ``only``, default all)
    into ``out``; returns the paths written."""
    out, paths = Path(out), []
    for name, build in pictures(record, title):
        if only is not None and name not in only:
            continue
        try:
            paths.append(save(build(), out / name))
        except Exception as exc:  # noqa: BLE001 - one broken picture must not cost the others
            warnings.warn(f"nnexp plots: {name} not drawn: {type(exc).__name__}: {exc}",
                          stacklevel=2)
    return paths
