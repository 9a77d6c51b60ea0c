"""A job that dies as the OOM killer would end it: a run with seed 13 SIGKILLs its own
process at its first epoch's end (for the dead-worker tests of tests/test_launchers.py)."""

import os
import signal

from nnexp import hookimpl

CRASH_SEED = 13


@hookimpl
def on_epoch_end(run, epoch, metrics):
    if run.config.get("seed") == CRASH_SEED:
        os.kill(os.getpid(), signal.SIGKILL)
