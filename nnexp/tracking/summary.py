"""Tables of runs: varying config keys, the ranking metric, mean ± std over seeds (pandas)."""

from __future__ import annotations

#: Preferred ranking metrics, in order; losses rank ascending, anything else descending.
RANK_ORDER = ("val_loss", "test_loss", "loss", "val_accuracy", "test_accuracy", "accuracy")


def ascending(metric: str) -> bool:
    """Lower is better for losses and errors, higher for accuracies and scores."""
    return "loss" in metric or "error" in metric


def rank_metric(columns, metric: str | None = None) -> str | None:
    """``metric`` if given, else the first of :data:`RANK_ORDER` among ``columns``."""
    if metric:
        return metric
    return next((m for m in RANK_ORDER if m in columns), None)


def varying(frame, keys) -> list[str]:
    """The ``keys`` whose values differ between rows (missing counts as a value)."""
    return [k for k in keys if k in frame.columns and frame[k].astype(str).nunique(dropna=False) > 1]


def is_seed(key: str) -> bool:
    return key == "seed" or key.endswith(".seed")


def seed_summary(frame, config_keys, metrics):
    """Mean, std (ddof=1) and count of each metric per configuration, over seeds.

    ``config_keys``: the varying keys; the seed key(s) among them are averaged over. Returns
    None unless a seed key varies.
    """
    seeds = [k for k in config_keys if is_seed(k)]
    if not seeds or not metrics:
        return None
    group = [k for k in config_keys if not is_seed(k)]
    numeric = frame[metrics].apply(lambda col: col.astype(float))
    numeric = numeric.assign(**{k: frame[k].astype(str) for k in group})
    if not group:
        numeric = numeric.assign(config="all")
        group = ["config"]
    stats = numeric.groupby(group, dropna=False)[metrics].agg(["mean", "std", "count"])
    stats.columns = [f"{m}_{s}" for m, s in stats.columns]
    return stats.reset_index()


def runs_frame(records, metric: str | None = None):
    """A leaderboard from run records, best first.

    ``records``: dicts with ``run_id``, ``run_name``, ``status``, ``error``, ``overrides``
    (list of str), ``params`` (flat dict) and ``metrics`` (final values). Returns
    ``(frame, config_keys, metric_keys, metric)``: columns are run_name, status, the VARYING
    config keys, the metrics, run_id, overrides and error; rows sorted by ``metric``
    (see :func:`rank_metric`), failed runs last.
    """
    frame, param_keys, metric_keys = _records_frame(records)
    config = varying(frame, [f"params.{k}" for k in param_keys])
    metrics = [f"metrics.{k}" for k in metric_keys]
    frame = frame[["run_name", "status", *config, *metrics, "run_id", "overrides", "error"]]
    frame.columns = [_short(c, set(metric_keys)) for c in frame.columns]
    config = [_short(c, set(metric_keys)) for c in config]
    chosen = rank_metric(metric_keys, metric)
    if chosen is not None and chosen in frame.columns:
        frame = frame.assign(_failed=frame["status"] != "FINISHED").sort_values(
            ["_failed", chosen], ascending=[True, ascending(chosen)], na_position="last",
            kind="stable").drop(columns="_failed")
    return frame.reset_index(drop=True), config, metric_keys, chosen


def _records_frame(records):
    """One row per record with ``params.*`` and ``metrics.*`` columns; the keys seen, in order."""
    import pandas as pd

    rows, param_keys, metric_keys = [], {}, {}
    for rec in records:
        params, metrics = dict(rec.get("params") or {}), dict(rec.get("metrics") or {})
        param_keys.update(dict.fromkeys(params))
        metric_keys.update(dict.fromkeys(metrics))
        rows.append({"run_name": rec.get("run_name"), "status": rec.get("status"),
                     **{f"params.{k}": v for k, v in params.items()},
                     **{f"metrics.{k}": v for k, v in metrics.items()},
                     "run_id": rec.get("run_id"), "error": rec.get("error") or "",
                     "overrides": " ".join(rec.get("overrides") or [])})
    columns = None if rows else ["run_name", "status", "run_id", "error", "overrides"]
    return pd.DataFrame(rows, columns=columns), list(param_keys), list(metric_keys)


def _short(column: str, metric_names: set) -> str:
    """``params.model.hidden`` -> ``model.hidden`` unless a metric has that name."""
    for prefix in ("params.", "metrics."):
        if column.startswith(prefix):
            name = column[len(prefix):]
            return column if prefix == "params." and name in metric_names else name
    return column
