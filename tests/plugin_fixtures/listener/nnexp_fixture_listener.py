"""Listens to every training run through lifecycle hooks; contributes no components."""

import sys

from nnexp import hookimpl


@hookimpl
def on_epoch_end(run, epoch, metrics):
    print(f"listener: epoch {epoch} of {run.epochs}, loss {metrics['loss']:.4f}", file=sys.stderr)


@hookimpl
def on_run_end(run, status, error):
    print(f"listener: run {status} after {run.step} steps", file=sys.stderr)
