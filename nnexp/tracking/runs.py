"""The MLflow side of one run, as the sender does it: open (or reopen) the run a record asks
for, and make its last files (tables, pictures). Everything here runs where mlflow is imported
— the sender process, ``nnexp sync``, the reaper — never in a training process."""

from __future__ import annotations

from nnexp.record import Record
from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, cap, clean_key

#: Stores already cleared of lost runs by this process (once per store is enough).
_reaped: set[str] = set()
LIVENESS = ("host", "pid", "pid_start")


def open_run(meta: dict) -> tuple[str, str]:
    """``(run_id, experiment_id)`` of the MLflow run ``meta`` (a record's) describes: created
    with its name, params and tags, or — ``resume_run_id`` — that run reopened (RUNNING again,
    its failure tags removed, ``nnexp.resumed`` counted)."""
    from mlflow.entities import Param, RunTag

    uri = meta["uri"]
    client = store.client(uri)
    if uri not in _reaped:
        from nnexp.tracking.reaper import reap

        _reaped.add(uri)
        reap(uri, client=client)
    tags = {f"nnexp.{k}": str(meta.get(k, "")) for k in LIVENESS}
    tags["nnexp.record"] = meta["record"]
    params = []
    if meta.get("resume_run_id"):
        run_id = meta["resume_run_id"]
        prior = store.retry(client.get_run, run_id)
        store.retry(client.update_run, run_id, status="RUNNING")
        for key in ("nnexp.failure", "nnexp.error"):
            _delete_tag(client, run_id, key)
        tags["nnexp.resumed"] = str(int(prior.data.tags.get("nnexp.resumed", "0")) + 1)
        experiment_id = prior.info.experiment_id
    else:
        experiment_id = meta.get("experiment_id") or store.ensure_experiment(uri, meta["experiment"])
        first = {**meta.get("tags", {}), **tags}
        if meta.get("parent_run_id"):
            first["mlflow.parentRunId"] = meta["parent_run_id"]
        info = store.retry(client.create_run, str(experiment_id), run_name=meta.get("run_name"),
                           tags={clean_key(k): cap(v, TAG_MAX) for k, v in first.items()}).info
        run_id = info.run_id
        params = [Param(clean_key(k), cap(v)) for k, v in meta.get("params", {}).items()]
    for i in range(0, max(len(params), 1), 100):  # MLflow's limit of params per batch
        store.retry(client.log_batch, run_id, params=params[i:i + 100],
                    tags=[RunTag(k, cap(v, TAG_MAX)) for k, v in tags.items()] if i == 0 else [])
    return run_id, str(experiment_id)


def open_parent(meta: dict) -> tuple[str, str]:
    """``(run_id, experiment_id)`` of a new sweep's parent run (tagged ``nnexp.sweep=true``,
    with the launching process's liveness), or of the one ``resume_run_id`` reopens."""
    from mlflow.entities import RunTag

    from nnexp.tracking.sweep import start_sweep

    uri = meta["uri"]
    liveness = {f"nnexp.{k}": str(meta.get(k, "")) for k in LIVENESS}
    if meta.get("resume_run_id"):  # a resumed sweep: its parent, RUNNING again
        client, run_id = store.client(uri), meta["resume_run_id"]
        prior = store.retry(client.get_run, run_id)
        store.retry(client.update_run, run_id, status="RUNNING")
        _delete_tag(client, run_id, "nnexp.failures")
        resumed = str(int(prior.data.tags.get("nnexp.resumed", "0")) + 1)
        store.retry(client.log_batch, run_id, tags=[RunTag(k, v) for k, v in
                                                    {**liveness, "nnexp.resumed": resumed}.items()])
        return run_id, str(prior.info.experiment_id)
    experiment_id = store.ensure_experiment(uri, meta["experiment"])
    tags = {**meta.get("tags", {}), **liveness}
    return start_sweep(uri, experiment_id, meta["run_name"], tags), str(experiment_id)


def final_files(record: Record, meta: dict, pictures: bool) -> None:
    """The files a run gets when it ends: its tables exported (``stats/``) and, for a
    finished run with ``plot`` on, its pictures (``plots/``, as ``nnexp plot run`` draws them)."""
    settings = meta.get("settings", {})
    finished = meta.get("status") == "FINISHED"
    record.export_stats(settings.get("steps_csv_max_rows", 100_000) if finished else 0)
    if pictures and settings.get("plot", True) and (record.artifacts / "model.npz").exists():
        from nnexp.plots import draw_run

        draw_run(record.artifacts, record.artifacts / "plots", dataset=record.dataset(),
                 title=meta.get("run_name"))


def end_run(sink, record: Record, status: str, *, lost_why: str | None = None,
            pictures: bool = False) -> None:
    """Send the rest of ``record`` through ``sink`` and end its run with ``status``: the
    journal, the status, the last files (tables; pictures if asked), the files. A record
    whose process died before ending it (``lost_why``) is tagged lost. Raises when the store
    fails (the caller retries later)."""
    meta = {**record.meta(), "status": status}
    sink.before_final = lambda: final_files(record, meta, pictures)
    sink.finish_now(status)
    if lost_why:
        tag_lost(sink.client, sink.run_id, lost_why)
    record.update_meta(status=status, synced=True)


def tag_lost(client, run_id: str, why: str) -> None:
    from mlflow.entities import RunTag

    store.retry(client.log_batch, run_id, tags=[
        RunTag("nnexp.failure", "lost"),
        RunTag("nnexp.error", f"the run stopped without ending: {why}; what it had recorded was kept")])


def _delete_tag(client, run_id: str, key: str) -> None:
    try:
        store.retry(client.delete_tag, run_id, key)
    except Exception:  # noqa: BLE001 - absent: nothing to delete
        pass
