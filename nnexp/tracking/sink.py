"""The MLflow sink: sends a run's record to its MLflow run, a pass at a time.

It reads the record (:mod:`nnexp.record`), never the training loop: journal lines become
``log_batch`` calls, changed files under the record's ``artifacts/`` are uploaded, and a
heartbeat tag says the run's process is alive. How far it got is kept in the record's
``sink.json``, so a sink that stopped (a store that did not answer, a killed process) is
continued later by another: the sender (:mod:`nnexp.tracking.sender`) runs one per record,
``nnexp sync`` and the reaper one to end a record's run. A failing store is the caller's to
retry (:class:`Outage` says so once per store, and once again when it answers).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nnexp.record import journal
from nnexp.record.files import read_json, write_json
from nnexp.record.layout import Record
from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, cap, clean_key

BATCH = 1000  # MLflow's limit of entities per log_batch (and of metrics)
TAG_BATCH = 100  # ... and of tags
HEARTBEAT_TAG = "nnexp.heartbeat"
PENDING_TAG = "nnexp.sync"


class Outage:
    """A store that stopped answering, said once: when it stops, and when it answers again."""

    def __init__(self, uri: str, stream=None):
        self.uri, self.stream = uri, stream if stream is not None else sys.stderr
        self.since: float | None = None

    def failed(self, exc: BaseException, where: str) -> None:
        if self.since is None:
            self.since = time.monotonic()
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            say(f"the tracking store at {self.uri} did not answer ({cap(error, 200)}); training goes "
                f"on, everything is kept in {where} and sent when it answers again (or by "
                "`nnexp sync`)", self.stream)

    def answered(self) -> None:
        if self.since is not None:
            say(f"the tracking store at {self.uri} answers again after "
                f"{time.monotonic() - self.since:.0f} s; sending what it missed", self.stream)
            self.since = None


def say(text: str, stream=None) -> None:
    print(f"nnexp: {text}", file=stream or sys.stderr, flush=True)


class Sink:
    """Sends ``record`` to MLflow run ``run_id`` at ``uri``."""

    def __init__(self, record: Record, uri: str, run_id: str, *, heartbeat_every: float = 10.0,
                 outage: Outage | None = None):
        self.record, self.uri, self.run_id = record, uri, run_id
        self.heartbeat_every = heartbeat_every
        self.outage = outage or Outage(uri)
        self.client = store.client(uri)
        cursor = read_json(record.sink_path, {})
        self.offset: int = cursor.get("offset", 0)
        self.sent: dict[str, list] = cursor.get("files", {})
        self.nonfinite: set[str] = set(cursor.get("nonfinite", []))
        self._beat = 0.0
        #: Store calls that returned: a pass that made none says nothing of the store.
        self.calls = 0
        #: Work to do once in the final pass, after the status is set and before the files are
        #: sent (exporting the record's tables, drawing its pictures); and what to do right
        #: after the status is set (telling a waiting trainer).
        self.before_final: Callable[[], object] | None = None
        self.after_status: Callable[[], object] | None = None

    def attempt(self, work) -> bool:
        """Run ``work``; a store that does not answer is said (once) and False returned, for
        the caller to try again later. Any other failure is raised."""
        calls = self.calls
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - sorted below
            if not store.unreachable(exc):
                raise
            self.outage.failed(exc, str(self.record.path))
            return False
        if self.calls > calls:  # it answered (a pass with nothing to send asked it nothing)
            self.outage.answered()
        return True

    def _call(self, fn, *args, **kwargs):
        """One store call (lock errors retried), counted once it returned."""
        out = store.retry(fn, *args, **kwargs)
        self.calls += 1
        return out

    def _prepare(self) -> None:
        work, self.before_final = self.before_final, None
        assert work is not None  # called only when set
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - what it would add is missing, the rest goes on
            say(f"run {self.run_id}: preparing its last files failed: {type(exc).__name__}: {exc}")

    # -- one pass ----------------------------------------------------------------------------
    def send(self, files: bool = True) -> None:
        """Send the journal's new lines (and changed files); raises when the store fails."""
        self._send_journal()
        if files:
            self._send_files()

    def finish_now(self, status: str) -> None:
        """The metrics first, then the status, then the files (what matters most reaches the
        store first when time is short): :meth:`end_status`, then :meth:`end_files`. Raises
        when the store fails (retried by the caller)."""
        self.end_status(status)
        self.end_files()

    def end_status(self, status: str) -> None:
        """The journal, the pending tag, the status, then ``after_status``."""
        self._send_journal()
        self._log(tags={PENDING_TAG: "pending"})
        self._call(self.client.set_terminated, self.run_id, status)
        if self.after_status is not None:
            self.after_status()

    def end_files(self) -> None:
        """``before_final`` (the record's last files), the files, the pending tag cleared."""
        if self.before_final is not None:
            self._prepare()
        self._send_files()
        self._log(tags={PENDING_TAG: "done"})

    def _send_journal(self) -> None:
        while True:
            entries, offset = journal.read(self.record.journal_path, self.offset)
            if offset == self.offset:
                break
            metrics, tags = self._entries(entries)
            self._log(metrics=metrics, tags=tags)
            self.offset = offset
            self._save()
        now = time.monotonic()
        if now - self._beat >= self.heartbeat_every:
            self._log(tags={HEARTBEAT_TAG: str(int(time.time()))})
            self._beat = now

    def _entries(self, entries: list[dict]):
        from mlflow.entities import Metric

        metrics, tags, bad = [], {}, set()
        for entry in entries:
            if entry["k"] == "tag":
                tags.update(entry["tags"])
                continue
            for key, value in entry["m"].items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    metrics.append(Metric(clean_key(key), float(value), entry["t"], entry["s"]))
                else:
                    bad.add(key)
        if bad - self.nonfinite:
            self.nonfinite |= bad
            tags["nnexp.nonfinite_metrics"] = ", ".join(sorted(self.nonfinite))
        return metrics, tags

    def _log(self, metrics=(), tags=None) -> None:
        from mlflow.entities import RunTag

        tag_list = [RunTag(clean_key(k), cap(v, TAG_MAX)) for k, v in (tags or {}).items()]
        metrics = list(metrics)
        for i in range(0, len(tag_list), TAG_BATCH):
            self._call(self.client.log_batch, self.run_id, tags=tag_list[i:i + TAG_BATCH])
        for i in range(0, len(metrics), BATCH):
            self._call(self.client.log_batch, self.run_id, metrics=metrics[i:i + BATCH])

    def _changed_files(self) -> list[Path]:
        root = self.record.artifacts
        if not root.is_dir():
            return []
        out = []
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            st = path.stat()
            if self.sent.get(path.relative_to(root).as_posix()) != [st.st_size, st.st_mtime_ns]:
                out.append(path)
        return out

    def _send_files(self) -> None:
        root = self.record.artifacts
        changed = self._changed_files()
        if changed and not self.sent:  # nothing sent yet: the whole tree in one call
            self._call(self.client.log_artifacts, self.run_id, str(root))
        else:
            for path in changed:
                parent = path.parent.relative_to(root).as_posix()
                self._call(self.client.log_artifact, self.run_id, str(path),
                            None if parent == "." else parent)
        for path in changed:
            st = path.stat()
            self.sent[path.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
        if changed:
            self._save()

    def _save(self) -> None:
        write_json(self.record.sink_path, {"offset": self.offset, "files": self.sent,
                                           "nonfinite": sorted(self.nonfinite)})

    def pending(self) -> bool:
        """Whether anything in the record has not reached the store."""
        return journal.size(self.record.journal_path) > self.offset or bool(self._changed_files())
