"""Quick checks that a store can work, before a run starts and without importing mlflow."""

from __future__ import annotations

from nnexp.tracking import store


def preflight(uri: str, experiment_name: str) -> None:
    """Raise :class:`nnexp.tracking.TrackingError` for a store that cannot work: a server
    that does not answer, a SQLite file whose folder cannot be made."""
    if store.is_http(uri):
        store.check_server(uri)
        return
    db = store.sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store.TrackingError(f"tracking.uri {uri}: cannot create {db.parent}: {exc.strerror}") from None
