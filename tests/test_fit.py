"""fit(): lifecycle hooks, statuses, data validation and history."""

import math

import numpy as np
import pytest

import nnexp
from nnexp import hookimpl


class Recorder:
    """A third-party-style logger subscribing to the lifecycle hooks."""

    def __init__(self, interrupt_at=None):
        self.events, self.interrupt_at = [], interrupt_at

    @hookimpl
    def on_run_start(self, run):
        self.events.append(("start", run.step))

    @hookimpl
    def on_step_end(self, run, loss):
        self.events.append(("step", run.step))
        if run.step == self.interrupt_at:
            raise KeyboardInterrupt

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        self.events.append(("epoch", epoch, dict(metrics)))

    @hookimpl
    def on_run_end(self, run, status, error):
        self.events.append(("end", status, error))


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, :1] > 0).astype(float)
    return X, y


def net(**kw):
    return nnexp.Network.mlp(4, [6], 1, activation="relu", output_activation="sigmoid", **kw)


def test_hooks_fire_in_order_with_step_counts():
    rec = Recorder()
    X, y = data(10)
    nnexp.fit(net(), X, y, epochs=3, batch_size=4, callbacks=[rec])
    kinds = [e[0] for e in rec.events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("step") == 3 * math.ceil(10 / 4)
    assert [e[1] for e in rec.events if e[0] == "epoch"] == [1, 2, 3]
    assert rec.events[-1][1:] == ("FINISHED", None)


def test_history_has_train_and_validation_metrics_per_epoch():
    X, y = data(20)
    hist = nnexp.fit(net(), X, y, epochs=4, batch_size=5, validation_data=data(8, seed=1),
                     loss="mse", optimizer={"type": "sgd", "lr": 0.5})
    assert len(hist) == 4
    assert set(hist.last) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist["loss"][-1] < hist["loss"][0]
    assert list(hist.to_frame().index) == [1, 2, 3, 4]


def test_callbacks_are_unregistered_after_fit():
    rec = Recorder()
    X, y = data()
    model = net()
    nnexp.fit(model, X, y, epochs=1, callbacks=[rec])
    n = len(rec.events)
    nnexp.fit(model, X, y, epochs=1)
    assert len(rec.events) == n


def test_interrupt_ends_the_run_as_killed_and_propagates():
    rec = Recorder(interrupt_at=2)
    X, y = data()
    with pytest.raises(KeyboardInterrupt):
        nnexp.fit(net(), X, y, epochs=5, batch_size=2, callbacks=[rec])
    assert rec.events[-1][1] == "KILLED"
    assert sum(e[0] == "step" for e in rec.events) == 2


def test_divergence_fails_the_run_with_the_reason():
    rec = Recorder()
    X, y = data()
    model = nnexp.Network.mlp(4, [6], 1, activation="identity")
    with pytest.raises(nnexp.DivergenceError, match="diverged"):
        nnexp.fit(model, X * 1e4, y * 1e4, epochs=50, optimizer={"type": "sgd", "lr": 10.0},
                  callbacks=[rec])
    status, error = rec.events[-1][1:]
    assert status == "FAILED" and isinstance(error, nnexp.DivergenceError)


def test_nan_in_data_is_refused_before_the_run_starts():
    rec = Recorder()
    X, y = data()
    X[3, 2] = np.nan
    with pytest.raises(nnexp.DataError, match="row 3"):
        nnexp.fit(net(), X, y, callbacks=[rec])
    assert rec.events == []


def test_target_shape_mismatch_names_both_shapes():
    X, _ = data()
    with pytest.raises(nnexp.ShapeError, match=r"targets have shape \(batch, 2\).*outputs \(batch, 1\)"):
        nnexp.fit(net(), X, np.zeros((10, 2)))


def test_feature_count_mismatch_is_a_shape_error():
    with pytest.raises(nnexp.ShapeError, match="input_size"):
        nnexp.fit(net(), np.zeros((10, 3)), np.zeros((10, 1)))


@pytest.mark.parametrize("option, value", [("epochs", 0), ("batch_size", -1)])
def test_invalid_loop_settings_are_config_errors(option, value):
    X, y = data()
    with pytest.raises(nnexp.ConfigError, match=option):
        nnexp.fit(net(), X, y, **{option: value})


def test_negative_learning_rate_is_refused_when_the_optimizer_is_built():
    X, y = data()
    with pytest.raises(nnexp.ConfigError, match="lr"):
        nnexp.fit(net(), X, y, optimizer={"type": "sgd", "lr": -0.1})


def test_a_hook_can_stop_training_after_an_epoch():
    class Stopper:
        @hookimpl
        def on_epoch_end(self, run, epoch, metrics):
            run.stop_requested = epoch == 2

    X, y = data()
    assert len(nnexp.fit(net(), X, y, epochs=10, callbacks=[Stopper()])) == 2


@pytest.mark.parametrize("shuffle", [True, False])
def test_a_single_sample_last_batch_is_skipped_with_batchnorm(shuffle):
    X, y = data(9)
    model = nnexp.Network([{"type": "dense", "units": 4}, "batchnorm", "relu",
                           {"type": "dense", "units": 1}, "sigmoid"], 4)
    rec = Recorder()
    nnexp.fit(model, X, y, epochs=2, batch_size=4, shuffle=shuffle, callbacks=[rec])
    assert sum(e[0] == "step" for e in rec.events) == 2 * 2  # 8 of 9 samples: two batches of 4


def test_a_scheduled_fit_restarts_from_the_optimizers_initial_lr():
    X, y = data()
    model = net()
    opt = model.registry.create("optimizer", {"type": "sgd", "lr": 0.1})
    schedule = {"type": "step", "step_size": 1, "gamma": 0.5}
    first = nnexp.fit(model, X, y, epochs=3, optimizer=opt, schedule=schedule)
    second = nnexp.fit(model, X, y, epochs=3, optimizer=opt, schedule=schedule)
    assert first["lr"] == second["lr"] == [0.1, 0.05, 0.025]


def test_an_evaluation_trainer_leaves_the_trained_optimizers_state_alone():
    X, y = data()
    model = net()
    opt = model.registry.create("optimizer", {"type": "adam", "lr": 0.01})
    nnexp.fit(model, X, y, epochs=2, optimizer=opt)
    steps, state = opt.t, {k: dict(v) for k, v in opt.state.items()}
    metrics = nnexp.Trainer(model, "mse", optimizer=None).evaluate(X, y)
    assert opt.t == steps and set(metrics) == {"loss", "accuracy"}
    for name, buffers in state.items():
        for key, value in buffers.items():
            assert opt.state[name][key] is value


class Named:
    """Notes each on_step_end it receives, taking the arguments in the given form."""

    def __init__(self, name, log, form="both", **opts):
        self.name, self.log = name, log
        impl = {"both": lambda run, loss: log.append((name, run.step, loss)),
                "swapped": lambda loss, run: log.append((name, run.step, loss)),
                "run": lambda run: log.append((name, run.step, None)),
                "none": lambda: log.append((name, None, None))}[form]
        self.on_step_end = hookimpl(**opts)(impl)


def test_step_hooks_are_called_in_pluggys_order_with_the_arguments_each_names():
    """fit calls on_step_end implementations directly (direct_caller): same order, same
    arguments as pluggy's own call, which the first plugin makes at the run's start."""
    log, values = [], []

    class AskPluggy:
        @hookimpl
        def on_run_start(self, run):
            run.hook.on_step_end(run=run, loss=-1.0)
            self.pluggy_order = [name for name, *_ in log]
            log.clear()
            values.clear()

    plugins = [AskPluggy(), Named("a", log, trylast=True), Named("b", log, "swapped"),
               Named("c", log, "run", tryfirst=True), Named("d", log, "none"),
               Named("e", log, trylast=True)]
    X, y = data(8)

    class Losses:
        @hookimpl(tryfirst=True)
        def on_step_end(self, run, loss):
            values.append(loss)

    nnexp.fit(net(), X, y, epochs=2, batch_size=4, callbacks=[*plugins, Losses()])
    order = plugins[0].pluggy_order
    assert sorted(order) == list("abcde") and order != list("abcde")  # pluggy reorders
    assert len(log) == 4 * 5
    for step in range(4):
        calls = log[5 * step:5 * step + 5]
        assert [name for name, *_ in calls] == order
        args = {name: (s, loss) for name, s, loss in calls}
        assert args["a"] == args["b"] == args["e"] == (step + 1, values[step])
        assert args["c"] == (step + 1, None) and args["d"] == (None, None)


def test_a_plugin_registered_or_unregistered_during_a_step_counts_from_the_next_step():
    log = []
    late = Named("late", log)

    class Registrar:
        @hookimpl
        def on_step_end(self, run, loss):
            pm = nnexp.get_registry().pm
            if run.step == 2:
                pm.register(late)
            if run.step == 4:
                pm.unregister(late)

    X, y = data(12)
    nnexp.fit(net(), X, y, epochs=1, batch_size=2, callbacks=[Registrar()])
    assert [s for _, s, _ in log] == [3, 4]  # registered at 2, then unregistered at 4 (after it ran)


def test_step_hook_wrappers_and_monitoring_go_through_pluggy():
    seen = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def on_step_end(self, run, loss):
            seen.append(("before", run.step))
            yield
            seen.append(("after", run.step))

    X, y = data(8)
    log = []
    nnexp.fit(net(), X, y, epochs=1, batch_size=4, callbacks=[Wrapper(), Named("x", log)])
    assert seen == [("before", 1), ("after", 1), ("before", 2), ("after", 2)]
    assert [s for _, s, _ in log] == [1, 2]

    pm = nnexp.get_registry().pm
    monitored = []
    undo = pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: monitored.append((name, kwargs.get("run") and kwargs["run"].step)),
        lambda outcome, name, impls, kwargs: None)
    try:
        nnexp.fit(net(), X, y, epochs=1, batch_size=4, callbacks=[Named("y", log)])
    finally:
        undo()
    assert [s for name, s in monitored if name == "on_step_end"] == [1, 2]


def test_plain_step_hooks_are_called_by_the_loop_not_through_pluggy():
    """The fast path is taken with the installed pluggy (it relies on two of its internals;
    without them every step would silently pay pluggy's call again)."""
    import inspect

    callers = []

    class Where:
        @hookimpl
        def on_step_end(self, run, loss):
            callers.append({frame.function for frame in inspect.stack()[1:4]})

    X, y = data(4)
    nnexp.fit(net(), X, y, epochs=1, batch_size=4, callbacks=[Where()])
    assert len(callers) == 1 and "_multicall" not in callers[0] and "call" in callers[0]
