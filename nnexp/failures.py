"""One place that turns a failure into what the user reads and the exit code.

Every entry of the ``nnexp`` command (the Hydra app, each subcommand, a sweep's jobs, the
sender reporting a store it cannot use) asks :func:`explain` what an exception means. It walks
the exception and what caused it, and the first kind in :data:`KINDS` that recognises one of
them gives the message and the exit code. An exception no kind recognises is a bug: it keeps
its traceback (the caller re-raises it).

Exit codes:

- ``0``: done;
- ``1``: a job of a sweep failed (each is listed in the sweep's summary), or a bug (traceback);
- ``2``: your input: an override, a name, a value out of range, a path or file you gave, a
  size this machine cannot hold (the message says what is valid, "did you mean" for a name);
- ``3``: the environment: the store or the machine cannot do it (a read-only or full disk, a
  corrupt store, a database driver that is not installed);
- ``130``/``143``: interrupted (Ctrl-C, SIGTERM), the run is KILLED with what it logged kept.

The message is one block on stderr: a first line ``nnexp: error: WHAT WAS WRONG`` (``nnexp
CMD: error:`` for a subcommand), and, when there is more to say, lines of advice under it
(what is valid, "Did you mean", where to look). Nothing is printed after it.

mlflow is not imported here: recognising its errors is done by their type names and text.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from dataclasses import dataclass

#: Exit codes (see the module docstring).
USER = 2
ENVIRONMENT = 3

#: Database drivers a tracking URI may need -> what installs them.
DRIVERS = {"psycopg": "pip install 'nnexp[server]'", "psycopg2": "pip install 'nnexp[server]'",
           "pymysql": "pip install pymysql", "MySQLdb": "pip install mysqlclient",
           "pyodbc": "pip install pyodbc"}
#: OSError numbers by whose fault they are.
ENVIRONMENT_ERRNOS = {errno.EROFS: "the file system is read-only",
                      errno.EACCES: "permission denied",
                      errno.EPERM: "operation not permitted",
                      errno.ENOSPC: "the disk is full",
                      errno.EDQUOT: "the disk quota is exceeded",
                      errno.EIO: "an input/output error"}
USER_ERRNOS = {errno.ENOTDIR: "a part of the path is a file, not a directory",
               errno.EISDIR: "it is a directory, not a file",
               errno.EEXIST: "a file is in the way",
               errno.ENAMETOOLONG: "the name is too long",
               errno.ELOOP: "too many symbolic links"}
#: What SQLite says of a database file it cannot use.
CORRUPT_TEXT = ("file is not a database", "database disk image is malformed", "file is encrypted")
READONLY_TEXT = ("attempt to write a readonly database", "readonly database")
FULL_TEXT = ("database or disk is full",)
#: Libraries whose errors wrap the one that says what happened (their context is followed).
WRAPPERS = ("mlflow", "sqlalchemy", "hydra", "omegaconf", "alembic")


@dataclass(frozen=True)
class Failure:
    """What a failure means: the exit code and the message (without the ``nnexp: error:``)."""

    code: int
    message: str
    kind: str


@dataclass(frozen=True)
class Kind:
    """A kind of failure: which exceptions it recognises, its code and its message."""

    name: str
    matches: Callable[[BaseException], bool]
    message: Callable[[BaseException], str]
    code: int | Callable[[BaseException], int]

    def explain(self, exc: BaseException) -> Failure | None:
        if not self.matches(exc):
            return None
        code = self.code(exc) if callable(self.code) else self.code
        return Failure(code, self.message(exc).strip(), self.name)


# -- the kinds ---------------------------------------------------------------------------------
def _is_nnexp(exc) -> bool:
    from nnexp.errors import NnexpError

    return isinstance(exc, NnexpError)


def _hydra(*names: str):
    def matches(exc) -> bool:
        if "hydra" not in sys.modules and "omegaconf" not in sys.modules:
            return False
        import hydra.errors
        import omegaconf.errors

        classes = [getattr(hydra.errors, n, None) or getattr(omegaconf.errors, n) for n in names]
        return isinstance(exc, tuple(classes))
    return matches


def _missing_config(exc) -> str:
    from nnexp.app import _missing_config_message

    return _missing_config_message(exc)


def _override(exc) -> str:
    return (f"cannot parse the override {exc.override!r}: {exc.message}\n"
            "Overrides are KEY=VALUE, GROUP=OPTION, +KEY=VALUE or ~KEY; lists are [a,b].")


def _config(exc) -> str:
    from nnexp.errors import NnexpError

    parts = [str(exc).strip()]
    cause = exc.__cause__
    if cause is not None and (_hydra("HydraException", "OmegaConfBaseException")(cause)
                              or isinstance(cause, NnexpError)):
        parts.append(str(cause).strip())
    parts.append("The composed config and its keys: nnexp --cfg job")
    return "\n".join(p for p in parts if p)


def _raised_in(exc, *packages: str) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in one of ``packages``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.split(".")[0] in packages


def _is_override_value(exc) -> bool:
    """Hydra's checks of an override's group and value that raise plain ValueErrors
    (``=3``: "Config group override must be a string or a list")."""
    return isinstance(exc, ValueError) and _raised_in(exc, "hydra") and "override" in str(exc).lower()


def _override_value(exc) -> str:
    return (f"a bad override: {exc}\n"
            "Overrides are KEY=VALUE, GROUP=OPTION, +KEY=VALUE or ~KEY; lists are [a,b].")


def _is_launcher_setting(exc) -> bool:
    """joblib's refusal of ``n_jobs`` (found when the launcher runs, if nnexp's checks miss it)."""
    return isinstance(exc, ValueError) and "n_jobs" in str(exc) and _raised_in(exc, "joblib", "hydra_plugins")


def _launcher_setting(exc) -> str:
    return (f"hydra.launcher: {exc}\nhydra.launcher.n_jobs is the number of worker processes: "
            "a positive number, or -1 for every CPU (-2 all but one, ...).")


def _memory(exc) -> str:
    size = getattr(exc, "_total_size", None)
    shape = getattr(exc, "shape", None)
    what = (f"{_bytes(size)} for an array of shape {tuple(shape)}" if size and shape is not None
            else "memory")
    return (f"the network or dataset is too large to allocate: it needs {what}, and this machine "
            f"has {_bytes(available_memory())} available.\nMake it smaller: model.hidden or "
            "model.layers' units, the dataset's size (dataset.n_samples, ...) or trainer.batch_size.")


def _is_errno(table):
    def matches(exc) -> bool:
        return isinstance(exc, OSError) and exc.errno in table
    return matches


def _os_error(exc) -> str:
    reason = ENVIRONMENT_ERRNOS.get(exc.errno) or USER_ERRNOS.get(exc.errno) or exc.strerror
    import os

    where = os.path.abspath(str(exc.filename)) if exc.filename is not None else None
    text = f"cannot use {where}: {reason}" if where else f"{reason} ({exc.strerror})"
    if exc.filename2:
        text += f" (and {exc.filename2})"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        text += ".\nFree some space there, or point the run elsewhere (hydra.run.dir, tracking.uri)."
    elif exc.errno in ENVIRONMENT_ERRNOS:
        text += (".\nRun from a directory you can write to, or point the run's output "
                 "(hydra.run.dir, hydra.sweep.dir) and its store (tracking.uri) to one.")
    else:
        text += "."
    return text


def _text_in(*texts: str):
    def matches(exc) -> bool:
        said = str(exc).lower()
        return any(t in said for t in texts) and (type(exc).__name__ in (
            "DatabaseError", "OperationalError", "MlflowException") or
            type(exc).__module__.startswith(("sqlite3", "sqlalchemy", "mlflow")))
    return matches


def _store_corrupt(exc) -> str:
    return (f"the tracking store is not a usable SQLite database ({_sqlite_reason(exc)}): "
            "it is corrupt or truncated.\nRestore it from a backup, or set tracking.uri to "
            "another file (a new one is created).")


def _store_readonly(exc) -> str:
    return (f"the tracking store cannot be written ({_sqlite_reason(exc)}).\nMake it and its "
            "directory writable, or set tracking.uri to a store you can write.")


def _store_full(exc) -> str:
    return (f"the tracking store cannot be written ({_sqlite_reason(exc)}).\nFree some space on "
            "its disk, or set tracking.uri to a store on another disk.")


def _sqlite_reason(exc) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace("(sqlite3.DatabaseError) ", "").replace("(sqlite3.OperationalError) ", "")


def _is_driver(exc) -> bool:
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in DRIVERS


def _driver(exc) -> str:
    name = exc.name.split(".")[0]
    return (f"tracking.uri needs the database driver {name}, which is not installed. "
            f"Install it ({DRIVERS[name]}), or use a sqlite:/// or http:// tracking.uri.")


def _is_name_length(exc) -> bool:
    return "exceeds the maximum length" in str(exc) and type(exc).__module__.startswith("mlflow")


def _name_length(exc) -> str:
    return f"{str(exc).splitlines()[0]}.\nChoose a shorter tracking.experiment."


def _code_of(exc) -> int:
    return int(getattr(exc, "exit_code", USER))


KINDS: list[Kind] = [
    Kind("nnexp", _is_nnexp, str, _code_of),
    Kind("missing-config", _hydra("MissingConfigException"), _missing_config, USER),
    Kind("override", _hydra("OverrideParseException"), _override, USER),
    Kind("config", _hydra("HydraException", "OmegaConfBaseException"), _config, USER),
    Kind("override-value", _is_override_value, _override_value, USER),
    Kind("launcher-setting", _is_launcher_setting, _launcher_setting, USER),
    Kind("memory", lambda e: isinstance(e, MemoryError), _memory, USER),
    Kind("store-corrupt", _text_in(*CORRUPT_TEXT), _store_corrupt, ENVIRONMENT),
    Kind("store-readonly", _text_in(*READONLY_TEXT), _store_readonly, ENVIRONMENT),
    Kind("store-full", _text_in(*FULL_TEXT), _store_full, ENVIRONMENT),
    Kind("database-driver", _is_driver, _driver, ENVIRONMENT),
    Kind("experiment-name", _is_name_length, _name_length, USER),
    Kind("filesystem", _is_errno(ENVIRONMENT_ERRNOS), _os_error, ENVIRONMENT),
    Kind("path", _is_errno(USER_ERRNOS), _os_error, USER),
]


# -- using them --------------------------------------------------------------------------------
def chain(exc: BaseException):
    """``exc`` and what caused it: ``__cause__`` always, ``__context__`` of a library's
    wrapper (mlflow, SQLAlchemy, Hydra); a bug raised while handling an error stays a bug."""
    seen = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        if link.__cause__ is not None:
            link = link.__cause__
        elif not link.__suppress_context__ and type(link).__module__.startswith(WRAPPERS):
            link = link.__context__
        else:
            link = None


def explain(exc: BaseException) -> Failure | None:
    """What ``exc`` means for the user, or None for a bug."""
    for link in chain(exc):
        for kind in KINDS:
            failure = kind.explain(link)
            if failure is not None:
                return failure
    return None


def user_error_message(exc: BaseException) -> str | None:
    """The message of a failure :func:`explain` recognises, or None for a bug."""
    failure = explain(exc)
    return None if failure is None else failure.message


def report(exc: BaseException, prefix: str = "nnexp") -> int:
    """Print the one message for ``exc`` and return its exit code; re-raise a bug."""
    failure = explain(exc)
    if failure is None:
        raise exc
    print(f"{prefix}: error: {failure.message}", file=sys.stderr, flush=True)
    return failure.code


# -- helpers for checks made before the work starts --------------------------------------------
def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _bytes(n) -> str:
    n = float(n)
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} PiB"


#: ``n`` bytes, readable (``1.5 GiB``).
describe_bytes = _bytes
