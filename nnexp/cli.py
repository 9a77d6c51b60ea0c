"""The ``nnexp`` command: subcommands by name, anything else is a Hydra experiment run.

Subcommand modules are imported only when used, so ``nnexp --help`` stays fast
(mlflow alone takes ~1.5 s to import).
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

#: subcommand -> "module:function"; the function takes the remaining argv and returns an exit code.
SUBCOMMANDS = {
    "plugins": "nnexp.commands.plugins:main",
    "check": "nnexp.commands.check:main",
    "compare": "nnexp.commands.compare:main",
    "plot": "nnexp.commands.plot:main",
    "explain": "nnexp.commands.explain:main",
    "resume": "nnexp.commands.resume:main",
    "runs": "nnexp.commands.runs:main",
    "sync": "nnexp.commands.sync:main",
}


def run_subcommand(name: str, argv: list[str]) -> int:
    module, func = SUBCOMMANDS[name].split(":")
    try:
        return int(getattr(importlib.import_module(module), func)(argv) or 0)
    except Exception as exc:  # noqa: BLE001 - a bug is re-raised by report
        from nnexp.failures import report

        return report(exc, f"nnexp {name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        exit_now(run_subcommand(argv[0], argv[1:]))
    if "--version" in argv or argv == ["-V"]:  # nnexp's, not Hydra's (its own --version)
        from nnexp.plugins import nnexp_version

        print(f"nnexp {nnexp_version()}")
        exit_now(0)
    from nnexp.app import main as app_main  # the Hydra experiment app

    exit_now(app_main(argv))


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` once output and logs are flushed, skipping the interpreter's teardown.

    Everything nnexp writes is complete by now (records are written atomically, the store's
    transactions are committed); tearing down mlflow, SQLAlchemy, pyarrow and matplotlib
    module by module took seconds on a busy machine, which an interrupted run cannot spend
    (Ctrl-C must end the process within 2 s) and a sweep of small runs should not. After a
    loky process pool ran (a launcher other than nnexp's adopted ones) the normal exit is kept:
    loky's resource tracker must hear that its pool is gone (it would outlive the process,
    holding its output pipes open)."""
    import logging
    import os

    if "nnexp.tracking.sender" in sys.modules:  # no atexit after os._exit: say it now
        sys.modules["nnexp.tracking.sender"].stop_shared()
    tracker = sys.modules.get("joblib.externals.loky.backend.resource_tracker")
    if tracker is not None and getattr(tracker._resource_tracker, "_pid", None) is not None:
        sys.exit(code)  # a loky pool ran (Hydra imports loky with its launchers either way)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
