"""Pictures of one run, made once at its end (never inside the step loop).

Inputs are what the tracker keeps: the per-epoch :class:`nnexp.History` (or its DataFrame),
the per-step statistics table ``stats/steps.csv`` (:mod:`nnexp.stats`: columns ``epoch``,
``loss``, ``grad_norm/<param>``, …, indexed by step) and the gradient histograms
``stats/grad_hist.npz`` (``steps``, ``counts/<param>``, ``edges/<param>``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm

from nnexp.plots._figure import figure, grid, hide_unused, save, suptitle

MAX_COLUMNS = 600  # heat-map columns: longer runs are averaged into this many bins of steps


def history_frame(history):
    """A DataFrame indexed by epoch from a History, its DataFrame, or a list of dicts."""
    import pandas as pd

    if hasattr(history, "to_frame"):
        return history.to_frame()
    if isinstance(history, pd.DataFrame):
        return history
    return pd.DataFrame(list(history), index=pd.RangeIndex(1, len(history) + 1, name="epoch"))


def steps_frame(steps):
    """The per-step table as a DataFrame indexed by step (from a DataFrame or a CSV path)."""
    import pandas as pd

    if steps is None or isinstance(steps, pd.DataFrame):
        frame = steps
    else:
        frame = pd.read_csv(steps)
    if frame is not None and "step" in frame.columns:
        frame = frame.set_index("step")
    return frame


# -- loss and accuracy ----------------------------------------------------------------------
def _curve_panel(ax, frame, key: str, title: str) -> None:
    for col, label, style in ((key, "train", "-"), (f"val_{key}", "validation", "--")):
        if col in frame.columns:
            ax.plot(frame.index, frame[col], style, marker="o" if len(frame) < 30 else None,
                    ms=3, label=label)
    values = frame[[c for c in (key, f"val_{key}") if c in frame.columns]].to_numpy(float)
    positive = values[np.isfinite(values) & (values > 0)]
    if key == "loss" and positive.size and positive.max() / positive.min() > 100:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend()


def curves_figure(history, title: str = "Training curves"):
    """Loss (and accuracy, when recorded) per epoch, train and validation."""
    frame = history_frame(history)
    keys = [k for k in ("loss", "accuracy") if k in frame.columns]
    fig, axes = figure(1, max(len(keys), 1))
    for ax, key in zip(axes.flat, keys):
        _curve_panel(ax, frame, key, f"{key.capitalize()} per epoch")
    suptitle(fig, title)
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
    X, truth, split = _shown_split(dataset)
    g0, g1 = _plane(np.concatenate([dataset.X_train, X]), resolution)
    regions = _classes_of(network, np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)
    n_classes = max(int(truth.max()) + 1, int(regions.max()) + 1, len(dataset.classes or []))
    colors = [f"C{i % 10}" for i in range(n_classes)]
    fig, axes = figure(1, 1, panel=(6.6, 4.8))
    ax = axes[0, 0]
    ax.contourf(g0, g1, regions, levels=np.arange(n_classes + 1) - 0.5,
                cmap=ListedColormap(colors), alpha=0.25)
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


# -- gradients ------------------------------------------------------------------------------
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


def _binned(norms, max_columns: int = MAX_COLUMNS):
    """(steps, values) with long runs averaged into at most ``max_columns`` bins."""
    values = norms.to_numpy(float)
    steps = norms.index.to_numpy()
    if len(values) <= max_columns:
        return steps, values
    edges = np.linspace(0, len(values), max_columns + 1).astype(int)
    binned = np.array([values[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])
    return steps[(edges[:-1] + edges[1:] - 1) // 2], binned


def grad_heatmap_figure(steps, title: str = "Gradient norm per layer over training"):
    """Heat map (layer x step) of per-layer gradient L2 norms on a log colour scale; steps
    where a layer's gradient is exactly 0 (every unit dead) are left white."""
    from matplotlib import colormaps

    norms = layer_grad_norms(steps)
    x, values = _binned(norms)
    positive = values[np.isfinite(values) & (values > 0)]
    fig, axes = figure(1, 1, panel=(8.0, 0.9 + 0.42 * max(len(norms.columns), 5)))
    ax = axes[0, 0]
    norm = LogNorm(positive.min(), positive.max()) if positive.size else None
    cmap = colormaps["viridis"].with_extremes(bad="white")
    image = ax.imshow(np.where(values > 0, values, np.nan).T, aspect="auto", norm=norm,
                      cmap=cmap, interpolation="nearest",
                      extent=(x[0] - 0.5, x[-1] + 0.5, len(norms.columns) - 0.5, -0.5))
    ax.set_yticks(range(len(norms.columns)), norms.columns)
    zeros = bool(np.any(values == 0))
    ax.set_xlabel("step" + ("   (white: gradient exactly 0)" if zeros else ""))
    ax.set_ylabel("layer (input at top)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="‖∂L/∂θ‖₂ of the layer (log scale)")
    return fig


def _load_hist(grad_hist) -> dict[str, np.ndarray]:
    if isinstance(grad_hist, (str, Path)):
        with np.load(grad_hist) as data:
            return {k: data[k] for k in data.files}
    return dict(grad_hist)


def grad_hist_figure(grad_hist, title: str = "Gradient histograms over training"):
    """Per parameter, the distribution of |∂L/∂p| at each recorded step: one row per step
    (time runs downwards), x the gradient's magnitude on a log scale (so late, small
    gradients are as readable as early, large ones), colour the count (log scale)."""
    data = _load_hist(grad_hist)
    names = [k.split("/", 1)[1] for k in data if k.startswith("counts/")]
    rows, cols = grid(len(names), 3)
    fig, axes = figure(rows, cols, panel=(4.2, 3.2))
    top = max([int(np.max(data[f"counts/{n}"], initial=0)) for n in names] + [2])
    norm = LogNorm(1, top)
    mesh = None
    for ax, name in zip(axes.flat, names):
        mesh = _hist_panel(ax, name, data, norm) or mesh
    hide_unused(axes, len(names))
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=axes[:, -1].tolist(), label="count (log scale)", shrink=0.8)
        _count_ticks(bar, top)
    suptitle(fig, title)
    fig.supxlabel("Each row is one recorded step: its equal-width bins over [−max|g|, max|g|], "
                  "folded onto |g|. Faded cell: the first bin, every |g| from 0 up to its edge "
                  "(drawn down to the axis' left end). White: no gradient in that bin.",
                  fontsize=7.5, color="0.3")
    return fig


def _count_ticks(bar, top: int) -> None:
    """Plain-integer colour-bar ticks: 1, 2, 5, 10, … for small ranges, powers of 10 else."""
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    steps = (1, 2, 5) if top < 1000 else (1,)
    ticks = [m * 10 ** e for e in range(len(str(top))) for m in steps if m * 10 ** e <= top]
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    bar.ax.yaxis.set_minor_locator(NullLocator())


def fold(counts: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A histogram over symmetric ``edges`` [−m, m] as one over |g|: ``(counts, edges)``
    with edges from 0 to m (a middle bin straddling 0 becomes the first, [0, its half-width])."""
    n = len(counts)
    half = n // 2
    if n % 2 == 0:
        return counts[half:] + counts[:half][::-1], np.abs(edges[half:])
    folded = np.concatenate([[counts[half]], counts[half + 1:] + counts[:half][::-1]])
    return folded, np.concatenate([[0.0], np.abs(edges[half + 1:])])


FIRST_BIN_ALPHA = 0.4
HIST_CMAP = "viridis"  # its lowest colour (count 1) is dark: clearly unlike empty (white) cells


def _hist_panel(ax, name: str, data: dict, norm):
    steps = np.asarray(data["steps"])
    counts, edges = np.asarray(data[f"counts/{name}"], float), np.asarray(data[f"edges/{name}"])
    rows = [fold(c, e) for c, e in zip(counts, edges)]
    inner = [e[1] for _, e in rows if len(e) > 1 and e[1] > 0]
    outer = [e[-1] for _, e in rows if len(e) > 1 and e[-1] > 0]
    lo = min(inner) / 3 if inner else 1e-6
    hi = max(outer) * 1.3 if outer else 1.0
    mesh = None
    for r, (row, e) in enumerate(rows):  # each step has its own bin range: its own row
        c = np.where(row > 0, row, np.nan)[None, :]
        mesh = ax.pcolormesh(e[1:], [r - 0.5, r + 0.5], c[:, 1:], norm=norm, cmap=HIST_CMAP)
        # the first bin holds every |g| in [0, e1]: drawn faded down to the axis' left edge
        ax.pcolormesh([lo, e[1]], [r - 0.5, r + 0.5], c[:, :1], norm=norm, cmap=HIST_CMAP,
                      alpha=FIRST_BIN_ALPHA)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 6)).astype(int))
    ax.set_yticks(ticks, [str(steps[t]) for t in ticks])
    ax.set_ylim(len(steps) - 0.5, -0.5)  # first step at the top: time runs downwards
    ax.set_title(name)
    ax.set_xlabel("|∂L/∂p| (log scale)")
    ax.set_ylabel("step")
    ax.grid(alpha=0.25, axis="x")
    return mesh


def plot_run(history, steps, out_dir, network=None, dataset=None, grad_hist=None) -> list[Path]:
    """Every picture of one run into ``out_dir``; returns the paths written.

    ``curves.png`` always; ``decision_boundary.png`` when ``network`` and a 2-feature
    classification ``dataset`` are given; ``grad_norms.png`` from the per-step table
    ``steps``; ``grad_hist.png`` from ``grad_hist`` (the ``.npz`` path or its arrays)."""
    out_dir = Path(out_dir)
    paths = [save(curves_figure(history), out_dir / "curves.png")]
    if network is not None and dataset is not None and dataset.n_features == 2 \
            and dataset.task == "classification":
        paths.append(save(decision_boundary_figure(network, dataset), out_dir / "decision_boundary.png"))
    frame = steps_frame(steps)
    if frame is not None and any(c.startswith("grad_norm/") for c in frame.columns) and len(frame):
        paths.append(save(grad_heatmap_figure(frame), out_dir / "grad_norms.png"))
    if grad_hist is not None:
        paths.append(save(grad_hist_figure(grad_hist), out_dir / "grad_hist.png"))
    return paths
