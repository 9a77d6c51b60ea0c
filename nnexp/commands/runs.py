"""``nnexp runs``: the runs of a store — which are alive, which were lost, which can be resumed.

RUNNING runs come first with what is known of their process (alive here, gone, or on another
host with its last heartbeat); runs whose process is gone are then ended (as every command
that opens a store does) and the line says so. Then the most recent other runs, with their
status and whether ``nnexp resume`` can continue them.
"""

from __future__ import annotations

import argparse
import time

from nnexp.commands.stores import URI_HELP, open_store
from nnexp.tracking import store
from nnexp.tracking.reaper import check, reap, running


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nnexp runs", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--uri", help=URI_HELP)
    p.add_argument("--last", type=int, default=15, help="how many other recent runs to list (default 15)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    uri, client = open_store(args.uri, reap=False)
    live = [check(run) for run in running(client)]
    print(f"Runs in {uri}")
    print(f"RUNNING: {len(live) or 'none'}")
    for entry in live:
        state = {"alive": "alive", "lost": "LOST", "unknown": "remote"}[entry.state]
        print(f"  {_line(entry.run)}  {state}: {entry.why}")
    if any(e.state == "lost" for e in live):
        reap(uri, client=client)
    recent = _recent(client, args.last)
    print(f"\nMost recent other runs: {len(recent) or 'none'}")
    for run in recent:
        resumable = run.info.status in ("KILLED", "FAILED") and "nnexp.pid" in run.data.tags
        why = run.data.tags.get("nnexp.failure", "")
        print(f"  {_line(run)}  {run.info.status:<8} {why:<10} {'resumable' if resumable else ''}".rstrip())
    return 0


def _line(run) -> str:
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000))
    kind = "sweep " if run.data.tags.get("nnexp.sweep") == "true" else ""
    return f"{run.info.run_id}  {started}  {kind}{(run.info.run_name or '')[:40]:<40}"


def _recent(client, n: int) -> list:
    from mlflow.entities import ViewType

    ids = [e.experiment_id for e in store.retry(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)]
    if not ids or n <= 0:
        return []
    return list(store.retry(client.search_runs, ids, "attributes.status != 'RUNNING'",
                            order_by=["attributes.start_time DESC"], max_results=n))
