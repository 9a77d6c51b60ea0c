"""Pictures of a sweep: overlaid curves, final metrics by configuration (mean ± std over
seeds) and per-layer gradient norms across configurations (the vanishing-gradient chart)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from nnexp.plots._figure import figure, save
from nnexp.plots.run import history_frame


BAND_LEGEND = "line: mean over the n runs (seeds)\nshaded band: mean ± 1 std"


def _label(keys: Sequence[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    if len(keys) == 1:
        return str(values[0])
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values))


def _as_groups(curves, by, x: str) -> dict[str, list]:
    """label -> list of per-run frames indexed by ``x``, from a mapping or a long DataFrame."""
    if isinstance(curves, Mapping):
        return {str(k): [history_frame(r) for r in (v if isinstance(v, (list, tuple)) else [v])]
                for k, v in curves.items()}
    keys = [by] if isinstance(by, str) else list(by)
    run_key = "run_id" if "run_id" in curves.columns else None
    groups: dict[str, list] = {}
    for values, part in curves.groupby(keys, sort=True):
        runs = part.groupby(run_key) if run_key else [(None, part)]
        groups[_label(keys, values)] = [r.set_index(x).sort_index() for _, r in runs]
    return groups


def fitted_title(title: str, width: int = 60) -> str:
    """``title`` wrapped onto lines of at most ``width`` characters (breaking at spaces, and
    inside overlong words), so a long sweep name never runs past the figure's edge."""
    return "\n".join(textwrap.wrap(title, width, break_on_hyphens=False)) or title


def _finish(fig, out):
    return fig if out is None else save(fig, out)


def sweep_curves_figure(curves, metric: str = "loss", by="config", x: str = "epoch",
                        title: str | None = None):
    """One line per configuration: the mean of ``metric`` over its runs (seeds), with a
    ± std band when there are several. ``curves``: ``{label: history or [histories]}`` or a
    long DataFrame with columns ``by``, ``x``, ``metric`` (and ``run_id`` for several seeds)."""
    import pandas as pd

    groups = _as_groups(curves, by, x)
    fig, axes = figure(1, 1, panel=(7.5, 4.6))
    ax = axes[0, 0]
    banded = False
    for i, (label, runs) in enumerate(groups.items()):
        present = [r[metric].astype(float) for r in runs if metric in r]
        if not present:
            continue
        # one column per run, aligned on x: each x averages the runs that reached it
        table = pd.concat(present, axis=1, ignore_index=True).sort_index()
        steps, mean = table.index.to_numpy(), table.mean(axis=1).to_numpy()
        n = f" (n={len(present)})" if len(present) > 1 else ""
        ax.plot(steps, mean, color=f"C{i % 10}", label=f"{label}{n}")
        if len(present) > 1:
            banded = True
            std = table.std(axis=1, ddof=0).to_numpy()
            ax.fill_between(steps, mean - std, mean + std, color=f"C{i % 10}", alpha=0.2)
    if "loss" in metric:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.set_title(fitted_title(title or f"{metric} by configuration (mean ± std over seeds)", 50))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title_fontsize=8,
              title=BAND_LEGEND if banded else None, alignment="left")
    return fig


def plot_sweep_curves(curves, metric: str = "loss", by="config", x: str = "epoch", out=None,
                      title: str | None = None):
    """:func:`sweep_curves_figure`, saved to ``out`` (returns the path) or returned when
    ``out`` is None."""
    return _finish(sweep_curves_figure(curves, metric, by, x, title), out)


def sweep_metrics_figure(df, metric: str, by, title: str | None = None):
    """Horizontal bars: mean of ``metric`` per configuration (``by``: column or columns) with
    ± std error bars over its runs (seeds), best at the top; ``n`` runs written beside."""
    keys = [by] if isinstance(by, str) else list(by)
    stats = df.groupby(keys, sort=False)[metric].agg(["mean", "std", "count"])
    lower_is_better = "loss" in metric  # losses; higher is better for accuracies
    # barh draws the first row at the bottom: worst first puts the best at the top
    stats = stats.sort_values("mean", ascending=not lower_is_better)
    labels = [_label(keys, v) for v in stats.index]
    fig, axes = figure(1, 1, panel=(7.0, 1.2 + 0.42 * len(stats)))
    ax = axes[0, 0]
    y = np.arange(len(stats))
    ax.barh(y, stats["mean"], xerr=stats["std"].fillna(0), color="C0", alpha=0.8,
            error_kw={"capsize": 3, "ecolor": "k"})
    for yi, (mean, std, n) in zip(y, stats.itertuples(index=False)):
        text = f"{mean:.4g}" + (f" ± {std:.2g}" if n > 1 else "") + f"  (n={n})"
        ax.text(mean + (0 if np.isnan(std) else std), yi, "  " + text, va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, float((stats["mean"] + stats["std"].fillna(0)).max()) * 1.35 or 1)
    ax.set_xlabel(f"final {metric}")
    ax.set_ylabel(", ".join(keys))
    ax.set_title(fitted_title(title or f"Final {metric} by configuration (mean ± std over seeds)"))
    ax.grid(alpha=0.3, axis="x")
    return fig


def plot_sweep_metrics(df, metric: str, by, out=None, title: str | None = None):
    """:func:`sweep_metrics_figure`, saved to ``out`` (returns the path) or returned when
    ``out`` is None."""
    return _finish(sweep_metrics_figure(df, metric, by, title), out)


def layer_gradients_figure(df, by="config", layer: str = "layer", value: str = "grad_norm",
                           title: str | None = None, ylabel: str | None = None):
    """Per-layer gradient norm (log scale) against depth, one line per configuration:
    ``df`` has one row per (configuration, layer) — layers in network order — and ``value``."""
    keys = [by] if isinstance(by, str) else list(by)
    order = list(dict.fromkeys(df[layer]))
    n_configs = df.groupby(keys, sort=False).ngroups
    fig, axes = figure(1, 1, panel=(9.0, 5.0 + 0.25 * (n_configs // 2)))
    ax = axes[0, 0]
    for i, (values, part) in enumerate(df.groupby(keys, sort=False)):
        series = part.groupby(layer, sort=False)[value].mean().reindex(order)
        ax.plot(range(1, len(order) + 1), series.to_numpy(float), marker="o", ms=4,
                color=f"C{i % 10}", ls="-" if i < 10 else "--", label=_label(keys, values))
    ax.set_yscale("log")
    ax.set_xticks(range(1, len(order) + 1), [str(o) for o in order], rotation=45, ha="right")
    ax.set_xlabel("layer (input on the left)")
    ax.set_ylabel(ylabel or f"{value} (log scale)")
    ax.set_title(fitted_title(title or "Gradient norm per layer by configuration", 80), fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    return fig


def plot_layer_gradients(df, out=None, by="config", layer: str = "layer", value: str = "grad_norm",
                         title: str | None = None, ylabel: str | None = None):
    """:func:`layer_gradients_figure`, saved to ``out`` (returns the path) or returned."""
    return _finish(layer_gradients_figure(df, by, layer, value, title, ylabel), out)
