"""Many nnexp processes at once on one brand-new store: nothing lost, nothing misfiled."""

from __future__ import annotations

import os
import subprocess

from conftest import FAST, NNEXP, store_runs

XOR = ["+experiment=xor", "trainer.epochs=2", *FAST]


def start_all(commands, cwd):
    """Start every command before waiting for any (they start within milliseconds)."""
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [subprocess.Popen([str(NNEXP), *args], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for args in commands]
    return [(p, *p.communicate(timeout=600)) for p in procs]


def test_four_sweeps_of_four_jobs_started_at_once_on_a_new_store(tmp_path):
    # Each sweep has its own hidden size, so a child filed under another sweep's parent shows.
    widths = [3, 4, 5, 6]
    outcomes = start_all([["-m", *XOR, f"model.hidden=[{w}]", "seed=0,1,2,3"] for w in widths],
                         tmp_path)
    for proc, out, err in outcomes:
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err, err
        assert "sweep of 4 jobs: 4 FINISHED" in out, out
    runs = store_runs(tmp_path / "mlflow.db")
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("nnexp.sweep") == "true"}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 4 and len(children) == 16
    for (_, out, _), width in zip(outcomes, widths):
        mine = [p for p in parents.values() if f"model.hidden=[{width}]" in p.data.tags["nnexp.overrides"]]
        assert len(mine) == 1
        parent = mine[0]
        assert f"parent run {parent.info.run_id}" in out  # each sweep reports its own parent
        assert parent.info.status == "FINISHED"
        kids = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
        assert sorted(c.data.params["seed"] for c in kids) == ["0", "1", "2", "3"]
        assert {c.data.params["model.hidden"] for c in kids} == {f"[{width}]"}
        assert {c.info.status for c in kids} == {"FINISHED"}
    sweep_dirs = list((tmp_path / "multirun").glob("*/*"))
    assert len(sweep_dirs) == 4  # one directory (and state file) per sweep, whatever the second


def test_single_runs_started_at_once_on_a_new_store(tmp_path):
    seeds = range(4)
    outcomes = start_all([[*XOR, f"seed={s}"] for s in seeds], tmp_path)
    for proc, out, err in outcomes:
        assert proc.returncode == 0, out + err
        assert "Traceback" not in err, err
    runs = store_runs(tmp_path / "mlflow.db")
    assert sorted(r.data.params["seed"] for r in runs) == [str(s) for s in seeds]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len(list((tmp_path / "outputs").glob("*/*"))) == 4  # Hydra's run dirs never shared
