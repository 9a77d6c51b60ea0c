"""Multiruns through the real CLI: one parent run per sweep, nested children, failures reported."""

from __future__ import annotations

from itertools import product

from conftest import FAST, store_client, store_runs

XOR = ["+experiment=xor", "trainer.epochs=2", *FAST]


def split(runs):
    parents = [r for r in runs if r.data.tags.get("nnexp.sweep") == "true"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def test_basic_sweep_nests_one_child_per_job_under_one_parent(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", *XOR, "model.activation=tanh,relu", "optimizer.lr=0.05,0.1")
    assert out.returncode == 0, out.stdout + out.stderr
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert {c.info.experiment_id for c in children} == {parent.info.experiment_id}
    grid = {(c.data.params["model.activation"], c.data.params["optimizer.lr"]) for c in children}
    assert grid == set(product(("tanh", "relu"), ("0.05", "0.1")))
    for child in children:
        act, lr = child.data.params["model.activation"], child.data.params["optimizer.lr"]
        overrides = child.data.tags["nnexp.overrides"].split()
        assert f"model.activation={act}" in overrides and f"optimizer.lr={lr}" in overrides
        assert child.info.status == "FINISHED"
    assert len({c.info.run_name for c in children}) == 4
    assert "sweep of 4 jobs: 4 FINISHED" in out.stdout
    assert parent.info.run_id in out.stdout


def test_joblib_sweep_on_a_brand_new_store_loses_nothing(nnexp_cli, tmp_path):
    assert not (tmp_path / "mlflow.db").exists()
    out = nnexp_cli("-m", *XOR, "seed=0,1,2,3", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert len(parents) == 1 and len(children) == 4
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1", "2", "3"]
    client = store_client(tmp_path / "mlflow.db")
    for child in children:
        assert child.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(child.info.run_id, "loss")] == [1, 2]
        assert "test_loss" in child.data.metrics
    artifacts = [a.path for a in client.list_artifacts(parents[0].info.run_id)]
    assert "sweep.csv" in artifacts


def test_a_diverging_job_fails_with_its_reason_and_the_others_finish(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", *XOR, "optimizer=sgd", "optimizer.lr=0.1,1e300")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 job(s) did not finish" in out.stdout
    assert "optimizer.lr=1e+300): Training diverged" in out.stdout
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    by_lr = {c.data.params["optimizer.lr"]: c for c in children}
    assert by_lr["0.1"].info.status == "FINISHED"
    failed = by_lr["1e+300"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["nnexp.failure"] == "divergence"
    assert "diverged" in failed.data.tags["nnexp.error"]
    assert parents[0].info.status == "FAILED"


def test_an_invalid_job_stops_the_sweep_before_any_run(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", *XOR, "model.activation=relu,rleu")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "1 of 2 jobs have an invalid config" in out.stderr
    assert "job #1 (model.activation=rleu)" in out.stderr
    assert "Did you mean 'relu'?" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "mlflow.db").exists()  # not even the store was created


def test_a_sweep_over_the_store_or_experiment_is_refused_before_any_run(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", *XOR, "tracking.uri=sqlite:///a.db,sqlite:///b.db")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "2 of 2 jobs have an invalid config" in out.stderr
    assert "tracking.uri: got 'sqlite:///a.db'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list(tmp_path.glob("*.db"))
    out = nnexp_cli("-m", *XOR, "tracking=off", "tracking.experiment=a,b")  # nothing recorded: fine
    assert out.returncode == 0, out.stdout + out.stderr


def test_sweep_over_range_and_glob_runs_every_combination(nnexp_cli, tmp_path):
    out = nnexp_cli("-m", *XOR, "tracking=off", "seed=range(0,2)", "model=glob(*mlp)")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sweep of 4 jobs: 4 FINISHED" in out.stdout
    for seed, model in product(range(2), ("mlp", "deep_mlp")):
        assert any(f"seed={seed} model={model} " in line for line in out.stdout.splitlines())


def test_sigterm_during_a_sweep_marks_the_parent_and_the_running_job_killed(tmp_path):
    import signal

    from conftest import Watched

    sweep = Watched(["-m", "+experiment=xor", "trainer.epochs=100000", *FAST,
                     "tracking.flush_every_s=0.05", "seed=0,1"], tmp_path)
    sweep.wait_for_logged_epoch(tmp_path / "mlflow.db")
    assert sweep.stop(signal.SIGTERM) == 143, sweep.stdout + sweep.stderr
    parents, children = split(store_runs(tmp_path / "mlflow.db"))
    assert [p.info.status for p in parents] == ["KILLED"]
    assert [c.info.status for c in children] == ["KILLED"]  # the second job never started
    assert "#1 (seed=1): not run or not finished: the sweep was interrupted" in sweep.stdout


def test_the_summary_keeps_metrics_in_one_column_with_long_overrides(capsys):
    """Issue 12: metrics misaligned after overrides longer than 40 characters."""
    from nnexp.sweep import print_summary

    own = ["model.activation=sigmoid model.init=xavier_uniform", "seed=1"]
    jobs = [{"job": i, "status": "FINISHED", "overrides": ["x=1", o], "metrics": {"test_loss": 0.5}}
            for i, o in enumerate(own)]
    print_summary({}, jobs)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  #")]
    assert len({line.index("test_loss") for line in rows}) == 1, rows
