"""``nnexp compare``: a leaderboard of an experiment's or a sweep's runs, as CSV and PNG.

Examples::

    nnexp compare                          # runs of the most recently used experiment
    nnexp compare --sweep                  # the latest sweep's jobs (or --sweep RUN_ID)
    nnexp compare --experiment spirals --metric val_accuracy --csv runs.csv --png runs.png

The table's columns are the config keys that VARY between the runs, the final metrics,
and the status; rows are sorted by ``--metric`` (default: val_loss, else test_loss, loss, …;
losses ascending, accuracies descending), failed runs last.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnexp.commands.stores import HOW_TO_CREATE, URI_HELP, open_store
from nnexp.tracking import store
from nnexp.tracking.store import TrackingError
from nnexp.tracking.summary import is_seed, runs_frame
from nnexp.tracking.sweep import SWEEP_TAG

PRINTED_HIDDEN = ("run_id", "overrides")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="nnexp compare", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A leaderboard of an experiment's or a sweep's runs, as CSV and PNG.",
        epilog="examples:" + __doc__.split("Examples::")[1].split("\n\nThe table")[0])
    p.add_argument("--uri", help=URI_HELP)
    p.add_argument("--experiment", "-e", help="experiment name (default: the most recently used)")
    p.add_argument("--sweep", "-s", nargs="?", const="latest",
                   help="a sweep's parent run id, or no value for the latest sweep")
    p.add_argument("--metric", "-m", help="metric to sort by (default: val_loss, test_loss, loss, ...)")
    p.add_argument("--top", type=_count, default=0, help="print only the best N rows (0: all)")
    p.add_argument("--csv", type=Path, help="also write the whole table as CSV here")
    p.add_argument("--png", type=Path, default=Path("compare.png"),
                   help="loss curves PNG (default: compare.png; seeds chart beside it as *_seeds.png)")
    p.add_argument("--no-png", action="store_true", help="write no pictures")
    return p.parse_args(argv)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"got {value}; expected a number of rows >= 0 (0: all)")
    return value


def _latest(mc, experiment_ids, filter_string: str = ""):
    runs = mc.search_runs(experiment_ids, filter_string, order_by=["attributes.start_time DESC"],
                          max_results=1)
    return runs[0] if runs else None


def load_runs(mc, experiment: str | None, sweep: str | None):
    """``(runs, title)``: the chosen sweep's children or the experiment's runs (no parents)."""
    exps = [store.find_experiment(mc, experiment)] if experiment else mc.search_experiments()
    ids = [e.experiment_id for e in exps]
    if sweep:
        parent = _find_sweep(mc, ids, sweep)
        runs = search_all(mc, [parent.info.experiment_id],
                          f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        name = parent.info.run_name or ""
        title = f"{'' if name.startswith('sweep') else 'sweep '}{name} ({parent.info.run_id})"
        if not runs:
            raise TrackingError(f"The {title} holds no runs yet. {HOW_TO_CREATE}")
        return runs, title
    if experiment is None:
        latest = _latest(mc, ids)
        if latest is None:
            raise TrackingError(f"The store holds no runs yet. {HOW_TO_CREATE}")
        ids = [latest.info.experiment_id]
    runs = [r for r in search_all(mc, ids) if r.data.tags.get(SWEEP_TAG) != "true"]
    name = mc.get_experiment(ids[0]).name
    if not runs:
        raise TrackingError(f"Experiment {name!r} holds no runs yet. {HOW_TO_CREATE}")
    return runs, f"experiment {name}"


def search_all(mc, experiment_ids, filter_string: str = "", page_size: int = 1000) -> list:
    """Every matching run, page by page (one search_runs call stops at ``page_size``)."""
    runs, token = [], None
    while True:
        page = mc.search_runs(experiment_ids, filter_string, max_results=page_size, page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def _find_sweep(mc, ids, sweep: str):
    if sweep == "latest":
        parent = _latest(mc, ids, f"tags.`{SWEEP_TAG}` = 'true'")
        if parent is None:
            raise TrackingError(f"No sweep in this store yet. {HOW_TO_CREATE}")
        return parent
    try:
        parent = mc.get_run(sweep)
    except Exception as exc:  # noqa: BLE001 - MlflowException: RESOURCE_DOES_NOT_EXIST
        raise TrackingError(f"No run with id {sweep!r} in this store. Use --sweep without a "
                            "value for the latest sweep.") from exc
    if parent.data.tags.get(SWEEP_TAG) != "true":
        raise TrackingError(f"Run {sweep!r} ({parent.info.run_name}) is not a sweep's parent run. "
                            "Use --sweep without a value for the latest sweep, or --experiment.")
    return parent


def record(run) -> dict:
    """One run as the record :func:`nnexp.tracking.summary.runs_frame` takes."""
    tags = run.data.tags
    final = {k: v for k, v in run.data.metrics.items() if "/" not in k and k != "step_loss"}
    return {"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
            "error": tags.get("nnexp.error"), "overrides": tags.get("nnexp.overrides", "").split(),
            "params": run.data.params, "metrics": final}


def _redundant(shown, config: list[str]) -> list[str]:
    """Printed columns that say nothing: an ``error`` column with no error, and a config key
    whose values repeat another's in every row (``dataset.seed`` follows ``seed``)."""
    drop = ["error"] if "error" in shown.columns and not shown["error"].astype(bool).any() else []
    keys = [c for c in config if c in shown.columns]
    for i, key in enumerate(keys):
        same = [k for k in keys[:i] if k not in drop
                and shown[k].astype(str).tolist() == shown[key].astype(str).tolist()]
        if same:
            drop.append(key)
    return drop


def main(argv: list[str]) -> int:
    args = parse(argv)
    uri, mc = open_store(args.uri)
    runs, title = load_runs(mc, args.experiment, args.sweep)
    frame, config, metrics, chosen = runs_frame([record(r) for r in runs], args.metric)
    if args.metric and args.metric not in metrics:
        from nnexp.errors import did_you_mean

        hint = did_you_mean(args.metric, metrics)
        raise TrackingError(f"Unknown metric {args.metric!r}. Available: {', '.join(metrics)}."
                            + (f"\nDid you mean {hint!r}?" if hint else ""))
    shown = frame.drop(columns=[c for c in PRINTED_HIDDEN if c in frame.columns])
    shown = shown.drop(columns=_redundant(shown, config))
    shown = shown.head(args.top) if args.top else shown
    if "error" in shown.columns:  # the CSV keeps the whole message
        shown = shown.assign(error=shown["error"].str.slice(0, 60))
    print(f"{title}: {len(frame)} run(s) in {uri}; sorted by {chosen or '(no metric)'}")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if not args.no_png:
        for path in write_plots(mc, frame, config, chosen, args.png, title):
            print(f"wrote {path}")
    return 0


def write_plots(mc, frame, config, metric: str | None, png: Path, title: str) -> list[Path]:
    """Loss curves per configuration (mean ± std band over seeds), and, when a seed key
    varies, final ``metric`` by configuration with mean ± std (``*_seeds.png``)."""
    from nnexp.plots import plot_sweep_curves, plot_sweep_metrics

    group = [k for k in config if not is_seed(k)]
    seeded = len(group) < len(config)
    labels = frame.apply(lambda row: _label(row, group, seeded), axis=1)
    curves: dict[str, list] = {}
    for label, run_id in zip(labels, frame["run_id"]):
        curves.setdefault(label, []).append(_history(mc, run_id))
    paths = [plot_sweep_curves(curves, "loss", out=png, title=f"Training loss — {short_title(title)}")]
    if seeded and metric is not None and metric in frame.columns:
        table = frame.assign(configuration=labels, **{metric: frame[metric].astype(float)})
        table = table[table["status"] == "FINISHED"]
        paths.append(plot_sweep_metrics(table, metric, "configuration",
                                        out=png.with_name(png.stem + "_seeds.png"),
                                        title=f"Final {metric} — {short_title(title)} "
                                              "(mean ± std over seeds)"))
    return paths


def short_title(title: str) -> str:
    """``title`` with MLflow run ids (32 hex digits) cut to their first 8, for pictures."""
    import re

    return re.sub(r"\b([0-9a-f]{8})[0-9a-f]{24}\b", r"\1", title)


def _label(row, group, seeded: bool) -> str:
    if group:
        return ", ".join(f"{k}={row[k]}" for k in group)
    return "all runs" if seeded else str(row["run_name"])


def _history(mc, run_id: str) -> list[dict]:
    """Per-epoch ``loss`` (and ``val_loss``) of a run as a list of dicts, epoch order."""
    epochs: dict[int, dict] = {}
    for key in ("loss", "val_loss"):
        for m in mc.get_metric_history(run_id, key):
            epochs.setdefault(m.step, {})[key] = m.value
    return [epochs[e] for e in sorted(epochs)]
