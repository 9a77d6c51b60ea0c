"""The MLflow sink: sends a run's record to its MLflow run, in the background or in one go.

It reads the record (:mod:`nnexp.record`), never the training loop: journal lines become
``log_batch`` calls, changed files under the record's ``artifacts/`` are uploaded, and a
heartbeat tag says the process is alive. How far it got is kept in the record's
``sink.json``, so a sink that stopped (a store that did not answer, a killed process) is
continued later by another — ``nnexp sync``, or the next nnexp command's reaper.

While a run trains, :meth:`Sink.start` runs it on a daemon thread every ``interval`` seconds.
When the store stops answering, training goes on: one warning line, then retries with a
growing delay; one line again when it answers. :meth:`Sink.finish` ends the run: the rest of
the journal, the final status, then the files — within a time limit for an interrupted run.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

from nnexp.record import journal
from nnexp.record.files import read_json, write_json
from nnexp.record.layout import Record
from nnexp.tracking import store
from nnexp.tracking.params import TAG_MAX, cap, clean_key

BATCH = 1000  # MLflow's limit of entities per log_batch (and of metrics)
TAG_BATCH = 100  # ... and of tags
MAX_DELAY = 30.0
HEARTBEAT_TAG = "nnexp.heartbeat"
PENDING_TAG = "nnexp.sync"


class Sink:
    """Sends ``record`` to MLflow run ``run_id`` at ``uri``."""

    def __init__(self, record: Record, uri: str, run_id: str, *, interval: float = 1.0,
                 heartbeat_every: float = 10.0, stream=None):
        self.record, self.uri, self.run_id = record, uri, run_id
        self.interval, self.heartbeat_every = interval, heartbeat_every
        self.stream = stream if stream is not None else sys.stderr
        self.client = store.client(uri)
        cursor = read_json(record.sink_path, {})
        self.offset: int = cursor.get("offset", 0)
        self.sent: dict[str, list] = cursor.get("files", {})
        self.nonfinite: set[str] = set(cursor.get("nonfinite", []))
        self.offline_since: float | None = None
        self.last_error: str | None = None
        self._beat = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._final: str | None = None
        #: Work to do once in the final pass, after the status is set and before the files are
        #: sent (exporting the record's tables, drawing its pictures); and what to do right
        #: after the status is set (telling a waiting trainer).
        self.before_final = None
        self.after_status = None
        self.cancelled = False  # set by cancel(): the final pass sets no status, sends no more files
        self.done = threading.Event()

    # -- in the background -------------------------------------------------------------------
    def start(self) -> Sink:
        self._thread = threading.Thread(target=self._loop, name=f"nnexp-sink-{self.run_id[:8]}",
                                        daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        delay = self.interval
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            final = self._final
            ok = self._attempt(lambda: self.finish_now(final) if final else self.send(files=True))
            if (ok and final) or self.cancelled:
                self.done.set()
                return
            delay = self.interval if ok else min(MAX_DELAY, max(self.interval, delay * 2))
            if self._stop.is_set() and not final:
                return

    def _prepare(self) -> None:
        work, self.before_final = self.before_final, None
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - what it would add is missing, the rest goes on
            self._say(f"run {self.run_id}: preparing its last files failed: {type(exc).__name__}: {exc}")

    def _attempt(self, work) -> bool:
        """Run ``work``; a failure means the store does not answer: warn once, retry later."""
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - any store failure; training must go on
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if self.offline_since is None:
                self.offline_since = time.monotonic()
                self._say(f"the tracking store at {self.uri} did not answer ({cap(self.last_error, 200)}); "
                          f"training goes on and run {self.run_id} is kept in {self.record.path}; "
                          "it is sent when the store answers again (or run `nnexp sync`)")
            return False
        if self.offline_since is not None:
            away = time.monotonic() - self.offline_since
            self.offline_since = None
            self._say(f"the tracking store answers again after {away:.0f} s; run {self.run_id} is up to date")
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread (it finishes its current pass)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def finish(self, status: str, timeout: float | None) -> bool:
        """End the run with ``status`` after sending everything, on the sink's thread; wait at
        most ``timeout`` seconds (None: until done). True when all of it reached the store."""
        self._final = status
        if self._thread is None or not self._thread.is_alive():
            self.start()
        self._wake.set()
        return self.done.wait(timeout)

    def cancel(self, timeout: float = 1.0) -> None:
        """Stop a final pass (the process was interrupted while ending the run): it sets no
        status and sends no more files; waits up to ``timeout`` for it to notice."""
        self.cancelled = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _say(self, text: str) -> None:
        print(f"nnexp: {text}", file=self.stream, flush=True)

    # -- one pass ----------------------------------------------------------------------------
    def send(self, files: bool = True) -> None:
        """Send the journal's new lines (and changed files); raises when the store fails."""
        self._send_journal()
        if files:
            self._send_files()

    def finish_now(self, status: str) -> None:
        """The metrics first, then the status, then the files (what matters most reaches the
        store first when time is short): journal, pending tag, status, ``before_final``
        (exporting the record's tables), files, pending tag cleared. Raises when the store
        fails (retried by the caller)."""
        self._send_journal()
        self._log(tags={PENDING_TAG: "pending"})
        if self.cancelled:
            return
        store.retry(self.client.set_terminated, self.run_id, status)
        if self.after_status is not None:
            self.after_status()
        if self.before_final is not None:
            self._prepare()
        self._send_files()
        if not self.cancelled:
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
            store.retry(self.client.log_batch, self.run_id, tags=tag_list[i:i + TAG_BATCH])
        for i in range(0, len(metrics), BATCH):
            store.retry(self.client.log_batch, self.run_id, metrics=metrics[i:i + BATCH])

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
            store.retry(self.client.log_artifacts, self.run_id, str(root))
        else:
            for path in changed:
                if self.cancelled:
                    break
                parent = path.parent.relative_to(root).as_posix()
                store.retry(self.client.log_artifact, self.run_id, str(path),
                            None if parent == "." else parent)
        for path in changed[:len(changed) if not self.cancelled else 0]:
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
