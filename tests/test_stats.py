"""Per-step statistics: every column equals a direct (slow, obvious) computation of it."""

import contextlib
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import nnexp
from nnexp import stats as stats_mod
from nnexp.stats import SMALL, GradHistograms, StepStats, activation_stat, is_plain_sgd


class Recorder:
    """Copies gradients, parameters and layer outputs at every step (the naive way)."""

    def __init__(self, exact_updates=False, beside=False):
        self.exact_updates, self.beside = exact_updates, beside
        self.steps = []

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats = StepStats.for_run(run, exact_updates=self.exact_updates, beside=self.beside)
        self.prev = {k: v.copy() for k, v in run.network.params.items()}

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)
        net = run.network
        params = {k: v.copy() for k, v in net.params.items()}
        self.steps.append({"step": run.step, "epoch": run.epoch, "loss": loss,
                           "grads": {k: v.copy() for k, v in net.grads.items()},
                           "params": params, "prev": self.prev,
                           "outputs": [None if o is None else o.copy() for o in net.outputs]})
        self.prev = params


def naive_row(rec, net, acts) -> dict:
    row = {"step": rec["step"], "epoch": rec["epoch"], "loss": rec["loss"]}
    per_stat = {"grad_norm": {}, "grad_max": {}, "weight_norm": {}, "update_ratio": {}}
    for name, g in rec["grads"].items():
        w, prev = rec["params"][name], rec["prev"][name]
        per_stat["grad_norm"][name] = np.sqrt(np.sum(g.astype(float) ** 2))
        per_stat["grad_max"][name] = np.abs(g).max()
        per_stat["weight_norm"][name] = np.linalg.norm(w.astype(float))
        per_stat["update_ratio"][name] = np.linalg.norm((w - prev).astype(float)) / np.linalg.norm(w)
    for stat, values in per_stat.items():
        row.update({f"{stat}/{name}": v for name, v in values.items()})
    for index, name, kind, lo, hi in acts:
        a = rec["outputs"][index].reshape(len(rec["outputs"][index]), -1)
        if kind == "dead":
            row[f"dead_frac/{name}"] = np.mean(np.all(a <= 0, axis=0))
        else:
            row[f"saturated_frac/{name}"] = np.mean(np.all(a <= lo, axis=0) | np.all(a >= hi, axis=0))
    return row


def data(n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(70, n_in)), (rng.random((70, n_out)) > 0.5).astype(float)


def train(layers, optimizer, loss="mse", epochs=3, batch_size=16, n_in=5, n_out=3, seed=0,
          exact_updates=False, dtype="float64", beside=False):
    X, y = data(n_in, n_out, seed)
    net = nnexp.Network(layers, n_in, dtype=dtype, seed=seed)
    rec = Recorder(exact_updates, beside)
    nnexp.fit(net, X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
              callbacks=[rec])
    return net, rec


def assert_matches_naive(net, rec, rtol=1e-6):
    columns, values = rec.stats.table()
    assert values.shape == (len(rec.steps), len(columns))
    for got, step in zip(values, rec.steps):
        want = naive_row(step, net, rec.stats.acts)
        assert list(want) == columns
        np.testing.assert_allclose(got, list(want.values()), rtol=rtol, atol=1e-12,
                                   err_msg=f"step {step['step']}: {columns}")


@pytest.mark.parametrize("beside", [False, True])
@pytest.mark.parametrize("optimizer", [{"type": "sgd", "lr": 0.1}, {"type": "adam", "lr": 0.01},
                                       {"type": "sgd", "lr": 0.1, "momentum": 0.9}])
def test_every_column_matches_a_direct_computation(optimizer, beside):
    # dense_0.W has 100*90 = 9000 >= SMALL elements (reduced in place, on the second thread
    # with beside); the rest are chunked
    layers = [{"type": "dense", "units": 90}, "relu", {"type": "dense", "units": 3}, "sigmoid"]
    net, rec = train(layers, optimizer, n_in=100, beside=beside)
    assert net.params["dense_0.W"].size >= SMALL > net.params["dense_1.W"].size
    assert rec.stats.beside == beside
    assert_matches_naive(net, rec)


def test_large_layer_outputs_reduced_at_each_step_match_too():
    layers = [{"type": "dense", "units": 300}, "relu", {"type": "dense", "units": 3}, "tanh"]
    net, rec = train(layers, {"type": "rmsprop", "lr": 0.01}, epochs=2)
    assert not rec.stats._copy_acts  # 16 x 303 outputs per batch: above RAW_ACTS
    assert_matches_naive(net, rec)


def test_a_table_read_mid_chunk_and_before_any_step_is_consistent():
    layers = [{"type": "dense", "units": 3}, "sigmoid"]
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 5)), rng.random((40, 3))
    net = nnexp.Network(layers, 5, dtype="float64")

    class ReadEveryEpoch(Recorder):
        @nnexp.hookimpl
        def on_run_start(self, run):
            super().on_run_start(run)
            assert self.stats.table()[1].shape == (0, len(self.stats.columns))

        @nnexp.hookimpl
        def on_epoch_end(self, run, epoch, metrics):
            assert len(self.stats.rows_since(0)) == run.step

    rec = ReadEveryEpoch()
    nnexp.fit(net, X, y, optimizer={"type": "adam", "lr": 0.05}, epochs=3, batch_size=16, callbacks=[rec])
    assert_matches_naive(net, rec)


class FreshGrads(nnexp.Layer):
    """Scales its input per feature and hands back NEW gradient arrays at every backward,
    one of them a transposed (non-contiguous) view, as a third-party layer might."""

    def build(self, input_shape, ctx):
        self.params = {"s": np.ones(input_shape, ctx.dtype), "t": np.ones((2, input_shape[0]), ctx.dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return input_shape

    def forward(self, x, training=False):
        self._x = x
        return x * self.params["s"] * self.params["t"][0]

    def backward(self, grad_out):
        gs = (grad_out * self._x * self.params["t"][0]).sum(axis=0)
        gt = np.stack([(grad_out * self._x * self.params["s"]).sum(axis=0), np.zeros_like(gs)])
        self.grads = {"s": gs, "t": np.asfortranarray(gt)}
        return grad_out * self.params["s"] * self.params["t"][0]


def test_layers_that_replace_their_gradient_arrays_are_followed():
    net, rec = train([FreshGrads(), {"type": "dense", "units": 3}], {"type": "sgd", "lr": 0.05})
    assert_matches_naive(net, rec)


class FortranOut(nnexp.Layer):
    """Hands its input on in Fortran order, as a third-party layer may: the activation after
    it keeps that order (numpy's ufuncs do), so its outputs are not sample-major in memory."""

    def forward(self, x, training=False):
        return np.asfortranarray(x)

    def backward(self, grad_out):
        return grad_out


def test_layer_outputs_in_fortran_order_are_read_sample_by_sample():
    layers = [{"type": "dense", "units": 6}, FortranOut(), "relu", {"type": "dense", "units": 3}]
    X, y = data(5, 3)
    net = nnexp.Network(layers, 5, dtype="float64", seed=0)
    net.set_params({"dense_0.b": [-100.0, -100.0, 0.0, 0.0, 0.0, 0.0]})  # two units dead
    rec = Recorder()
    nnexp.fit(net, X, y, optimizer={"type": "sgd", "lr": 1e-3}, epochs=2, batch_size=16, callbacks=[rec])
    assert net.outputs[2].flags.f_contiguous and not net.outputs[2].flags.c_contiguous
    assert rec.stats._copy_acts
    assert_matches_naive(net, rec)
    assert rec.stats.table()[1][:, -1] == pytest.approx(2 / 6)


def test_plain_sgd_update_norm_from_lr_times_grad_equals_the_measured_update():
    layers = [{"type": "dense", "units": 90}, "tanh", {"type": "dense", "units": 3}]
    _, fast = train(layers, {"type": "sgd", "lr": 0.05}, n_in=100)
    _, exact = train(layers, {"type": "sgd", "lr": 0.05}, n_in=100, exact_updates=True)
    assert fast.stats.analytic and not exact.stats.analytic
    np.testing.assert_allclose(fast.stats.table()[1], exact.stats.table()[1], rtol=1e-9)


def test_float32_network_stats_match_within_float32_precision():
    layers = [{"type": "dense", "units": 8}, "leaky_relu", {"type": "dense", "units": 3}, "softmax"]
    net, rec = train(layers, {"type": "adam", "lr": 0.01}, loss="cross_entropy", dtype="float32")
    assert "saturated_frac/softmax_0" not in rec.stats.columns  # fused: not computed in training
    assert_matches_naive(net, rec, rtol=2e-4)


def test_dead_and_saturated_fractions_see_stuck_units():
    layers = [{"type": "dense", "units": 4}, "relu", {"type": "dense", "units": 2}, "sigmoid"]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(32, 3)), rng.random((32, 2))
    net = nnexp.Network(layers, 3, dtype="float64")
    net.set_params({"dense_0.b": [-100.0, -100.0, 0.0, 0.0], "dense_1.b": [50.0, 0.0]})
    rec = Recorder()
    nnexp.fit(net, X, y, optimizer={"type": "sgd", "lr": 1e-6}, epochs=1, batch_size=32,
              shuffle=False, callbacks=[rec])
    row = dict(zip(*[rec.stats.columns, rec.stats.table()[1][0]]))
    assert row["dead_frac/relu_0"] == pytest.approx(0.5)  # two of four units never fire
    assert row["saturated_frac/sigmoid_0"] == pytest.approx(0.5)  # one of two stuck at 1


def test_rows_grow_past_the_chunk_and_stay_in_step_order():
    net, rec = train([{"type": "dense", "units": 2}, "relu", {"type": "dense", "units": 3}],
                     {"type": "sgd", "lr": 0.01}, epochs=1100, batch_size=70)
    steps = rec.stats.table()[1][:, 0]
    assert len(steps) == 1100 > 2 * rec.stats._k  # several chunks folded
    np.testing.assert_array_equal(steps, np.arange(1, 1101))
    assert_matches_naive(net, rec)


BIG = [{"type": "dense", "units": 90}, "relu", {"type": "dense", "units": 3}, "sigmoid"]  # n_in=100


@pytest.mark.parametrize("optimizer", [{"type": "sgd", "lr": 0.1}, {"type": "adam", "lr": 0.01}])
def test_reductions_beside_training_give_the_direct_rows_across_chunks(optimizer):
    """The second thread reduces the same arrays as the training thread would, so the rows are
    equal to the last bit, in every chunk (500 steps, chunks of ~470 rows)."""
    _, direct = train(BIG, optimizer, n_in=100, epochs=100)
    net, beside = train(BIG, optimizer, n_in=100, epochs=100, beside=True)
    assert beside.stats.beside and not direct.stats.beside
    assert len(beside.steps) == 500 > beside.stats._k
    np.testing.assert_array_equal(beside.stats.table()[1], direct.stats.table()[1])
    assert_matches_naive(net, beside)


class HoldStep:
    """Holds up the second thread at step ``step`` (until 0.2 s later), before the statistics
    hand that step's large parameters to it; zeroes the parameters in a hook where plugins may
    set them (``on_epoch_end`` at epoch ``epoch``, or ``on_run_end``)."""

    def __init__(self, step, epoch=None):
        self.step, self.epoch = step, epoch

    @nnexp.hookimpl(tryfirst=True)
    def on_step_end(self, run, loss):
        if run.step == self.step:
            gate = threading.Event()
            stats_mod._beside(gate.wait)
            threading.Timer(0.2, gate.set).start()

    @nnexp.hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        if epoch == self.epoch:
            run.network.set_params({k: np.zeros_like(v) for k, v in run.network.params.items()})

    @nnexp.hookimpl
    def on_run_end(self, run, status, error):
        if self.epoch is None:
            run.network.set_params({k: np.zeros_like(v) for k, v in run.network.params.items()})


def fit_beside(callbacks, epochs=2, raises=None):
    X, y = data(100, 3)
    net = nnexp.Network(BIG, 100, dtype="float64", seed=0)
    rec = Recorder(beside=True)
    with pytest.raises(raises) if raises else contextlib.nullcontext():
        nnexp.fit(net, X, y, optimizer={"type": "adam", "lr": 0.01}, epochs=epochs, batch_size=16,
                  callbacks=[rec, *callbacks])
    assert rec.stats.beside and not net.params["dense_0.W"].any()  # zeroed after the last step
    assert rec.stats.table()[1][-1, rec.stats.columns.index("weight_norm/dense_0.W")] > 0
    assert_matches_naive(net, rec)  # against copies taken at each step
    return rec


def test_a_ctrl_c_while_the_last_row_is_reduced_beside_training_keeps_it_right():
    """KeyboardInterrupt at step 7's end, raised while the second thread has yet to reduce its
    large parameters: fit waits for it before the run-end hooks, which may set parameters."""

    class CtrlC:
        @nnexp.hookimpl(trylast=True)  # registered after the recorder: called after it
        def on_step_end(self, run, loss):
            if run.step == 7:
                raise KeyboardInterrupt

    rec = fit_beside([HoldStep(7), CtrlC()], epochs=3, raises=KeyboardInterrupt)
    assert len(rec.steps) == 7


def test_parameters_set_at_an_epochs_end_are_not_read_into_the_last_row():
    """A plugin may set parameters in on_epoch_end: fit waits for the last step's reductions
    first, so they read the trained values."""
    rec = fit_beside([HoldStep(2 * 5, epoch=2)])
    assert len(rec.steps) == 10


def one_step_beside(monkeypatch, hold, optimizer="sgd"):
    """A trainer after one step whose row is recorded twice: beside training and directly.
    ``hold``: "queue" keeps the second thread busy before it gets the row; "task" holds it up
    inside the row's max |g| task, which it has claimed. Returns (trainer, beside, direct, X,
    y, gate): opening the gate lets the second thread go on."""
    X, y = data(100, 3)
    net = nnexp.Network(BIG, 100, dtype="float64", seed=0)
    trainer = nnexp.Trainer(net, "mse", optimizer)
    run = nnexp.Run(trainer, epochs=1, batch_size=16, config=None, schedule=None, classification=False)
    beside, direct = StepStats.for_run(run, beside=True), StepStats.for_run(run, beside=False)
    assert trainer.readers == [beside.wait]
    gate = threading.Event()
    if hold == "queue":
        stats_mod._beside(gate.wait)
    else:  # the second thread's max |g| waits for the gate, then computes it
        free = stats_mod._max_abs_free
        monkeypatch.setattr(stats_mod, "_max_abs_free", lambda flat: gate.wait() and free(flat))
    trainer.train_step(X[:16], y[:16])
    direct.record(1, 1, 0.5)
    beside.record(1, 1, 0.5)
    if hold == "task":
        grad_max = [t for t, (task, _) in enumerate(beside._tasks) if task == beside._grad_max][0]
        deadline = time.monotonic() + 30
        while beside._claims.get(grad_max) != stats_mod._BESIDE:  # the second thread is in it
            assert time.monotonic() < deadline
            time.sleep(0.001)
    return trainer, beside, direct, X, y, gate


def test_backward_waits_for_a_reduction_the_second_thread_is_doing(monkeypatch):
    """The next step stops before backward overwrites the gradients a task of the second
    thread is reading, and goes on once it is done."""
    trainer, beside, direct, X, y, gate = one_step_beside(monkeypatch, "task")
    events = []
    threading.Timer(0.3, lambda: (events.append("reduced"), gate.set())).start()
    trainer.train_step(X[16:32], y[16:32])
    events.append("stepped")
    assert events == ["reduced", "stepped"]
    np.testing.assert_array_equal(beside.table()[1], direct.table()[1])


def test_the_training_thread_does_the_reductions_the_second_thread_has_not_started(monkeypatch):
    """A busy second thread (a loaded machine) does not hold training up: the next step's
    barrier reduces the row itself; the second thread finds nothing left to do."""
    trainer, beside, direct, X, y, gate = one_step_beside(monkeypatch, "queue")
    trainer.train_step(X[16:32], y[16:32])
    assert not gate.is_set() and set(beside._claims.values()) == {stats_mod._MAIN}
    gate.set()
    np.testing.assert_array_equal(beside.table()[1], direct.table()[1])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])  # adam: Δθ from a snapshot
def test_a_rows_tasks_done_again_after_an_interruption_give_the_same_values(monkeypatch, optimizer):
    """A Ctrl-C in the training thread's share of a row, after a task's work but before it is
    marked done (the worst moment), has the next wait do that task again."""
    trainer, beside, direct, X, y, gate = one_step_beside(monkeypatch, "queue", optimizer)
    row = beside._row
    beside.wait()  # the training thread does every task: the second thread is held
    beside._row, beside._done = row, [False] * len(beside._done)  # as if none was marked done
    beside.wait()
    gate.set()
    trainer.train_step(X[16:32], y[16:32])  # the next row's Δθ: from the snapshot moved once
    direct.record(2, 1, 0.5)
    beside.record(2, 1, 0.5)
    np.testing.assert_array_equal(beside.table()[1], direct.table()[1])


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_a_ctrl_c_while_waiting_for_the_second_thread_leaves_the_row_to_finish(monkeypatch):
    _, beside, direct, _, _, gate = one_step_beside(monkeypatch, "task")

    def ctrl_c(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            beside.wait()
    finally:
        signal.signal(signal.SIGALRM, previous)
    gate.set()
    np.testing.assert_array_equal(beside.table()[1], direct.table()[1])  # waits again, then reads


def test_csv_has_the_documented_schema(tmp_path):
    net, rec = train([{"type": "dense", "units": 4}, "tanh", {"type": "dense", "units": 3}],
                     {"type": "sgd", "lr": 0.1})
    rec.stats.write_csv(tmp_path / "steps.csv")
    frame = pd.read_csv(tmp_path / "steps.csv", index_col="step")
    params = list(net.params)
    expected = ["epoch", "loss"] + [f"{s}/{p}" for s in ("grad_norm", "grad_max", "weight_norm",
                                                         "update_ratio") for p in params]
    assert list(frame.columns) == expected + ["saturated_frac/tanh_0"]
    assert list(frame.index) == list(range(1, len(rec.steps) + 1))
    np.testing.assert_allclose(frame["loss"], [s["loss"] for s in rec.steps], rtol=1e-8)


def test_gradient_histograms_count_every_element(tmp_path):
    net, rec = train([{"type": "dense", "units": 4}, "relu", {"type": "dense", "units": 3}],
                     {"type": "sgd", "lr": 0.1}, epochs=1)
    hist = GradHistograms(net, bins=8)
    hist.record(5, 1)
    hist.record(5, 1)  # same step twice: one record
    hist.save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as data:
        assert list(data["steps"]) == [5]
        for name, g in net.grads.items():
            counts, edges = data[f"counts/{name}"], data[f"edges/{name}"]
            assert counts.shape == (1, 8) and edges.shape == (1, 9)
            assert counts.sum() == g.size
            assert edges[0, -1] == pytest.approx(np.abs(g).max()) and edges[0, 0] == -edges[0, -1]


def test_histograms_past_the_copy_budget_stay_in_step_order(tmp_path):
    net, rec = train([{"type": "dense", "units": 4}, "relu", {"type": "dense", "units": 3}],
                     {"type": "sgd", "lr": 0.1}, epochs=1)
    budget = GradHistograms(net, bins=4, copy_budget=200)  # room for a few copies only
    unlimited = GradHistograms(net, bins=4)
    for step in range(1, 6):
        for layer in net.layers:
            for g in layer.grads.values():
                g *= 1.5  # a different gradient at each "step"
        budget.record(step, 1)
        unlimited.record(step, 1)
    budget.save(tmp_path / "a.npz")
    unlimited.save(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        for key in b.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_plain_sgd_detection_and_activation_kinds():
    reg = nnexp.get_registry()
    assert is_plain_sgd(reg.create("optimizer", "sgd"))
    assert not is_plain_sgd(reg.create("optimizer", {"type": "sgd", "momentum": 0.9}))
    assert not is_plain_sgd(reg.create("optimizer", {"type": "sgd", "weight_decay": 1e-4}))
    assert not is_plain_sgd(reg.create("optimizer", "adam"))
    assert activation_stat("relu", object())[0] == "dead"
    assert activation_stat("tanh", object())[0] == "saturated"
    assert activation_stat("gelu", object()) is None

    class Custom:
        activation_stat = ("saturated", -2.0, 2.0)

    assert activation_stat("my_act", Custom()) == ("saturated", -2.0, 2.0)


def test_gradient_ratio_is_the_first_epochs_mean_input_over_output_layer_norm():
    """Issue 12: the vanishing study's number, as docs/results.md reads it off the steps table."""
    from nnexp.hookspecs import hookimpl
    from nnexp.stats import GradientRatio

    class Norms:
        rows: list = []

        @hookimpl
        def on_step_end(self, run, loss):
            g = run.network.grads
            layer = lambda n: np.sqrt(sum(np.sum(g[f"{n}.{k}"] ** 2) for k in "Wb"))  # noqa: E731
            self.rows.append((run.epoch, layer("dense_0"), layer("dense_3")))

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 2)), np.eye(2)[rng.integers(0, 2, 64)]
    net = nnexp.Network.mlp(2, [8, 8, 8], 2, activation="sigmoid", output_activation="softmax", seed=0)
    ratio, norms = GradientRatio(), Norms()
    nnexp.fit(net, X, y, loss="cross_entropy", optimizer="sgd", epochs=3, batch_size=16,
              callbacks=[ratio, norms])
    first = np.array([r[1:] for r in norms.rows if r[0] == 1])
    assert len(first) == 4 and len(norms.rows) == 12
    assert ratio.ratio == pytest.approx(first[:, 0].mean() / first[:, 1].mean(), rel=1e-6)
    assert ratio.layers == ("dense_0", "dense_3") and ratio.ratio < 0.5  # sigmoid: it shrinks


def test_the_vanishing_experiment_reports_its_gradient_ratio(nnexp_cli):
    out = nnexp_cli("+experiment=vanishing", "trainer.epochs=1", "tracking=off")
    assert out.returncode == 0, out.stderr
    ratio = float(out.stdout.split("grad_ratio ")[1].split()[0])
    assert 1e-7 < ratio < 1e-5  # sigmoid with Xavier: docs/results.md's 5.3e-07
    assert "grad_ratio = ‖∇dense_0‖ / ‖∇dense_10‖, mean over epoch 1" in out.stdout
