"""A sweep as one parent run; its jobs are child runs (``mlflow.parentRunId``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, cap, clean_key, finite_items
from nnexp.tracking.summary import runs_frame, seed_summary

SWEEP_TAG = "nnexp.sweep"
#: The run's description in MLflow's UI (markdown): a sweep's summary.
NOTE_TAG = "mlflow.note.content"


def start_sweep(uri: str, experiment_id: str, name: str, tags: dict | None = None) -> str:
    """Create the parent run of a sweep (tagged ``nnexp.sweep=true``); return its id."""
    mc = store.client(uri)
    all_tags = {clean_key(k): cap(v, TAG_MAX) for k, v in (tags or {}).items()}
    all_tags[SWEEP_TAG] = "true"
    run = store.retry(mc.create_run, str(experiment_id), run_name=name, tags=all_tags)
    return run.info.run_id


def close_lost_runs(uri: str, experiment_id: str, parent_run_id: str, jobs: list[dict]) -> None:
    """End the child runs of jobs that never reported (their process died): status and
    reason from the job (tags ``nnexp.failure``/``nnexp.error``), also when the sender
    already ended the run as lost (the launcher knows how the process died). Each such job
    gets the ``run_id``/``run_name`` of its run (tag ``nnexp.job``), if it had one."""
    lost = {str(j["job"]): j for j in jobs if j.get("run_id") is None and j.get("status") != "FINISHED"}
    if not lost:
        return
    mc = store.client(uri)
    children = store.retry(mc.search_runs, [str(experiment_id)],
                           f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=50000)
    for run in children:
        job = lost.get(run.data.tags.get("nnexp.job", ""))
        if job is None or run.info.status == "FINISHED":
            continue  # (the sender may have ended it KILLED already: the launcher knows why)
        job["run_id"], job["run_name"] = run.info.run_id, run.info.run_name
        failure = "killed" if job["status"] == "KILLED" else "process_died"
        tags = {"nnexp.failure": failure, "nnexp.error": cap(job.get("error") or "", TAG_MAX)}
        _log(mc, run.info.run_id, tags, {})
        store.retry(mc.set_terminated, run.info.run_id, job["status"])


def abandon_sweep(uri: str, parent_run_id: str, reason: str) -> None:
    """End a sweep whose jobs could not be launched: FAILED, the reason in ``nnexp.error``."""
    mc = store.client(uri)
    _log(mc, parent_run_id, {"nnexp.error": cap(reason, TAG_MAX)}, {})
    store.retry(mc.set_terminated, parent_run_id, "FAILED")


def best_run_id(jobs: list[dict], metric: str | None = None) -> str | None:
    """The run id of the sweep's best finished job, as :func:`end_sweep` ranks them."""
    frame, _, _, chosen = runs_frame(jobs, metric)
    best = _best_row(frame, chosen)
    return None if best is None else best["run_id"]


def end_sweep(uri: str, parent_run_id: str, jobs: list[dict], status: str = "FINISHED",
              metric: str | None = None, best_model: str | None = None) -> str:
    """Summarise the jobs on the parent run, end it, and return a printable summary.

    ``jobs``: dicts with run_id, run_name, overrides, status, error, metrics, params.
    The parent gets artifacts ``sweep.csv`` (one row per job: varying config keys, final
    metrics, status, error) and, when a ``seed`` key varies, ``sweep_seeds.csv`` (mean, std,
    count per configuration); tags ``nnexp.best.run_id``/``run_name``/``overrides`` and
    ``nnexp.best.<key>`` for each varying key; metrics ``best.<metric>`` and, over seeds,
    ``best_mean.<metric>``/``best_std.<metric>``; tags ``nnexp.jobs``, ``nnexp.failed_jobs``
    and ``nnexp.failures``; the summary as the run's description (``mlflow.note.content``).
    ``best_model``: the URI of the best job's MLflow model (tag ``nnexp.best.model_uri``). Status: ``status`` (KILLED for an interrupted sweep), but FAILED
    when any job did not finish.
    """
    frame, config, metrics, chosen = runs_frame(jobs, metric)
    failed = [j for j in jobs if j.get("status") != "FINISHED"]
    lines = [f"Sweep: {len(jobs)} job(s), {len(jobs) - len(failed)} finished, {len(failed)} failed."]
    lines += [f"  FAILED {j.get('run_name')}: {j.get('error') or j.get('status')}" for j in failed]
    tags = {"nnexp.jobs": str(len(jobs)), "nnexp.failed_jobs": str(len(failed))}
    if failed:
        tags["nnexp.failures"] = cap("\n".join(lines[1:]), TAG_MAX)
    metric_values = {}
    seeds = seed_summary(frame, config, metrics)
    best = _best_row(frame, chosen)
    if best is not None:
        tags.update(_best_tags(best, config))
        metric_values.update(_best_metrics(best, seeds, config, metrics))
        lines.append(f"Best by {chosen}: {best['run_name']} ({chosen}={best[chosen]:.6g})")
        if best_model:
            tags["nnexp.best.model_uri"] = best_model
            lines.append(f"Its model: {best_model}")
    final = "FAILED" if failed and status == "FINISHED" else status
    tags[NOTE_TAG] = cap(note(lines, final), TAG_MAX)
    _write_parent(uri, parent_run_id, frame, seeds, lines, tags, metric_values, final)
    return "\n".join(lines)


def _write_parent(uri, run_id, frame, seeds, lines, tags, metrics, status) -> None:
    """Artifacts sweep.csv (+ sweep_seeds.csv, summary.txt), tags and metrics; then end it."""
    mc = store.client(uri)
    with tempfile.TemporaryDirectory(prefix="nnexp-sweep-") as tmp:
        frame.to_csv(Path(tmp) / "sweep.csv", index=False)
        if seeds is not None:
            seeds.to_csv(Path(tmp) / "sweep_seeds.csv", index=False)
        (Path(tmp) / "summary.txt").write_text("\n".join(lines) + "\n")
        _log(mc, run_id, tags, metrics)
        store.retry(mc.log_artifacts, run_id, tmp)
    store.retry(mc.set_terminated, run_id, status)


def note(lines: list[str], status: str) -> str:
    """The sweep's summary as markdown for MLflow's description panel."""
    parts = [f"**{lines[0]}** Status: {status}."]
    if len(lines) > 1:
        parts.append("\n".join(f"- {line.strip()}" for line in lines[1:]))
    parts.append("One row per job, with its final metrics: `sweep.csv`.")
    return "\n\n".join(parts)


def _best_row(frame, chosen):
    if not chosen or chosen not in frame.columns:
        return None
    done = frame[(frame["status"] == "FINISHED") & frame[chosen].notna()]
    return None if done.empty else done.iloc[0]


def _best_tags(best, config) -> dict:
    tags = {"nnexp.best.run_id": best["run_id"], "nnexp.best.run_name": best["run_name"],
            "nnexp.best.overrides": best["overrides"]}
    tags.update({f"nnexp.best.{k}": best[k] for k in config})
    return {clean_key(k): cap(v, TAG_MAX) for k, v in tags.items()}


def _best_metrics(best, seeds, config, metrics) -> dict:
    out = {f"best.{m}": best[m] for m in metrics}
    if seeds is not None:
        group = [k for k in config if k in seeds.columns]
        match = seeds
        for key in group:
            match = match[match[key] == str(best[key])]
        if len(match):
            row = match.iloc[0]
            out.update({f"best_mean.{m}": row[f"{m}_mean"] for m in metrics})
            out.update({f"best_std.{m}": row[f"{m}_std"] for m in metrics})
    return out


def _log(mc, run_id: str, tags: dict, metrics: dict) -> None:
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    batch = [Metric(k, v, now, 0) for k, v in finite_items(metrics)[0].items()]
    store.retry(mc.log_batch, run_id, metrics=batch, tags=[RunTag(k, v) for k, v in tags.items()])
