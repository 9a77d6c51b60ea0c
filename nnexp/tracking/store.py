"""Where runs go: URI resolution, the store and experiment set up once, retried writes.

Any number of nnexp processes may open one store at once: MLflow creates (migrates) a
brand-new database the first time a process opens it, and two processes doing that together
break each other ("table ... already exists"). :func:`client` therefore opens a database store
under a file lock: beside the SQLite file, or in the temp directory for a database server.

mlflow is imported inside functions only, so importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from nnexp.errors import NnexpError, did_you_mean
from nnexp.failures import ENVIRONMENT

DEFAULT_URI = "sqlite:///mlflow.db"
#: Where the URI comes from when none is given (tracking.uri's default reads it too).
URI_ENV = "MLFLOW_TRACKING_URI"
#: URI schemes of databases MLflow opens directly (SQLAlchemy dialects).
DATABASES = ("postgresql", "mysql", "mssql")
#: HTTP retry settings for a remote server (MLflow's defaults retry for ~4 minutes).
#: MLflow's own "View run ... at URL" line per ended run is left out: nnexp says where to look.
HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
PROBE_TIMEOUT = 5.0
LOCK_RETRIES = 8


class TrackingError(NnexpError):
    """The tracking store cannot be reached or used: says which URI and what to do.
    ``exit_code`` (2, the input's fault, unless given) comes with a reason the sender found."""

    def __init__(self, message: str = "", exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = int(exit_code)


class StoreError(TrackingError):
    """A store the environment keeps from working: read-only, full, corrupt, no driver
    (exit code 3, :mod:`nnexp.failures`)."""

    exit_code = ENVIRONMENT


def default_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` when set (and not empty), else ``sqlite:///mlflow.db``."""
    return os.environ.get(URI_ENV) or DEFAULT_URI


def resolve_uri(uri: str | None, launch_dir) -> str:
    """``sqlite:///rel.db`` or a bare path -> ``sqlite:////abs/rel.db`` against ``launch_dir``;
    ``postgresql://`` -> ``postgresql+psycopg://`` when only psycopg 3 is installed;
    ``http(s)://`` and other schemes unchanged. No URI: :func:`default_uri`."""
    uri = str(uri or default_uri())
    if uri.startswith("postgresql"):
        return _postgresql(uri)
    if uri.startswith(("http://", "https://", "databricks", *DATABASES)):
        return uri
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
    elif "://" in uri or uri.startswith("sqlite:"):
        raise TrackingError(f"tracking.uri {uri!r} is not supported. Use sqlite:///path/to/mlflow.db "
                            "(relative to the launch directory), a bare file path, or http://host:port.")
    else:
        path = uri
    full = Path(path).expanduser()
    if not full.is_absolute():
        full = Path(launch_dir) / full
    return "sqlite:///" + str(full.resolve())


def _postgresql(uri: str) -> str:
    """A PostgreSQL URI whose driver is installed, or one error naming the extra."""
    scheme, _, rest = uri.partition("://")
    driver = scheme.partition("+")[2] or ("psycopg2" if _installed("psycopg2") else "psycopg")
    if not _installed(driver):
        raise StoreError(
            f"tracking.uri {uri!r} needs a PostgreSQL driver, and {driver} is not installed. "
            "Install it with `pip install 'nnexp[server]'` (psycopg 3), or use an http:// "
            "server URI (`bash scripts/server.sh start` prints one).")
    return f"postgresql+{driver}://{rest}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked (None in sys.modules)
        return False


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def lock_path(uri: str) -> Path | None:
    """The file lock that serialises opening (so creating) the database of ``uri``:
    ``mlflow.db.lock`` beside a SQLite file, one per database URI in the temp directory for
    a database server (processes on one machine), None for an HTTP server (it migrates)."""
    db = sqlite_path(uri)
    if db is not None:
        return db.with_name(db.name + ".lock")
    if uri.startswith(DATABASES):
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"nnexp-store-{digest}.lock"
    return None


def client(uri: str):
    """An ``MlflowClient`` for ``uri`` (HTTP retries bounded, migration chatter quiet).

    MLflow opens a database store once per process (and creates its tables if missing): that
    first opening holds :func:`lock_path`, so concurrent processes never migrate together."""
    if is_http(uri):
        for key, value in HTTP_ENV.items():
            os.environ.setdefault(key, value)
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    lock = lock_path(uri)
    if lock is None:
        return MlflowClient(tracking_uri=uri)
    from filelock import FileLock

    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        return MlflowClient(tracking_uri=uri)


#: What a store that does not answer (down, unreachable, overloaded) says, as opposed to a
#: store that refused what was sent: the first is waited out, the second is reported.
UNREACHABLE_TYPES = ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "MaxRetryError",
                     "NewConnectionError", "ProtocolError", "RemoteDisconnected", "TimeoutError")
UNREACHABLE_TEXT = ("Max retries exceeded", "Connection refused", "Failed to establish a new connection",
                    "Connection aborted", "Read timed out", "database is locked",
                    "error code 502", "error code 503", "error code 504")


def unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the store did not answer."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in UNREACHABLE_TYPES or isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        if any(text in str(exc) for text in UNREACHABLE_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def retry(fn, *args, **kwargs):
    """Call ``fn``; retry SQLite lock errors (MLflow gives up after one 20 s wait)."""
    for attempt in range(LOCK_RETRIES):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MlflowException or sqlalchemy, both wrap it
            if not _is_lock_error(exc) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
    raise AssertionError("unreachable")


def check_server(uri: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`TrackingError` fast unless an MLflow server answers at ``uri``."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            if resp.status < 400:
                return
            problem = f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingError(
        f"Cannot reach the MLflow tracking server at {uri} ({problem}). Start it with "
        f"`mlflow server --host 127.0.0.1 --port PORT --backend-store-uri sqlite:///mlflow.db`, "
        "or set tracking.uri=sqlite:///mlflow.db to use a local store.")


def _artifact_location(uri: str, name: str) -> str | None:
    """Artifacts beside the SQLite file, not in whatever directory a job runs from."""
    db = sqlite_path(uri)
    if db is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return (db.parent / "mlruns" / safe).as_uri()


def ensure_experiment(uri: str, experiment_name: str) -> str:
    """Create the store (schema migration) and the experiment once; return its id. A new
    experiment is tagged as model training (``mlflow.experimentKind``: MLflow's UI opens it
    on its runs table, not on traces).

    Call from ONE process before jobs start: concurrent migrations of a new SQLite file race.
    Safe when both exist already. An unreachable server raises :class:`TrackingError`.
    """
    if is_http(uri):
        check_server(uri)
    mc = client(uri)  # creates the SQLite file's directory with its lock
    exp = retry(mc.get_experiment_by_name, experiment_name)
    if exp is None:
        try:
            from nnexp.tracking.context import experiment_tags  # the UI opens on the runs

            return retry(mc.create_experiment, experiment_name, _artifact_location(uri, experiment_name),
                         tags=experiment_tags())
        except Exception:  # noqa: BLE001 - created meanwhile by another process
            exp = retry(mc.get_experiment_by_name, experiment_name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise TrackingError(f"Experiment {experiment_name!r} is deleted in {uri}. Restore it "
                            f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) "
                            "or choose another name.")
    return exp.experiment_id


def find_experiment(mc, name: str):
    """The experiment called ``name``, or a did-you-mean error listing what exists."""
    exp = mc.get_experiment_by_name(name)
    if exp is not None:
        return exp
    names = sorted(e.name for e in mc.search_experiments())
    hint = did_you_mean(name, names)
    msg = f"Unknown experiment {name!r}. Available: {', '.join(names) or '(none)'}."
    raise TrackingError(msg + (f"\nDid you mean {hint!r}?" if hint else ""))
