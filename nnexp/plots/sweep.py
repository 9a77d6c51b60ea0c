"""Pictures of a sweep: overlaid curves, final metrics by configuration (mean ± std over
seeds; per seed for a seeds-only sweep) and per-layer gradient norms across configurations
(the vanishing-gradient chart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nnexp.plots._figure import figure, fitted_title, save
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
    ± std error bars over its runs (seeds) and a dot per run, best at the top; ``n`` runs
    written beside. A single configuration (a seeds-only sweep) gets :func:`seeds_figure`."""
    keys = [by] if isinstance(by, str) else list(by)
    stats = df.groupby(keys, sort=False)[metric].agg(["mean", "std", "count"])
    if len(stats) == 1:
        return seeds_figure(df, metric, title)
    lower_is_better = "loss" in metric  # losses; higher is better for accuracies
    # barh draws the first row at the bottom: worst first puts the best at the top
    stats = stats.sort_values("mean", ascending=not lower_is_better)
    labels = [_label(keys, v) for v in stats.index]
    fig, axes = figure(1, 1, panel=(7.0, 1.2 + 0.42 * len(stats)))
    ax = axes[0, 0]
    y = np.arange(len(stats))
    ax.barh(y, stats["mean"], xerr=stats["std"].fillna(0), color="C0", alpha=0.8,
            error_kw={"capsize": 3, "ecolor": "k"})
    row = {key: i for i, key in enumerate(stats.index)}
    keyed = df.set_index(keys)[metric].astype(float)
    ax.scatter(keyed.to_numpy(), [row[k] for k in keyed.index], s=16, facecolor="white",
               edgecolor="k", linewidth=0.8, zorder=3, label="one run")
    for yi, (mean, std, n) in zip(y, stats.itertuples(index=False)):
        text = f"{mean:.4g}" + (f" ± {std:.2g}" if n > 1 else "") + f"  (n={n})"
        ax.text(max(mean + (0 if np.isnan(std) else std), keyed.max()), yi, "  " + text,
                va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, float(max((stats["mean"] + stats["std"].fillna(0)).max(), keyed.max())) * 1.35 or 1)
    ax.set_xlabel(f"final {metric}")
    ax.set_ylabel(", ".join(keys))
    ax.set_title(fitted_title(title or f"Final {metric} by configuration (mean ± std over seeds)"))
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def seeds_figure(df, metric: str, title: str | None = None):
    """One configuration's runs: a dot per run at its final ``metric``, labelled by its seed
    (the ``seed``/``*.seed`` columns, else ``run_name``), the mean as a line and mean ± std
    (ddof=1) shaded. The x-axis fits the runs' spread, so seed-to-seed differences show."""
    from nnexp.tracking.summary import is_seed

    seeds: list[str] = []
    for c in (c for c in df.columns if is_seed(c) and df[c].astype(str).nunique() > 1):
        if not any(df[c].astype(str).equals(df[k].astype(str)) for k in seeds):
            seeds.append(c)  # dataset.seed follows seed by default: one label is enough
    runs = df.sort_values(seeds) if seeds else df
    values = runs[metric].astype(float).to_numpy()
    names = [", ".join(f"{k}={r[k]}" for k in seeds) if seeds else str(r.get("run_name", i + 1))
             for i, (_, r) in enumerate(runs.iterrows())]
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    fig, axes = figure(1, 1, panel=(7.0, 1.4 + 0.32 * len(values)))
    ax = axes[0, 0]
    y = np.arange(len(values))
    ax.axvspan(mean - std, mean + std, color="C0", alpha=0.2, label="mean ± std")
    ax.axvline(mean, color="C0", lw=1.5, label=f"mean {mean:.4g} ± {std:.2g}")
    ax.scatter(values, y, s=30, color="k", zorder=3, label="one run")
    ax.set_yticks(y, names)
    ax.set_ylim(len(values) - 0.5, -0.5)  # first seed at the top
    ax.set_xlabel(f"final {metric}")
    ax.set_title(fitted_title(title or f"Final {metric} over {len(values)} seeds (mean ± std)"))
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
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
