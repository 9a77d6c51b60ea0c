"""No run left RUNNING: find runs whose process is gone, send what their record holds, end them.

Every nnexp run tags itself with its host, pid and the process's start time, and refreshes a
heartbeat tag while it lives. A RUNNING run is *lost* when, on this host, its process is gone
(or is another process with the same pid), or, for another host, its heartbeat is older than
``NNEXP_STALE_AFTER_S`` seconds (default 600: clocks may differ, a busy store may lag).

:func:`reap` — called by every nnexp command that opens a store — ends each lost run: when
its record is on this machine it is sent first (``nnexp sync``'s work) and the run gets the
status its record holds (a run that ended while the store was unreachable ends as it ended);
otherwise it ends KILLED. Lost runs get ``nnexp.failure=lost`` and an ``nnexp.error`` saying
what happened. Runs that are not nnexp's (no ``nnexp.pid`` tag) are never touched.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from nnexp.record import Record, liveness
from nnexp.tracking import store

REMOTE_STALE_S = 600.0
ENDED = ("FINISHED", "FAILED", "KILLED")


@dataclass
class Liveness:
    run: Any             # mlflow Run
    state: str           # "alive", "lost" or "unknown" (another host, recent heartbeat)
    why: str


def stale_after() -> float:
    try:
        return float(os.environ.get("NNEXP_STALE_AFTER_S", REMOTE_STALE_S))
    except ValueError:
        return REMOTE_STALE_S


def running(client) -> list:
    """Every RUNNING nnexp run (sweep parents included) in every active experiment."""
    from mlflow.entities import ViewType

    ids = [e.experiment_id for e in store.retry(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)]
    out, token = [], None
    while ids:
        page = store.retry(client.search_runs, ids, "attributes.status = 'RUNNING'",
                           max_results=1000, page_token=token)
        out += [r for r in page if "nnexp.pid" in r.data.tags]
        token = page.token
        if not token:
            break
    return out


def check(run) -> Liveness:
    """Whether ``run``'s process is alive, gone, or unknown from here."""
    tags = run.data.tags
    ident = {k: tags.get(f"nnexp.{k}", "") for k in ("host", "pid", "pid_start")}
    alive = liveness.alive(ident)
    where = f"pid {ident['pid']} on {ident['host']}"
    if alive is True:
        return Liveness(run, "alive", f"{where} is alive")
    if alive is False:
        return Liveness(run, "lost", f"its process ({where}) is gone")
    beat = float(tags.get("nnexp.heartbeat") or run.info.start_time / 1000)
    age = time.time() - beat
    if age > stale_after():
        return Liveness(run, "lost", f"no heartbeat from {where} for {age:.0f} s")
    return Liveness(run, "unknown", f"{where}, last heartbeat {age:.0f} s ago")


def reap(uri: str, stream=None, client=None) -> list[str]:
    """End every lost RUNNING run in the store at ``uri``; say so in one line. Returns their ids."""
    client = client or store.client(uri)
    lost = [c for c in map(check, running(client)) if c.state == "lost"]
    done = [c.run.info.run_id for c in lost if settle(uri, client, c) is not None]
    if done:
        shown = ", ".join(done[:3]) + (f" and {len(done) - 3} more" if len(done) > 3 else "")
        print(f"nnexp: {len(done)} run(s) whose process was gone are no longer RUNNING: {shown} "
              "(`nnexp runs` lists runs; `nnexp resume RUN_ID` continues one)",
              file=stream or sys.stderr, flush=True)
    return done


def local_record(run) -> Record | None:
    """The run's record, when it is on this machine."""
    path = run.data.tags.get("nnexp.record")
    if not path or run.data.tags.get("nnexp.host") != liveness.host():
        return None
    record = Record(path)
    return record if record.exists() else None


def settle(uri: str, client, lost: Liveness) -> str | None:
    """Send a lost run's local record and end it; the status it ended with (None: another
    process is settling it right now)."""
    from filelock import FileLock, Timeout

    run_id = lost.run.info.run_id
    record = local_record(lost.run)
    if record is None:
        return _end(client, run_id, "KILLED", lost.why)
    try:
        with FileLock(str(record.path / ".sync.lock"), timeout=0):
            return sync_record(uri, record, run_id, lost.why)
    except Timeout:
        return None


def sync_record(uri: str, record: Record, run_id: str, why: str | None = None) -> str:
    """Send everything ``record`` holds to run ``run_id`` and end it with the record's status
    (KILLED, tagged lost with ``why``, if the record never ended). Raises when the store fails."""
    from nnexp.tracking.runs import end_run
    from nnexp.tracking.sink import Sink

    meta = record.meta()
    ended = meta.get("status") in ENDED
    end_run(Sink(record, uri, run_id), record, meta["status"] if ended else "KILLED",
            lost_why=None if ended else (why or "its process is gone"))
    return record.meta()["status"]


def _end(client, run_id: str, status: str, why: str) -> str:
    from nnexp.tracking.runs import tag_lost

    store.retry(client.set_terminated, run_id, status)
    tag_lost(client, run_id, why)
    return status
