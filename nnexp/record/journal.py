"""The metrics journal: what a run sends to its tracking store, appended as it happens.

One JSON object per line, in the order logged::

    {"k": "e", "s": 12, "t": 1764000000000, "m": {"loss": 0.31, "val_loss": 0.35}}   epoch 12
    {"k": "s", "s": 480, "t": ..., "m": {"step_loss": 0.29, "grad_norm/dense_0.W": 0.8}}  step 480
    {"k": "u", "s": 12, "t": ..., "m": {"my_metric": 1.0}}                            a hook's
    {"k": "tag", "tags": {"nnexp.stop_reason": "..."}}

A sink (MLflow) tails the file from a byte offset it keeps, reading complete lines only, so it
may lag or fail without touching the writer; ``nnexp sync`` replays what it had not sent.
The writer buffers lines and hands them to the OS at :meth:`Journal.flush` (the recorder
flushes every ``flush_every_s``): a killed process loses at most that much.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

#: Kinds of metric lines: per epoch, per (sampled) step, logged by a hook.
EPOCH, STEP, USER = "e", "s", "u"


class Journal:
    """Appends entries to ``path`` (created if missing)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def metrics(self, kind: str, step: int, values: dict) -> None:
        self._write({"k": kind, "s": int(step), "t": int(time.time() * 1000), "m": values})

    def tags(self, tags: dict) -> None:
        self._write({"k": "tag", "tags": {str(k): str(v) for k, v in tags.items()}})

    def _write(self, entry: dict) -> None:
        if self._file.closed:  # a late line (final metrics after the run ended)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read(path: Path, offset: int = 0, limit: int = 1 << 22) -> tuple[list[dict], int]:
    """Complete entries from byte ``offset`` (at most ~``limit`` bytes), and the offset after
    them. A partial last line (being written, or cut by a crash) is left for later."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(limit)
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    entries = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
    return entries, offset + end


def last_steps(path: Path) -> dict[str, int]:
    """The last step logged per metric kind (``{"e": 40, "s": 2000}``), from the whole file."""
    last: dict[str, int] = {}
    offset = 0
    while True:
        entries, new = read(path, offset)
        for entry in entries:
            if "s" in entry:
                last[entry["k"]] = max(last.get(entry["k"], 0), entry["s"])
        if new == offset:
            return last
        offset = new


def size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return 0
