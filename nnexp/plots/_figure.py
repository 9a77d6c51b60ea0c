"""Figure helpers shared by every picture: layout, sizes and saving."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 110


def figure(nrows: int = 1, ncols: int = 1, *, panel=(4.6, 3.4), **kwargs):
    """A constrained-layout Figure (no pyplot state) and its axes as a 2-D array."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``max_cols`` wide."""
    cols = max(1, min(n, max_cols))
    return math.ceil(max(n, 1) / cols), cols


def hide_unused(axes, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def suptitle(fig: Figure, title: str) -> None:
    """The figure's overall title, set apart from the panels' own titles (bigger, bold, with
    room below it) so the two never read as one crowded line."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.get_layout_engine().set(h_pad=0.08)


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
