"""``nnexp sync [RUN_ID ...]``: send what local records hold and their store does not.

A run's record (``nnexp-records/<run id>/``) is complete on disk; its sink sends it to the
tracking store as the run goes. When the store did not answer (a server down, a network
gone) or the process was killed first, what was not sent stays in the record, and this sends
it — every metric value, tag and file — and gives the run the status its record holds (as
``wandb sync`` does for offline runs). Without run ids: every record under ``--records``
(default: ``nnexp-records/`` beside the store, or here) that is not fully sent. Each record
goes to the store it was recorded for; a run still training is left to its own sink.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnexp.commands.stores import URI_HELP
from nnexp.errors import NnexpError
from nnexp.record import Record
from nnexp.record.layout import default_root
from nnexp.record.liveness import alive
from nnexp.tracking import store
from nnexp.tracking.reaper import sync_record
from nnexp.tracking.runs import describe_run
from nnexp.tracking.sender import state


class SyncError(NnexpError):
    """Records that could not be sent (the store still does not answer)."""

    exit_code = 1


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nnexp sync", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("run_ids", nargs="*", help="runs to send (default: every record not fully sent)")
    p.add_argument("--uri", help=URI_HELP + "; used to find the records folder")
    p.add_argument("--records", type=Path, help="the records folder (default: nnexp-records/ "
                                                "beside the SQLite store, or here)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    import os

    uri = store.resolve_uri(args.uri or os.environ.get("MLFLOW_TRACKING_URI") or store.DEFAULT_URI, Path.cwd())
    root = args.records or default_root(uri, Path.cwd())
    records = _chosen(root, args.run_ids)
    failed = []
    for record in records:
        meta, sent = record.meta(), state(record)
        run_id = sent.get("run_id") or meta.get("resume_run_id")
        if alive(meta) and meta.get("status") == "RUNNING":
            print(f"{run_id or record.path.name}: still training (pid {meta.get('pid')}); its sender sends it")
            continue
        if alive(sent.get("sender") or {}) and not sent.get("sender_error"):  # (not if it gave up)
            print(f"{run_id}: its sender (pid {sent['sender']['pid']}) is still sending it")
            continue
        if not run_id:
            print(f"{record.path.name}: its run was never created in {meta['uri']}; it needs its "
                  "sender (run the command again to record it anew)")
            continue
        try:
            if sent.get("opening"):  # created, but its params never reached the store
                describe_run(meta, run_id)
            status = sync_record(meta["uri"], record, run_id, "its process ended before sending it")
        except Exception as exc:  # noqa: BLE001 - the store's failure: said, and the next one tried
            failed.append(run_id)
            print(f"{run_id}: not sent: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        print(f"{run_id}: sent to {meta['uri']}, {status}")
    if not records:
        print(f"nothing to send: every record under {root} is in its store")
    if failed:
        raise SyncError(f"{len(failed)} run(s) could not be sent; their records are kept: run "
                        "`nnexp sync` again once the store answers.")
    return 0


def _chosen(root: Path, run_ids: list[str]) -> list[Record]:
    if run_ids:
        records = [Record(root / run_id) for run_id in run_ids]
        missing = [r.path.name for r in records if not r.exists()]
        if missing:
            raise NnexpError(f"no local record for run(s) {', '.join(missing)} under {root} "
                             "(pass --records DIR where they are).")
        return records
    if not root.is_dir():
        return []
    found = [Record(p) for p in sorted(root.iterdir()) if Record(p).exists()]
    return [r for r in found if not r.meta().get("synced")]
