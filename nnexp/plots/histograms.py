"""The gradient-histogram picture: per parameter, how its gradient's values spread at each
recorded step (a heat map, one row per step, drawn in one call) and how large they are (a
strip beside it: max |∂L/∂p| per step, log scale).

The data is :class:`nnexp.stats.GradHistograms`' record: at each step, ``bins`` equal bins
over ``[−m, m]`` with ``m = max |∂L/∂p|`` (``m = 1`` when every gradient was 0). The heat map
draws those bins as recorded, on the common axis ``∂L/∂p ÷ m`` from −1 to 1; the strip gives
``m``. Nothing is re-binned or guessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.plots._figure import fitted_title, fixed_figure, grid, inch_axes, panel_title, wrapped_title

MAX_ROWS = 240  # histogram rows drawn per parameter: longer records show evenly spaced steps
#: A fixed layout, in inches: constrained layout cost ~60% of this 12-axes picture's time.
#: Heat map, gap, strip; gap to the next pair; row height and gap; figure margins.
HEAT_W, STRIP_GAP, STRIP_W, PAIR_GAP = 2.5, 0.1, 0.8, 0.35
ROW_H, ROW_GAP = 2.3, 0.85
LEFT, RIGHT, TOP, BOTTOM = 0.95, 1.35, 0.75, 0.95
CMAP = "viridis"  # its lowest colour is dark: clearly unlike an empty (white) bin
FOOTNOTE = ("Each row is one recorded step: the histogram of ∂L/∂p in equal bins from "
            "−max|∂L/∂p| to +max|∂L/∂p| at that step (0 in the middle). "
            "The strip beside each panel gives that max. White: an empty bin.")


def load_hist(grad_hist) -> dict[str, np.ndarray]:
    """The arrays of a ``grad_hist.npz`` (path) or an already-loaded mapping of them."""
    if isinstance(grad_hist, (str, Path)):
        with np.load(grad_hist, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    return dict(grad_hist)


def shown_rows(n: int, max_rows: int = MAX_ROWS) -> np.ndarray:
    """Indices of at most ``max_rows`` evenly spaced records out of ``n`` (first and last kept)."""
    return np.unique(np.linspace(0, n - 1, min(n, max_rows)).round().astype(int))


def row_edges(steps: np.ndarray) -> np.ndarray:
    """Edges between consecutive steps (midpoints), extended half a gap past each end: (R + 1,)."""
    steps = np.asarray(steps, dtype=float)
    if len(steps) == 1:
        return steps[0] + np.array([-0.5, 0.5])
    mid = (steps[1:] + steps[:-1]) / 2
    return np.concatenate([[2 * steps[0] - mid[0]], mid, [2 * steps[-1] - mid[-1]]])


def peaks(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """max |∂L/∂p| per record: the last edge, NaN where every gradient was 0 (recorded as
    ``m = 1`` with nothing in the outer bins, where a true max of 1 would fall)."""
    m = edges[:, -1].astype(float)
    zero = (m == 1.0) & (counts[:, 0] == 0) & (counts[:, -1] == 0)
    return np.where(zero, np.nan, m)


def shares(counts: np.ndarray) -> np.ndarray:
    """Each bin's share of the parameter's values (its size: the largest row total); NaN
    for an empty bin (drawn white)."""
    size = max(int(counts.sum(axis=1).max(initial=0)), 1)
    return np.where(counts > 0, counts / size, np.nan)


def grad_hist_figure(grad_hist, title: str = "Gradient histograms over training"):
    """Per parameter, a heat map (rows: recorded steps, time downwards; x: ∂L/∂p ÷ max|∂L/∂p|;
    colour: share of the parameter's values, log scale) and a strip of max |∂L/∂p| per step
    (log scale, the same range on every strip)."""
    from matplotlib.colors import LogNorm

    data = load_hist(grad_hist)
    names = [k.split("/", 1)[1] for k in data if k.startswith("counts/")]
    keep = shown_rows(len(data["steps"]))
    tables = {n: shares(np.asarray(data[f"counts/{n}"])[keep]) for n in names}
    low = min([np.nanmin(t) for t in tables.values() if np.isfinite(t).any()] + [1.0])
    norm = LogNorm(min(low, 0.5), 1.0)
    fig, pairs, cax = _layout(len(names), title)
    tops = [peaks(np.asarray(data[f"counts/{n}"])[keep], np.asarray(data[f"edges/{n}"])[keep])
            for n in names]
    span = _log_span(np.concatenate(tops) if tops else np.zeros(0))
    mesh = None
    for i, ((ax, strip), name) in enumerate(zip(pairs, names)):
        mesh = _heat(ax, name, data, tables[name], keep, norm, first_column=i % 3 == 0)
        _strip(strip, tops[i], np.asarray(data["steps"])[keep], ax.get_ylim(), span)
    if mesh is not None:
        _share_bar(fig.colorbar(mesh, cax=cax,
                                label="share of values in the bin"))
    return fig


def _layout(n: int, title: str):
    """A figure with ``n`` (heat map, strip) pairs, three to a row, a colour-bar axes, the
    title and the footnote, each wrapped to the figure's width (characters ~0.6 em wide)."""
    rows, cols = grid(n, 3)
    pair_w = HEAT_W + STRIP_GAP + STRIP_W
    width = LEFT + cols * pair_w + (cols - 1) * PAIR_GAP + RIGHT
    head, head_h = wrapped_title(title, width)
    foot = fitted_title(FOOTNOTE, int(width * 72 / (7.5 * 0.6)))
    top = TOP + head_h - 0.25
    bottom = BOTTOM + 0.14 * max(0, foot.count("\n") - 1)
    height = top + rows * ROW_H + (rows - 1) * ROW_GAP + bottom
    fig = fixed_figure(width, height, head)
    fig.text(0.5, 0.08 / height, foot, ha="center", va="bottom", fontsize=7.5, color="0.3")
    pairs = []
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = LEFT + c * (pair_w + PAIR_GAP), height - top - (r + 1) * ROW_H - r * ROW_GAP
        pairs.append((inch_axes(fig, x, y, HEAT_W, ROW_H),
                      inch_axes(fig, x + HEAT_W + STRIP_GAP, y, STRIP_W, ROW_H)))
    cax = inch_axes(fig, width - RIGHT + 0.3, bottom + 0.1 * (height - top - bottom), 0.16,
                    0.8 * (height - top - bottom), label="<colorbar>")  # matplotlib's own label
    return fig, pairs, cax


def _heat(ax, name: str, data: dict, table: np.ndarray, keep: np.ndarray, norm, first_column: bool):
    """One parameter's histograms: one pcolormesh, rows at their steps, first step on top."""
    counts = np.asarray(data[f"counts/{name}"])
    y = row_edges(np.asarray(data["steps"])[keep])
    mesh = ax.pcolormesh(np.linspace(-1.0, 1.0, table.shape[1] + 1), y, table, norm=norm,
                         cmap=CMAP)
    panel_title(ax, f"{name}  ({int(counts.sum(axis=1).max(initial=0)):,} values)", fontsize=10)
    low, _, high = ax.set_xticks([-1, 0, 1], ["−max", "0", "+max"])
    low.label1.set_horizontalalignment("left")  # inside the panel: clear of its neighbours
    high.label1.set_horizontalalignment("right")
    ax.set_xlabel("∂L/∂p", labelpad=1)
    ax.set_ylim(y[-1], y[0])  # time runs downwards
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if first_column:
        ax.set_ylabel("step")
    else:
        ax.tick_params(labelleft=False)
    return mesh


def _strip(ax, peak: np.ndarray, steps: np.ndarray, ylim, span) -> None:
    """max |∂L/∂p| per step on a log axis spanning ``span`` (shared by every strip)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    if np.isfinite(peak).any():
        ax.plot(peak, steps, color="k", lw=1.1)
    ax.set_xscale("log")
    ax.set_xlim(*span)
    inner = np.arange(np.log10(span[0]) + 1, np.log10(span[1]))  # never at the edges
    ticks = 10.0 ** inner[[0, -1]] if len(inner) > 1 else 10.0 ** inner
    ax.xaxis.set_major_locator(FixedLocator(ticks))  # type: ignore[arg-type]  # stub: Sequence; arrays work
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(*ylim)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("max |∂L/∂p|", fontsize=8, labelpad=1)
    ax.grid(alpha=0.3, axis="x")


def _log_span(values: np.ndarray) -> tuple[float, float]:
    """Whole decades around the finite positive ``values``, at least two wide (so one
    decade lies inside, for a tick clear of the strip's edges)."""
    good = values[np.isfinite(values) & (values > 0)]
    if not good.size:
        return 0.1, 10.0
    lo, hi = np.floor(np.log10(good.min())), np.ceil(np.log10(good.max()))
    return 10.0 ** min(lo, hi - 2), 10.0 ** hi


def _share_bar(bar) -> None:
    """Colour-bar ticks as percentages: at powers of ten (0.1 %, 1 %, 10 %, 100 %), and at
    2 and 5 times them when the bar spans two decades or less (a small parameter's shares)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    narrow = bar.norm.vmax / bar.norm.vmin <= 100
    bar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:g} %"))
    bar.ax.yaxis.set_minor_locator(NullLocator())
