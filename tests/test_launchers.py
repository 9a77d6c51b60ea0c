"""Sweeps whose jobs die: the launchers record the dead job and run the rest.

The ``crash`` fixture plugin (tests/plugin_fixtures/crash) SIGKILLs the process of a run with
seed 13 at its first epoch's end, as the OOM killer would; it is pip-installed and reaches the
real ``nnexp`` through PYTHONPATH, like any plugin.
"""

from __future__ import annotations

import signal

import pytest
from plugin_fixtures import CRASH, HERE, pip_install

from conftest import FAST, Watched, need, run_nnexp, store_runs
from resume_helpers import check_nothing_to_resume, check_resumed, stop_mid_way, stopped

XOR = ["+experiment=xor", "trainer.epochs=3", *FAST]
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


@pytest.fixture(scope="module")
def crash_site(tmp_path_factory):
    return pip_install([HERE / CRASH], tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("build"))


def split(runs):
    parents = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    children = {r.data.params["seed"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return parents, children


def test_a_job_whose_process_dies_is_failed_with_the_reason_and_the_rest_run(crash_site, tmp_path):
    out = run_nnexp(["-m", *XOR, "seed=0,13,2,3", *JOBLIB], tmp_path, timeout=300,
                    env={"PYTHONPATH": str(crash_site)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "sweep of 4 jobs: 1 FAILED, 3 FINISHED" in out.stdout
    assert "#1 (seed=13): the job did not finish: its process was killed by SIGKILL" in out.stdout
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert sorted(children) == ["0", "13", "2", "3"]
    dead = children.pop("13")
    assert dead.info.status == "FAILED"  # not left RUNNING
    assert dead.data.tags["nnexp.failure"] == "process_died"
    assert "killed by SIGKILL" in dead.data.tags["nnexp.error"]
    assert {c.info.status for c in children.values()} == {"FINISHED"}
    assert all("test_loss" in c.data.metrics for c in children.values())
    [parent] = parents
    assert parent.info.status == "FAILED" and parent.data.tags["nnexp.failed_jobs"] == "1"
    assert "seed=13" in parent.data.tags["nnexp.failures"]
    assert "killed by SIGKILL" in parent.data.tags["nnexp.failures"]


def test_sigterm_during_a_joblib_sweep_ends_every_running_job_killed(tmp_path):
    sweep = Watched(["-m", "+experiment=xor", "trainer.epochs=100000", *FAST,
                     "tracking.flush_every_s=0.05", "seed=0,1,2", *JOBLIB], tmp_path)
    sweep.wait_for_logged_epoch(tmp_path / "mlflow.db", timeout=180)
    assert sweep.stop(signal.SIGTERM) == 143, sweep.stdout + sweep.stderr
    assert "Traceback" not in sweep.stderr, sweep.stderr
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert [p.info.status for p in parents] == ["KILLED"]
    assert children and {c.info.status for c in children.values()} == {"KILLED"}
    assert "#2 (seed=2): not run or not finished: the sweep was interrupted" in sweep.stdout


@pytest.mark.parametrize("launcher", [JOBLIB, pytest.param(["hydra/launcher=submitit_local"], marks=pytest.mark.system)],
                         ids=["joblib", "submitit_local"])
def test_a_resumed_job_keeps_its_number_also_when_its_process_dies_again(crash_site, tmp_path, launcher):
    if "submitit" in launcher[0]:
        need("hydra_plugins.hydra_submitit_launcher", "slurm")
    env = {"PYTHONPATH": str(crash_site)}  # seed 13's process dies at its first epoch, every time
    first = run_nnexp(["-m", *XOR, "seed=0,13,2", *launcher], tmp_path, timeout=300, env=env)
    assert first.returncode == 1 and "sweep of 3 jobs: 1 FAILED, 2 FINISHED" in first.stdout, first.stdout + first.stderr
    [parent], _ = split(store_runs(tmp_path / "mlflow.db"))
    out = run_nnexp(["resume", parent.info.run_id], tmp_path, timeout=300, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "1 job(s) to run again (#1)" in out.stderr, out.stderr
    assert "sweep of 3 jobs: 1 FAILED, 2 FINISHED" in out.stdout  # not job #0, the first of the launch
    assert "#1 (seed=13" in out.stdout.split("did not finish:")[1], out.stdout
    _, children = split(store_runs(tmp_path / "mlflow.db"))
    assert sorted(children) == ["0", "13", "2"] and children["13"].info.status == "FAILED"
    assert children["0"].info.status == children["2"].info.status == "FINISHED"
    # each job in its own directory: job #1 ran again in its own, job #0's is left as it was
    (sweep,) = tmp_path.glob("multirun/*/*/nnexp_sweep.json")
    for num, seed in ((0, 0), (1, 13), (2, 2)):
        assert f"seed={seed}" in (sweep.parent / str(num) / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.system
def test_a_dead_submitit_job_is_failed_with_its_state_and_the_rest_run(crash_site, tmp_path):
    need("hydra_plugins.hydra_submitit_launcher", "slurm")
    out = run_nnexp(["-m", *XOR, "seed=0,13", "hydra/launcher=submitit_local"], tmp_path,
                    timeout=300, env={"PYTHONPATH": str(crash_site)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "sweep of 2 jobs: 1 FAILED, 1 FINISHED" in out.stdout
    assert "#1 (seed=13): the job did not finish: submitit job" in out.stdout
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert children["0"].info.status == "FINISHED" and "test_loss" in children["0"].data.metrics
    assert children["13"].info.status == "FAILED"
    assert "produced no result" in children["13"].data.tags["nnexp.error"]
    assert [p.info.status for p in parents] == ["FAILED"]


@pytest.mark.system
def test_a_submitit_sweep_stopped_mid_way_resumes_its_unfinished_job_on_submitit(tmp_path, nnexp_cli):
    need("hydra_plugins.hydra_submitit_launcher", "slurm")
    # submitit_local starts every job at once: the two short ones finish, the long one is
    # stopped mid-training
    sweep = stop_mid_way(["-m", "+experiment=xor", "trainer.epochs=40,50,3000", "tracking.flush_every_s=0.05",
                  "tracking.experiment=stopped", *FAST, "hydra/launcher=submitit_local"], tmp_path, finished=2)
    parent, killed = stopped(tmp_path / "mlflow.db", finished=2, sweep=sweep)
    (jobs,) = tmp_path.glob("multirun/*/*/.submitit")  # submitit's folder: one per job
    before = set(jobs.iterdir())
    out = nnexp_cli("resume", parent.info.run_id, timeout=600)
    check_resumed(tmp_path / "mlflow.db", parent, killed, out, "trainer.epochs", ["40", "50", "3000"], again=1)
    # on submitit again: one new job, which went on from the checkpoint
    (new,) = set(jobs.iterdir()) - before
    log = "".join(p.read_text() for p in new.glob("*_log.err"))
    assert "3000 epochs of 1 step, from epoch" in log and "(resumed)" in log, log
    check_nothing_to_resume(nnexp_cli, parent, 3)


@pytest.mark.system
def test_ctrl_c_at_the_terminal_stops_a_submitit_local_job_at_a_step_end(tmp_path):
    need("hydra_plugins.hydra_submitit_launcher", "slurm")
    # the terminal's SIGINT reaches the sweep only (its jobs run in sessions of their own),
    # which passes one signal on: the job ends its run KILLED at a step's end, its result kept
    sweep = stop_mid_way(["-m", "+experiment=xor", "trainer.epochs=40,3000", "tracking.flush_every_s=0.05",
                          *FAST, "hydra/launcher=submitit_local"], tmp_path, finished=1, ctrl_c=True)
    assert "#1 (trainer.epochs=3000): interrupted (Ctrl-C or SIGTERM)" in sweep.stdout, sweep.stdout
    _, killed = stopped(tmp_path / "mlflow.db", finished=1, sweep=sweep)
    assert killed.data.tags["nnexp.failure"] == "killed"
    (log,) = [p.read_text() for p in tmp_path.glob("multirun/*/*/.submitit/*/*_log.err") if "3000 epochs" in p.read_text()]
    assert "stopping after this step" in log and "stopped at once" not in log, log
