"""A finished search on its parent run: the trial table, the best configuration and Optuna's
optimisation-history and parameter-importance pictures (artifacts under ``search/``)."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, as_typed, cap

RUN_ID_ATTR = "nnexp.run_id"


def best_summary(study, metric: str) -> dict | None:
    """The best finished trial: number, value, params, overrides and its MLflow run id."""
    try:
        best = study.best_trial
    except ValueError:  # no trial completed
        return None
    return {"trial": best.number, "metric": metric, "value": float(best.value),
            "params": dict(best.params), "run_id": best.user_attrs.get(RUN_ID_ATTR),
            "overrides": " ".join(f"{k}={as_typed(v)}" for k, v in best.params.items())}


def record_search(uri: str, parent_run_id: str, study, metric: str, storage: str) -> dict | None:
    """Log the search to its parent run; returns :func:`best_summary`."""
    best = best_summary(study, metric)
    mc = store.client(uri)
    with tempfile.TemporaryDirectory(prefix="nnexp-search-") as tmp:
        out = Path(tmp)
        study.trials_dataframe().to_csv(out / "trials.csv", index=False)
        if best is not None:
            (out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
        _pictures(study, out, metric)
        store.retry(mc.log_artifacts, parent_run_id, str(out), "search")
    tags = {"nnexp.search.study": study.study_name, "nnexp.search.storage": storage,
            "nnexp.search.trials": str(len(study.trials))}
    if best is not None:
        tags.update({"nnexp.search.best_trial": str(best["trial"]),
                     "nnexp.search.best_overrides": best["overrides"],
                     "nnexp.search.best_run_id": str(best["run_id"])})
    for key, value in tags.items():
        store.retry(mc.set_tag, parent_run_id, key, cap(value, TAG_MAX))
    return best


def _pictures(study, out: Path, metric: str) -> None:
    """optimization_history.png and, with two finished trials or more, param_importances.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    finished = [t for t in study.trials if t.value is not None]
    drawers: dict[str, Callable[..., Any]] = {"optimization_history": vis.plot_optimization_history}
    if len(finished) >= 2 and len(study.best_trial.params) >= 1:
        drawers["param_importances"] = vis.plot_param_importances
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
        for name, draw in drawers.items():
            try:
                axes = draw(study, target_name=metric)
            except (ValueError, RuntimeError) as exc:  # e.g. importances of a constant objective
                (out / f"{name}.txt").write_text(f"not drawn: {exc}\n")
                continue
            axes.figure.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
            plt.close(axes.figure)
