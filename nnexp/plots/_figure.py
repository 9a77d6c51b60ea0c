"""Figure helpers shared by every picture: layout, sizes, saving and downsampling.

Two layouts: :func:`figure` (constrained layout: matplotlib measures every text and fits
the panels around them) for pictures whose texts vary (galleries, sweeps, the decision
boundary's legend); :func:`fixed_figure` with :func:`inch_axes` (margins in inches, no
layout engine) for a run's curves, heat map and histograms, whose texts are known: the
engine's measuring costs 30-60% of such a picture. The layout tests check that no text of
a fixed layout leaves the figure or overlaps another panel's.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def figure(nrows: int = 1, ncols: int = 1, *, panel=(4.6, 3.4), **kwargs):
    """A constrained-layout Figure on an Agg canvas (no pyplot state, no GUI backend) and
    its axes as a 2-D array."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def inch_axes(fig: Figure, x: float, y: float, width: float, height: float, **kwargs):
    """An axes placed in inches from the figure's lower-left corner (a fixed layout)."""
    w, h = fig.get_size_inches()
    return fig.add_axes((x / w, y / h, width / w, height / h), **kwargs)


def panel_title(ax, text: str, **kwargs) -> None:
    """``ax``'s title at the top of a panel of a fixed layout. Its position is given (y=1):
    else matplotlib measures every tick label of the axes at each draw to lift the title
    over any above the panel (none are, in these pictures): ~15% of a picture's time."""
    ax.set_title(text, y=1.0, **kwargs)


def grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``max_cols`` wide."""
    cols = max(1, min(n, max_cols))
    return math.ceil(max(n, 1) / cols), cols


def hide_unused(axes, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def fitted_title(title: str, width: int = 60) -> str:
    """``title`` wrapped onto lines of at most ``width`` characters (breaking at spaces, and
    inside overlong words), so a long run or sweep name never runs past the figure's edge."""
    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False)) or title


#: Characters of a bold 13-point title per inch of figure width (DejaVu Sans, ~0.65 em each).
TITLE_CHARS_PER_INCH = 8.5


#: Height of one line of a bold 13-point title, inches.
TITLE_LINE = 0.25


def wrapped_title(title: str, width: float) -> tuple[str, float]:
    """``title`` wrapped for a figure ``width`` inches wide, and the inches its lines take."""
    text = fitted_title(title, int(width * TITLE_CHARS_PER_INCH))
    return text, TITLE_LINE * (text.count("\n") + 1)


def fixed_figure(width: float, height: float, title: str = "") -> Figure:
    """A figure of ``width`` x ``height`` inches on an Agg canvas with no layout engine,
    ``title`` (already wrapped: :func:`wrapped_title`) at its top; place axes with
    :func:`inch_axes`."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold", y=1 - 0.1 / height, va="top")
    return fig


def suptitle(fig: Figure, title: str) -> None:
    """The figure's overall title, set apart from the panels' own titles (bigger, bold, with
    room below it) so the two never read as one crowded line; wrapped to the figure's width."""
    width = int(fig.get_figwidth() * TITLE_CHARS_PER_INCH)
    fig.suptitle(fitted_title(title, width), fontsize=13, fontweight="bold")
    # ignore: matplotlib's stub types the base LayoutEngine; figure() sets constrained layout
    fig.get_layout_engine().set(h_pad=0.08)  # type: ignore[union-attr, call-arg]


def save(fig: Figure, path) -> Path:
    """Write ``fig`` as PNG to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def unavailable(ax, title: str, reason: str) -> None:
    """A panel that says why it could not be drawn, instead of failing the whole picture."""
    ax.set_title(title)
    ax.text(0.5, 0.5, reason, ha="center", va="center", wrap=True, fontsize=8,
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def clip_limits(ax, values, low: float = -3.0, high: float = 5.0) -> None:
    """y-limits that fit ``values`` but never stretch past [low, high]."""
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size:
        lo, hi = max(finite.min(), low), min(finite.max(), high)
        pad = 0.08 * max(hi - lo, 1e-3)
        ax.set_ylim(lo - pad, hi + pad)


def bin_means(x: np.ndarray, values: np.ndarray, max_bins: int):
    """``(x, values)`` with more than ``max_bins`` rows averaged into ``max_bins`` runs of
    consecutive rows (x: each run's mean position; values: the mean of their finite ones),
    so drawing costs the same for any length.

    ``x``: (n,); ``values``: (n,) or (n, k). Shorter inputs are returned unchanged."""
    n = len(x)
    if n <= max_bins:
        return x, values
    starts = np.linspace(0, n, max_bins + 1).astype(int)[:-1]
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):  # a run of only non-finite values: NaN (a gap)
        means = (np.add.reduceat(np.where(finite, values, 0.0), starts, axis=0)
                 / np.add.reduceat(finite, starts, axis=0))
    sizes = np.diff(np.append(starts, n))
    return np.add.reduceat(np.asarray(x, dtype=float), starts) / sizes, means
