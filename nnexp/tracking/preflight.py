"""Quick checks that a store can work, before a run starts and without importing mlflow.

A store that cannot work is found here, so it is one message and no half-made run (and a
store nnexp cannot use is never touched): :class:`StoreError` for the environment's fault
(exit 3: read-only, full, corrupt, a driver missing), :class:`TrackingError` for the input's
(exit 2: a path that is not a directory, an experiment name MLflow refuses).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from nnexp.tracking import store
from nnexp.tracking.store import StoreError

#: MLflow's limit on an experiment's name (mlflow.utils.validation.MAX_EXPERIMENT_NAME_LENGTH).
MAX_EXPERIMENT_NAME_LENGTH = 500
#: A disk with less free space than this cannot take a new store (~0.3 MB) and a run's record.
MIN_FREE_BYTES = 2 * 1024 * 1024
#: Stores up to this size get SQLite's quick integrity check (~10 ms per MB); larger ones only
#: the schema read (their damage is found when the sender opens them).
QUICK_CHECK_BYTES = 64 * 1024 * 1024
#: Database URI schemes -> the driver SQLAlchemy loads for them, by default.
DEFAULT_DRIVERS = {"mysql": "MySQLdb", "mssql": "pyodbc"}
#: SQLAlchemy's names of drivers -> their modules.
PIP_NAMES = {"MySQLdb": "mysqlclient", "mysql.connector": "mysql-connector-python"}
DRIVER_MODULES = {"mysqldb": "MySQLdb", "pymysql": "pymysql", "pyodbc": "pyodbc",
                  "mysqlconnector": "mysql.connector", "pymssql": "pymssql"}


def preflight(uri: str, experiment_name: str) -> None:
    """Raise :class:`nnexp.tracking.TrackingError` for a store that cannot work: a server
    that does not answer, a SQLite file that cannot be read or written or whose folder cannot
    be made, a database driver that is not installed, an experiment name MLflow refuses."""
    check_experiment_name(experiment_name)
    if store.is_http(uri):
        store.check_server(uri)
        return
    if uri.startswith(store.DATABASES):
        check_driver(uri)
        return
    db = store.sqlite_path(uri)
    if db is not None:
        check_sqlite(uri, db)


def check_experiment_name(name: str) -> None:
    if len(str(name)) > MAX_EXPERIMENT_NAME_LENGTH:
        raise store.TrackingError(
            f"tracking.experiment is {len(str(name))} characters long; MLflow takes names of at most "
            f"{MAX_EXPERIMENT_NAME_LENGTH} characters. Choose a shorter tracking.experiment.")


def check_driver(uri: str) -> None:
    scheme = uri.partition("://")[0]
    dialect, _, driver = scheme.partition("+")
    module = DRIVER_MODULES.get(driver, driver) if driver else DEFAULT_DRIVERS.get(dialect)
    if module and not store._installed(module.split(".")[0]):
        raise StoreError(f"tracking.uri {uri!r} needs the database driver {module}, which is not "
                         f"installed. Install it (pip install {PIP_NAMES.get(module, module)}), or use "
                         "a sqlite:/// or http:// tracking.uri.")


def check_sqlite(uri: str, db: Path) -> None:
    """The folder made, the file a readable SQLite database, both writable, space left."""
    if db.is_dir():
        raise store.TrackingError(f"tracking.uri {uri}: {db} is a directory; expected the path of "
                                  "a SQLite file (e.g. sqlite:///mlflow.db), made if missing.")
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error = StoreError if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC) \
            else store.TrackingError
        raise error(f"tracking.uri {uri}: cannot create {db.parent}: {exc.strerror}") from None
    for path in ([db] if db.exists() else []) + [db.parent]:
        if not os.access(path, os.W_OK):
            why = "the file system is read-only" if _read_only_fs(path) else "permission denied"
            raise StoreError(f"tracking.uri {uri}: {path} cannot be written ({why}). Make it "
                             "writable, or set tracking.uri to a store you can write.")
    if db.exists() and db.stat().st_size > 0:
        problem = _sqlite_problem(db)
        if problem:
            raise StoreError(f"tracking.uri {uri}: {db} is not a usable SQLite database ({problem}): "
                             "it is corrupt or truncated, and nnexp leaves it as it is. Restore it "
                             "from a backup, or set tracking.uri to another file.")
    free = shutil.disk_usage(db.parent).free
    if free < MIN_FREE_BYTES:
        raise StoreError(f"tracking.uri {uri}: the disk holding {db.parent} is full ({free} bytes "
                         "free). Free some space, or set tracking.uri to a store on another disk.")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _sqlite_problem(db: Path) -> str | None:
    """What SQLite says is wrong with ``db`` (read-only, no lock taken for long), or None."""
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        con.execute("SELECT name FROM sqlite_master").fetchall()
        if db.stat().st_size <= QUICK_CHECK_BYTES:
            rows = con.execute("PRAGMA quick_check(1)").fetchall()
            if rows and rows[0][0] != "ok":
                return "database disk image is malformed"
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return None  # busy, not broken: the store's own retries deal with it
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        con.close()
    return None
