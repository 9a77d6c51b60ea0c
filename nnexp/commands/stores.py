"""Opening an existing tracking store from a command, as every store-reading command does:
the URI from ``--uri``, else ``MLFLOW_TRACKING_URI``, else ``./mlflow.db``; a missing SQLite
file is an error (never created); lost runs are ended first (:func:`nnexp.tracking.reap`)."""

from __future__ import annotations

import os
from pathlib import Path

from nnexp.tracking import store
from nnexp.tracking.store import TrackingError

HOW_TO_CREATE = ("Create runs first, e.g. `nnexp +experiment=tutorial` (one run) or "
                 "`nnexp -m +experiment=xor seed=0,1,2` (a sweep), then run this command "
                 "again from the same directory (or pass --uri).")
URI_HELP = "tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)"


def open_store(uri: str | None, reap: bool = True):
    """``(resolved uri, MlflowClient)`` for an existing store."""
    uri = store.resolve_uri(uri or os.environ.get("MLFLOW_TRACKING_URI") or store.DEFAULT_URI, Path.cwd())
    db = store.sqlite_path(uri)
    if db is not None and not db.exists():
        raise TrackingError(f"No MLflow store at {db}. {HOW_TO_CREATE}")
    if store.is_http(uri):
        store.check_server(uri)
    client = store.client(uri)
    if reap:
        from nnexp.tracking.reaper import reap as end_lost_runs

        end_lost_runs(uri, client=client)
    return uri, client


def get_run(client, run_id: str, uri: str):
    """The run, or a clear error for an id the store does not have."""
    from mlflow.exceptions import MlflowException

    try:
        return store.retry(client.get_run, run_id)
    except MlflowException:
        raise TrackingError(f"No run {run_id!r} in {uri}. `nnexp runs` lists the runs there "
                            "(or pass --uri for another store).") from None
