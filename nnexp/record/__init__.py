"""A run's record: what training produces, written to local disk as it is produced.

The record sits between the training loop's lifecycle hooks and the sinks that read it
(MLflow through :mod:`nnexp.tracking`, pictures through :mod:`nnexp.plots`): it is complete
on disk at every moment, so a sink may lag, fail or run later (``nnexp sync``, ``nnexp plot``)
without losing anything, a run can be continued from its checkpoint (``nnexp resume``), and
memory does not grow with the length of a run.

- :class:`Record` — one run's directory and how to read it (:mod:`nnexp.record.layout`)
- :class:`Recorder` — the lifecycle plugin that writes it (:mod:`nnexp.record.recorder`)
- :func:`read_state` / :func:`write_state` — checkpoint files (:mod:`nnexp.record.files`)
- settings of the ``tracking`` group and ``trainer.checkpoint`` (:mod:`nnexp.record.settings`)
"""

from nnexp.record.files import read_state, write_state
from nnexp.record.layout import Record
from nnexp.record.recorder import Recorder

__all__ = ["Record", "Recorder", "read_state", "write_state"]
