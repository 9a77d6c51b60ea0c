"""The MLflow side of one run, as the sender does it: open (or reopen) the run a record asks
for, and make its last files (tables, pictures). Everything here runs where mlflow is imported
— the sender process, ``nnexp sync``, the reaper — never in a training process."""

from __future__ import annotations

import sys

from nnexp.record import Record
from nnexp.record.files import read_json, write_json
from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, cap, clean_key

#: Stores already cleared of lost runs by this process (once per store is enough).
_reaped: set[str] = set()
LIVENESS = ("host", "pid", "pid_start")
#: MLflow's context tags by (source name, launch directory): resolved once per sender.
_contexts: dict[tuple, dict[str, str]] = {}
#: In a record: which model.npz was logged as the run's MLflow model (logged once).
MODEL_STATE = "model.json"


def open_run(meta: dict, created=None) -> tuple[str, str]:
    """``(run_id, experiment_id)`` of the MLflow run ``meta`` (a record's) describes: created
    with its name, params and tags, or — ``resume_run_id`` — that run reopened (RUNNING again,
    its failure tags removed, ``nnexp.resumed`` counted). ``created(run_id, experiment_id)``
    is called as soon as a new run exists, before its params are logged: a store that stops
    answering in between leaves a run its caller knows (:func:`describe_run` completes it),
    not one a second try would duplicate."""
    from mlflow.entities import RunTag

    uri = meta["uri"]
    client = store.client(uri)
    if uri not in _reaped:
        from nnexp.tracking.reaper import reap

        _reaped.add(uri)
        reap(uri, client=client)
    if meta.get("resume_run_id"):
        run_id = meta["resume_run_id"]
        prior = store.retry(client.get_run, run_id)
        store.retry(client.update_run, run_id, status="RUNNING")
        for key in ("nnexp.failure", "nnexp.error"):
            _delete_tag(client, run_id, key)
        resumed = str(int(prior.data.tags.get("nnexp.resumed", "0")) + 1)
        tags = {**_liveness(meta), "nnexp.resumed": resumed}
        store.retry(client.log_batch, run_id, tags=[RunTag(k, cap(v, TAG_MAX)) for k, v in tags.items()])
        return run_id, str(prior.info.experiment_id)
    experiment_id = meta.get("experiment_id") or store.ensure_experiment(uri, meta["experiment"])
    first = {**context_tags(meta), **meta.get("tags", {}), **_liveness(meta)}
    if meta.get("parent_run_id"):
        first["mlflow.parentRunId"] = meta["parent_run_id"]
    run_id = store.retry(client.create_run, str(experiment_id), run_name=meta.get("run_name"),
                         tags={clean_key(k): cap(v, TAG_MAX) for k, v in first.items()}).info.run_id
    if created is not None:
        created(run_id, str(experiment_id))
    describe_run(meta, run_id, client)
    return run_id, str(experiment_id)


def describe_run(meta: dict, run_id: str, client=None) -> None:
    """Log a new run's params, liveness tags and datasets (again: each is the same value)."""
    from mlflow.entities import Param, RunTag

    client = client or store.client(meta["uri"])
    params = [Param(clean_key(k), cap(v)) for k, v in meta.get("params", {}).items()]
    tags = [RunTag(k, cap(v, TAG_MAX)) for k, v in _liveness(meta).items()]
    for i in range(0, max(len(params), 1), 100):  # MLflow's limit of params per batch
        store.retry(client.log_batch, run_id, params=params[i:i + 100], tags=tags if i == 0 else [])
    log_datasets(client, run_id, meta)


def _liveness(meta: dict) -> dict[str, str]:
    """The tags that say which process trains a run (the reaper's evidence) and its record."""
    tags = {f"nnexp.{k}": str(meta.get(k, "")) for k in LIVENESS}
    if meta.get("record"):
        tags["nnexp.record"] = meta["record"]
    return tags


def download_record(client, run_id: str, record: Record) -> None:
    """What continuing a run needs, from its artifacts into a new local ``record`` (its
    record is on another machine): its config.yaml and last checkpoint, those it has."""
    from mlflow.exceptions import MlflowException

    record.artifacts.mkdir(parents=True, exist_ok=True)
    for path, folder in (("config.yaml", ""), ("checkpoints/last/checkpoint.npz", "checkpoints/last")):
        try:
            client.download_artifacts(run_id, path, str(record.artifacts / folder))
        except (MlflowException, OSError):
            pass  # absent: the config is said missing by its user, a run without a checkpoint starts over


def context_tags(meta: dict) -> dict[str, str]:
    """MLflow's standard tags (user, source name and type, git commit/branch/repo) of the
    process that trained ``meta``'s run, through MLflow's own resolvers: its ``sys.argv[0]``
    and launch directory travel in ``meta["context"]`` (the trainer does not import mlflow).
    Empty when the record does not say (an older record) or the resolvers fail."""
    ctx = meta.get("context")
    if not ctx:
        return {}
    key = (ctx.get("source_name"), ctx.get("launch_dir"))
    if key not in _contexts:
        from nnexp.tracking import context

        try:
            _contexts[key] = context.context_tags(ctx.get("launch_dir"), ctx.get("source_name"))
        except Exception as exc:  # noqa: BLE001 - tags that help, not ones a run needs
            say(f"MLflow's context tags could not be resolved: {type(exc).__name__}: {exc}")
            _contexts[key] = {}
    return _contexts[key]


def log_datasets(client, run_id: str, meta: dict) -> None:
    """One MLflow dataset input per split of the dataset kept in the record (name, digest,
    source, schema, context train/validation/test); nothing when none was kept. A failure is
    said, not raised: the run exists by now, and opening it again would make a second one."""
    dataset = Record(meta["record"]).dataset() if meta.get("record") else None
    if dataset is None:
        return
    from nnexp.tracking import context

    try:
        context.log_datasets(client, run_id, dataset, meta.get("dataset_spec"))
    except Exception as exc:  # noqa: BLE001
        say(f"run {run_id}: its datasets could not be logged: {type(exc).__name__}: {exc}")


def say(text: str) -> None:
    print(f"nnexp: {text}", file=sys.stderr, flush=True)


def open_parent(meta: dict) -> tuple[str, str]:
    """``(run_id, experiment_id)`` of a new sweep's parent run (tagged ``nnexp.sweep=true``,
    with the launching process's liveness), or of the one ``resume_run_id`` reopens."""
    from mlflow.entities import RunTag

    from nnexp.tracking.sweep import start_sweep

    uri = meta["uri"]
    liveness = _liveness(meta)
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
    tags = {**context_tags(meta), **meta.get("tags", {}), **liveness}
    return start_sweep(uri, experiment_id, meta["run_name"], tags), str(experiment_id)


def final_files(record: Record, meta: dict, pictures: bool, run_id: str | None = None,
                model: bool = False) -> None:
    """The files a run gets when it ends: its tables exported (``stats/``) and, for a
    finished run with ``plot`` on, its pictures (``plots/``, as ``nnexp plot run`` draws them);
    with ``model`` (and ``run_id``), its network logged as an MLflow model
    (:func:`log_run_model`) when :func:`wants_model`. (The sender does the same in steps:
    its pictures are drawn by :class:`nnexp.tracking.painter.Painter` meanwhile.)"""
    export_tables(record, meta)
    if draws_pictures(record, meta, pictures):
        from nnexp.tracking.painter import draw_record

        draw_record(record.path, meta.get("run_name"))
    if model and run_id:
        final_model(record, meta, run_id)


def export_tables(record: Record, meta: dict) -> None:
    """Export the record's tables into ``artifacts/stats/`` (the CSV only for a finished run)."""
    settings = meta.get("settings", {})
    record.export_stats(settings.get("steps_csv_max_rows", 100_000) if meta.get("status") == "FINISHED" else 0)


def draws_pictures(record: Record, meta: dict, pictures: bool) -> bool:
    """Whether the run ending with ``meta`` gets its pictures (asked, ``plot`` on, a model)."""
    return pictures and meta.get("settings", {}).get("plot", True) and (record.artifacts / "model.npz").exists()


def final_model(record: Record, meta: dict, run_id: str) -> None:
    """Log a finished run's network as its MLflow model when :func:`wants_model`; a failure is
    said and the run's other files go on."""
    if meta.get("status") != "FINISHED" or not wants_model(meta):
        return
    import time

    from nnexp.tracking.sender import _log

    t0 = time.perf_counter()
    try:
        log_run_model(record, meta, run_id)
        _log(f"model of {run_id} logged in {time.perf_counter() - t0:.3f} s")
    except Exception as exc:  # noqa: BLE001 - the run's other files go on
        say(f"run {run_id}: its model could not be logged: {type(exc).__name__}: {exc}")


def wants_model(meta: dict) -> bool:
    """Whether a finished run's network is logged as an MLflow model: when ``save_model``
    is on, for a single run, and for a sweep's job only with ``register_model`` (logging one
    costs more than a small job trains: benchmarks/RESULTS_model.md)."""
    settings = meta.get("settings", {})
    if not settings.get("save_model", True):
        return False
    in_sweep = meta.get("parent_key") or meta.get("parent_run_id")
    return not in_sweep or bool(settings.get("register_model"))


def log_run_model(record: Record, meta: dict, run_id: str) -> str | None:
    """Log the record's ``artifacts/model.npz`` as the MLflow model ``model`` of ``run_id``
    (pyfunc, signature and input example from the kept dataset's training rows) and, with
    ``register_model``, register it. Once per model.npz (``model.json`` in the record says
    which was logged). Returns the logged model's id (None: no model.npz)."""
    npz = record.artifacts / "model.npz"
    if not npz.is_file():
        return None
    st = npz.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    done = read_json(record.path / MODEL_STATE, {}) or {}
    if done.get("run_id") == run_id and done.get("npz") == stamp:
        return done.get("model_id")
    import numpy as np

    from nnexp.network import Network
    from nnexp.tracking.model import log_model

    network = Network.load(npz)
    dataset = record.dataset()
    if dataset is not None and dataset.X_train is not None and len(dataset.X_train):
        example = dataset.X_train
    else:
        example = np.zeros((1, *network.input_shape))
    name = meta.get("settings", {}).get("register_model")
    logged = log_model(meta["uri"], run_id, network, example, registered_model_name=name,
                       step=int(record.meta().get("epoch") or 0))
    write_json(record.path / MODEL_STATE, {"run_id": run_id, "npz": stamp, "model_id": logged.model_id,
                                           "registered_model": name,
                                           "registered_version": logged.registered_version})
    return logged.model_id


def end_run(sink, record: Record, status: str, *, lost_why: str | None = None,
            pictures: bool = False, model: bool = True) -> None:
    """Send the rest of ``record`` through ``sink`` and end its run with ``status``: the
    journal, the status, the last files (tables; pictures if asked; the MLflow model of a
    finished run unless ``model`` is False), the files. A record whose process died before
    ending it (``lost_why``) is tagged lost. Raises when the store fails (the caller retries
    later)."""
    meta = {**record.meta(), "status": status}
    sink.before_final = lambda: final_files(record, meta, pictures, sink.run_id, model)
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
