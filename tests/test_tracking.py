"""RunTracker and sweeps against a real SQLite MLflow store: check what landed."""

import time

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import nnexp
from nnexp import tracking
from nnexp.tracking.params import PARAM_MAX, TRUNCATED
from tracking_helpers import data, free_port, make_sweep, tracked_fit, tutorial_net


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    uri = tracking.resolve_uri("sqlite:///mlflow.db", root)
    return uri, tracking.ensure_experiment(uri, "tests"), root


def artifact(client, run_id, path, tmp_path):
    return client.download_artifacts(run_id, path, str(tmp_path))


def steps_of(client, run_id, key):
    return [m.step for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def test_a_tracked_run_lands_params_tags_metrics_and_artifacts(store, tmp_path):
    uri, exp, _ = store
    X, y = data()
    net = tutorial_net()
    tracker = tracking.RunTracker(
        uri=uri, experiment_id=exp, run_name="full", params={"optimizer.lr": "0.5", "seed": "0"},
        tags={"nnexp.overrides": "optimizer.lr=0.5"}, config_yaml="optimizer:\n  lr: 0.5\n",
        settings={"log_every": 5, "tensors_at_steps": [1]})
    history = nnexp.fit(net, X, y, loss="half_squared_error", optimizer={"type": "sgd", "lr": 0.5},
                        epochs=3, batch_size=8, validation_data=data(7, 16), callbacks=[tracker])
    tracker.log_final({"test_loss": 0.25})
    mc = MlflowClient(uri)
    run = mc.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "full"
    assert run.data.params == {"optimizer.lr": "0.5", "seed": "0"}
    reg = net.registry
    for kind, name in [("layer", "dense"), ("activation", "relu"), ("activation", "sigmoid"),
                       ("loss", "half_squared_error"), ("optimizer", "sgd")]:
        want = reg.get(kind, name).provenance.requirement
        assert run.data.tags[f"nnexp.component.{kind}.{name}"] == want
    assert run.data.tags["nnexp.overrides"] == "optimizer.lr=0.5"
    # epoch metrics at MLflow step = epoch, with fit's values
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        hist = sorted(mc.get_metric_history(tracker.run_id, key), key=lambda m: m.step)
        assert [m.step for m in hist] == [1, 2, 3]
        np.testing.assert_allclose([m.value for m in hist], history[key], rtol=1e-12)
    assert run.data.metrics["test_loss"] == 0.25
    # per-step stats sampled every 5 steps plus the last (18 steps: 6 per epoch)
    frame = pd.read_csv(artifact(mc, tracker.run_id, "stats/steps.csv", tmp_path), index_col="step")
    assert list(frame.index) == list(range(1, 19))
    for key in ("step_loss", "grad_norm/dense_0.W", "update_ratio/dense_1.b", "dead_frac/relu_0",
                "saturated_frac/sigmoid_0"):
        hist = sorted(mc.get_metric_history(tracker.run_id, key), key=lambda m: m.step)
        assert [m.step for m in hist] == [5, 10, 15, 18]
        column = "loss" if key == "step_loss" else key
        np.testing.assert_allclose([m.value for m in hist], frame.loc[[5, 10, 15, 18], column], rtol=1e-8)
    assert (tmp_path / "x").exists() is False
    loaded = nnexp.Network.load(artifact(mc, tracker.run_id, "model.npz", tmp_path))
    for name, value in net.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    assert open(artifact(mc, tracker.run_id, "config.yaml", tmp_path)).read() == "optimizer:\n  lr: 0.5\n"
    with np.load(artifact(mc, tracker.run_id, "tensors/epoch_003/grads.npz", tmp_path)) as grads:
        assert sorted(grads.files) == sorted(net.params)
        for name, g in net.grads.items():  # the last step's gradient, dL/dW as the tutorial writes it
            np.testing.assert_array_equal(grads[name], g)
    with np.load(artifact(mc, tracker.run_id, "tensors/step_000001/params.npz", tmp_path)) as p1:
        assert p1["dense_0.W"].shape == (2, 4)
    with np.load(artifact(mc, tracker.run_id, "stats/grad_hist.npz", tmp_path)) as hist:
        assert list(hist["steps"]) == [6, 12, 18]
        assert hist["counts/dense_0.W"].sum(axis=1).tolist() == [8, 8, 8]
    pngs = [a.path for a in mc.list_artifacts(tracker.run_id, "plots")]
    assert "plots/curves.png" in pngs


def test_divergence_ends_the_run_failed_with_the_reason(store):
    uri, exp, _ = store
    tracker, error, _ = tracked_fit(uri, exp, run_name="diverges", lr=1e4, epochs=50,
                                    output_activation="identity")
    assert isinstance(error, nnexp.DivergenceError)
    run = MlflowClient(uri).get_run(tracker.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["nnexp.failure"] == "divergence"
    assert "diverged" in run.data.tags["nnexp.error"]


class InterruptAt:
    def __init__(self, step):
        self.step = step

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        if run.step == self.step:
            raise KeyboardInterrupt


def test_ctrl_c_marks_the_run_killed_and_keeps_what_was_logged(store, tmp_path):
    uri, exp, _ = store
    tracker, error, _ = tracked_fit(uri, exp, run_name="interrupted", epochs=5,
                                    callbacks=[InterruptAt(10)], settings={"log_every": 1})
    assert isinstance(error, KeyboardInterrupt)
    mc = MlflowClient(uri)
    run = mc.get_run(tracker.run_id)
    assert run.info.status == "KILLED" and run.data.tags["nnexp.failure"] == "killed"
    assert steps_of(mc, tracker.run_id, "loss") == [1]  # the finished epoch
    logged = steps_of(mc, tracker.run_id, "grad_norm/dense_0.W")
    assert logged[:6] == [1, 2, 3, 4, 5, 6] and logged[-1] in (9, 10)
    frame = pd.read_parquet(artifact(mc, tracker.run_id, "stats/steps.parquet", tmp_path))
    assert list(frame["step"]) == logged  # (no steps.csv for an interrupted run: time is short)


def test_nonfinite_final_metric_is_skipped_and_tagged(store):
    uri, exp, _ = store
    tracker, _, _ = tracked_fit(uri, exp, run_name="inf", epochs=1)
    tracker.log_final({"test_loss": float("inf"), "test_accuracy": 0.5})
    run = MlflowClient(uri).get_run(tracker.run_id)
    assert run.data.metrics["test_accuracy"] == 0.5 and "test_loss" not in run.data.metrics
    assert run.data.tags["nnexp.nonfinite_metrics"] == "test_loss"


def test_close_changes_the_final_status_once_and_is_safe_to_repeat(store):
    uri, exp, _ = store
    tracker, _, _ = tracked_fit(uri, exp, run_name="closed", epochs=1)
    tracker.close("FAILED")
    tracker.close("FAILED")
    assert MlflowClient(uri).get_run(tracker.run_id).info.status == "FAILED"
    never_started = tracking.RunTracker(uri=uri, experiment_id=exp)
    never_started.close("FAILED")  # fit refused its input before any run existed
    assert never_started.run_id is None


def test_long_params_are_capped_and_keys_cleaned(store):
    uri, exp, _ = store
    flat = tracking.flatten_config({"model": {"layers": [{"type": "dense", "units": 4}, "relu"],
                                              "hidden": [64, 64], "note": "x" * 7000},
                                    "odd key=1": None, "empty": {}})
    assert flat["model.layers.0.type"] == "dense" and flat["model.layers.1"] == "relu"
    assert flat["model.hidden"] == "[64, 64]" and flat["odd key_1"] == "null" and flat["empty"] == "{}"
    assert len(flat["model.note"]) == PARAM_MAX and flat["model.note"].endswith(TRUNCATED)
    tracker, _, _ = tracked_fit(uri, exp, run_name="long", epochs=1, params=flat)
    assert MlflowClient(uri).get_run(tracker.run_id).data.params == flat


def test_unknown_setting_is_refused_with_a_suggestion():
    with pytest.raises(nnexp.ConfigError, match="did you mean 'log_every'"):
        tracking.RunTracker(uri="sqlite:///x.db", experiment_id="0", settings={"log_evry": 3})
    with pytest.raises(nnexp.ConfigError, match="stats_every"):
        tracking.RunTracker(uri="sqlite:///x.db", experiment_id="0", settings={"stats_every": 0})


def test_uris_resolve_against_the_launch_directory(tmp_path):
    assert tracking.resolve_uri("sqlite:///runs/m.db", tmp_path) == f"sqlite:///{tmp_path}/runs/m.db"
    assert tracking.resolve_uri("m.db", tmp_path) == f"sqlite:///{tmp_path}/m.db"
    assert tracking.resolve_uri(f"sqlite:///{tmp_path}/a.db", "/elsewhere") == f"sqlite:///{tmp_path}/a.db"
    assert tracking.resolve_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    with pytest.raises(tracking.TrackingError, match="not supported"):
        tracking.resolve_uri("ftp://host/x", tmp_path)


def test_an_unreachable_server_is_a_clear_error_at_once():
    port = free_port()
    started = time.perf_counter()
    with pytest.raises(tracking.TrackingError, match=f"Cannot reach .*127.0.0.1:{port}"):
        tracking.ensure_experiment(f"http://127.0.0.1:{port}", "x")
    assert time.perf_counter() - started < 10


def test_ensure_experiment_is_idempotent_and_keeps_artifacts_beside_the_store(store):
    uri, exp, root = store
    assert tracking.ensure_experiment(uri, "tests") == exp
    location = MlflowClient(uri).get_experiment(exp).artifact_location
    assert location.startswith((root / "mlruns").as_uri())


def test_a_sweep_is_a_parent_run_with_a_summary_of_its_children(store, tmp_path):
    uri, exp, _ = store
    parent, jobs, summary = make_sweep(uri, exp, lrs=(0.2, 1.0), seeds=(0, 1), diverge_lr=1e4)
    mc = MlflowClient(uri)
    run = mc.get_run(parent)
    assert run.info.status == "FAILED"  # one job diverged
    assert run.data.tags["nnexp.failed_jobs"] == "1" and run.data.tags["nnexp.jobs"] == "5"
    assert "lr=10000.0-seed=0" in summary and "diverged" in run.data.tags["nnexp.failures"]
    children = mc.search_runs([exp], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(c.info.run_id for c in children) == sorted(j["run_id"] for j in jobs)
    finished = [j for j in jobs if j["status"] == "FINISHED"]
    best = min(finished, key=lambda j: j["metrics"]["val_loss"])
    assert run.data.tags["nnexp.best.run_name"] == best["run_name"]
    assert run.data.tags["nnexp.best.optimizer.lr"] == best["params"]["optimizer.lr"]
    table = pd.read_csv(artifact(mc, parent, "sweep.csv", tmp_path))
    assert len(table) == 5 and {"optimizer.lr", "seed", "val_loss"} <= set(table.columns)
    assert "epochs" not in table.columns  # constant across jobs
    best_lr = best["params"]["optimizer.lr"]
    same_lr = [j["metrics"]["val_loss"] for j in finished if j["params"]["optimizer.lr"] == best_lr]
    assert run.data.metrics["best_mean.val_loss"] == pytest.approx(np.mean(same_lr))
    assert run.data.metrics["best_std.val_loss"] == pytest.approx(np.std(same_lr, ddof=1))
    seeds = pd.read_csv(artifact(mc, parent, "sweep_seeds.csv", tmp_path))
    assert {"val_loss_mean", "val_loss_std", "val_loss_count"} <= set(seeds.columns)


class SlowEpochsSeeStore:
    """Epochs of ``seconds`` each (a sleep); at the end of epoch ``epoch``, reads which
    epochs' ``loss`` the store holds (from another client, as a user's UI would)."""

    def __init__(self, uri, tracker, epoch, seconds):
        self.uri, self.tracker, self.epoch, self.seconds, self.seen = uri, tracker, epoch, seconds, None

    @nnexp.hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        deadline = time.monotonic() + 60
        while epoch == 1 and self.tracker.run_id is None:  # the sender starts (imports MLflow)
            assert time.monotonic() < deadline, "the sender never created the run"
            time.sleep(0.05)
        time.sleep(self.seconds)
        if epoch == self.epoch:
            self.seen = steps_of(MlflowClient(self.uri), self.tracker.run_id, "loss")


@pytest.mark.parametrize("flush_every_s", [0.1, 3600])
def test_metrics_reach_the_store_during_training_within_the_flush_interval(store, flush_every_s):
    uri, exp, _ = store
    X, y = data()
    tracker = tracking.RunTracker(uri=uri, experiment_id=exp, run_name=f"flush-{flush_every_s}",
                                  settings={"plot": False, "flush_every_s": flush_every_s})
    seer = SlowEpochsSeeStore(uri, tracker, epoch=6, seconds=0.25)
    nnexp.fit(tutorial_net(), X, y, loss="half_squared_error", epochs=6, callbacks=[tracker, seer])
    if flush_every_s < 1:  # 1.5 s of training, sent every 0.1 s: all but the last epoch or two
        assert seer.seen[:4] == [1, 2, 3, 4]
    else:  # nothing sent before the end ...
        assert seer.seen == []
    assert steps_of(MlflowClient(uri), tracker.run_id, "loss") == [1, 2, 3, 4, 5, 6]  # ... all after


def test_a_write_blocked_by_a_sqlite_lock_is_retried_until_it_goes_through(tmp_path):
    import sqlite3
    import threading

    from nnexp.tracking.store import retry

    db = tmp_path / "locked.db"
    sqlite3.connect(db).execute("create table t (x)").connection.commit()
    holder = sqlite3.connect(db, check_same_thread=False)
    holder.execute("begin exclusive")  # another process's long write
    threading.Timer(0.5, holder.commit).start()
    attempts = []

    def write():
        attempts.append(1)
        with sqlite3.connect(db, timeout=0.05) as con:
            con.execute("insert into t values (1)")

    retry(write)
    assert len(attempts) > 1  # the first attempts met the lock
    assert sqlite3.connect(db).execute("select count(*) from t").fetchone() == (1,)
    with pytest.raises(ValueError):  # other errors are not retried
        retry(lambda: (_ for _ in ()).throw(ValueError("not a lock")))


def test_a_sweep_whose_jobs_all_failed_or_none_ran_still_ends(store):
    uri, exp, _ = store
    parent = tracking.start_sweep(uri, exp, "empty-sweep", {})
    assert "0 job(s)" in tracking.end_sweep(uri, parent, [], "KILLED")
    assert MlflowClient(uri).get_run(parent).info.status == "KILLED"
    parent = tracking.start_sweep(uri, exp, "all-failed", {})
    jobs = [{"run_id": "x", "run_name": "a", "status": "FAILED", "error": "boom", "overrides": ["a=1"],
             "metrics": {}, "params": {"a": "1"}}]
    assert "FAILED a: boom" in tracking.end_sweep(uri, parent, jobs, "FINISHED")
    assert MlflowClient(uri).get_run(parent).info.status == "FAILED"


def test_a_run_with_a_2d_dataset_logs_its_decision_boundary_and_chain_rule(store, tmp_path):
    from nnexp.explain import explain

    uri, exp, _ = store
    ds = nnexp.get_registry().create("dataset", "moons", seed=0)
    net = nnexp.Network.mlp(2, [4], 2, activation="tanh", output_activation="softmax", seed=0)
    tracker = tracking.RunTracker(uri=uri, experiment_id=exp, run_name="moons", params={},
                                  tags={}, config_yaml="", dataset=ds)
    nnexp.fit(net, ds.X_train, ds.y_train, loss="cross_entropy", epochs=2, callbacks=[tracker])
    mc = MlflowClient(uri)
    pngs = [a.path for a in mc.list_artifacts(tracker.run_id, "plots")]
    assert "plots/decision_boundary.png" in pngs
    text = open(artifact(mc, tracker.run_id, "explain.txt", tmp_path)).read()
    expected = explain(net, ds.X_train[0], ds.y_train[0], "cross_entropy")
    assert text == expected.to_text()  # the trained network on the first training sample


def test_pictures_every_k_epochs_when_asked_and_the_final_ones_at_the_end(store, tmp_path):
    uri, exp, _ = store
    tracker, error, _ = tracked_fit(uri, exp, epochs=5, settings={"plot": True, "plot_every_epochs": 2})
    assert error is None
    mc = MlflowClient(uri)
    top = sorted(a.path for a in mc.list_artifacts(tracker.run_id, "plots"))
    assert [p for p in top if "epoch_" in p] == ["plots/epoch_002", "plots/epoch_004"]
    assert "plots/curves.png" in top
    frame = pd.read_csv(artifact(mc, tracker.run_id, "stats/steps.csv", tmp_path))
    assert len(frame) == 5 * 6  # the progress pictures did not disturb the statistics
    assert "plots/epoch_002/curves.png" in [a.path for a in mc.list_artifacts(tracker.run_id, "plots/epoch_002")]


def test_negative_plot_interval_is_refused():
    with pytest.raises(nnexp.ConfigError, match="plot_every_epochs"):
        tracking.RunTracker(uri="sqlite:///x.db", experiment_id="0", run_name="r", params={}, tags={},
                            config_yaml="", settings={"plot_every_epochs": -1})


def test_auto_logging_gives_even_a_fast_short_run_curves_in_mlflow(store):
    uri, exp, _ = store
    tracker, error, _ = tracked_fit(uri, exp, epochs=3)  # 18 fast steps, default (auto) settings
    assert error is None
    mc = MlflowClient(uri)
    assert steps_of(mc, tracker.run_id, "grad_norm/dense_0.W") == list(range(1, 19))


def test_auto_logging_sends_max_points_rows_evenly_and_the_last(store):
    uri, exp, _ = store
    tracker, error, _ = tracked_fit(uri, exp, epochs=20, settings={"max_points": 10})  # 120 steps
    steps = steps_of(MlflowClient(uri), tracker.run_id, "grad_norm/dense_0.W")
    assert error is None and steps == list(range(12, 121, 12))  # a function of the config only
    assert len(tracker.record.steps.read()) == 120  # the record keeps every step


def test_auto_logging_keeps_max_points_when_stats_are_recorded_every_few_steps(store):
    uri, exp, _ = store
    # 120 steps, a stats row every 2nd: 60 rows, of which every 6th (10 points) may be logged
    tracker, error, _ = tracked_fit(uri, exp, epochs=20, settings={"stats_every": 2, "max_points": 10})
    steps = steps_of(MlflowClient(uri), tracker.run_id, "grad_norm/dense_0.W")
    assert error is None and len(steps) <= 11 and steps[-1] == 120
    assert all(step % 2 == 0 for step in steps)


class Snapshots:
    """Every step's parameters (step 0: before training), copied."""

    def __init__(self):
        self.at = {}

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.at[0] = {k: v.copy() for k, v in run.network.params.items()}

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.at[run.step] = {k: v.copy() for k, v in run.network.params.items()}


def test_update_ratio_of_sparse_stats_rows_is_the_change_since_the_previous_row(store):
    # plain SGD, a large (reduced in place) and a small (chunked) weight, a row every 2nd step:
    # both columns must mean the same ‖θ_t − θ_{t−2}‖ / ‖θ_t‖
    uri, exp, _ = store
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(64, 40)), rng.random((64, 3))
    net = nnexp.Network([{"type": "dense", "units": 30}, "tanh", {"type": "dense", "units": 3}], 40,
                        dtype="float64", seed=0)
    tracker = tracking.RunTracker(uri=uri, experiment_id=exp, run_name="sparse-stats",
                                  settings={"plot": False, "stats_every": 2})
    snaps = Snapshots()
    nnexp.fit(net, X, y, loss="mse", optimizer={"type": "sgd", "lr": 0.1}, epochs=2, batch_size=16,
              callbacks=[tracker, snaps])
    table = tracker.record.steps.read()
    assert list(table.index) == [2, 4, 6, 8]
    for step, row in table.iterrows():
        now, before = snaps.at[step], snaps.at[step - 2]
        for name in ("dense_0.W", "dense_1.W"):
            want = np.linalg.norm(now[name] - before[name]) / np.linalg.norm(now[name])
            assert row[f"update_ratio/{name}"] == pytest.approx(want, rel=1e-6), name


@pytest.mark.parametrize("key", ["log_every", "stats_every", "flush_every_s"])
def test_a_boolean_is_not_a_number_of_steps_or_seconds(key):
    with pytest.raises(nnexp.ConfigError, match=key):
        tracking.RunTracker(uri="sqlite:///x.db", experiment_id="0", run_name="r", params={}, tags={},
                            config_yaml="", settings={key: True})



def sent_anew(store, tmp_path, lr=0.25):
    """A finished tracked run's record, pointed at a new store of its own as if never sent."""
    from nnexp.tracking import sender

    uri, experiment_id, _ = store
    tracker, error, _ = tracked_fit(uri, experiment_id, run_name="anew", lr=lr, epochs=2)
    assert error is None and sender.state(tracker.record).get("synced")
    other = tracking.resolve_uri("sqlite:///other.db", tmp_path)
    tracker.record.update_meta(uri=other, experiment_id=tracking.ensure_experiment(other, "tests"),
                               synced=False)
    (tracker.record.path / sender.STATE).unlink()
    return tracker.record, MlflowClient(other)


def step_until_done(follower, times=50):
    for _ in range(times):
        follower.next_try = 0.0  # the next try now, not in RETRY_EVERY seconds
        follower.step(owner_gone=False)
        if follower.done:
            return


def test_a_store_lost_between_creating_a_run_and_its_params_keeps_that_one_run(store, tmp_path, monkeypatch):
    """The store stops answering just after it created a run, before the run's params: the
    sender keeps the run's id and completes that run once the store answers, never a second."""
    from nnexp.tracking import runs, sender

    record, mc = sent_anew(store, tmp_path)
    describe, calls = runs.describe_run, []

    def away_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("Connection refused")  # the store answered create_run, then went
        return describe(*args, **kwargs)

    monkeypatch.setattr(runs, "describe_run", away_once)
    follower = sender.Follower(record, lambda: False, {}, None)
    follower.step(owner_gone=False)
    opened = sender.state(record)
    assert opened.get("run_id") and opened.get("opening") is True and not follower.done
    step_until_done(follower)
    assert follower.done and len(calls) == 2
    (run,) = mc.search_runs([record.meta()["experiment_id"]])
    assert run.info.run_id == opened["run_id"] and run.info.status == "FINISHED"
    assert run.data.params["optimizer.lr"] == "0.25" and run.data.tags["nnexp.record"] == str(record.path)
    assert sender.state(record).get("opening") is False


@pytest.mark.parametrize("failures", [2, 99])
def test_an_unexpected_sender_failure_is_tried_again_then_left_to_sync(store, tmp_path, monkeypatch,
                                                                      capsys, failures):
    """A failure that is not the store being away (here a full disk, twice or always) is said
    and tried again; a run that keeps failing is left to ``nnexp sync``, which sends it."""
    from nnexp.commands import sync
    from nnexp.tracking import sender
    from nnexp.tracking.sink import Sink

    record, mc = sent_anew(store, tmp_path)
    end_status, calls = Sink.end_status, []

    def full_disk(self, status):
        calls.append(status)
        if len(calls) <= failures:
            raise OSError(28, "No space left on device")
        return end_status(self, status)

    monkeypatch.setattr(Sink, "end_status", full_disk)
    follower = sender.Follower(record, lambda: False, {}, None)
    step_until_done(follower)
    said = capsys.readouterr().err
    assert follower.done and "No space left on device (at test_tracking.py" in said
    (run,) = mc.search_runs([record.meta()["experiment_id"]])
    if failures < sender.MAX_FAILURES:
        assert said.count("trying again") == failures and run.info.status == "FINISHED"
        return
    assert len(calls) == sender.MAX_FAILURES and "left to `nnexp sync`" in said
    assert run.info.status == "RUNNING" and "sender_error" in sender.state(record)
    monkeypatch.setattr(Sink, "end_status", end_status)
    assert sync.main(["--records", str(record.path.parent)]) == 0
    assert mc.get_run(run.info.run_id).info.status == "FINISHED"
    assert "FINISHED" in capsys.readouterr().out
