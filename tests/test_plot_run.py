"""A run's pictures drawn from its record (a folder laid out like its MLflow artifacts), each
figure carrying what it should, at a cost that does not grow with the run's length."""

import warnings

import numpy as np
import pandas as pd
import pytest

import nnexp
from nnexp import plots
from nnexp.plots import histograms, record
from nnexp.plots._figure import bin_means
from nnexp.plots.run import MAX_COLUMNS, MAX_POINTS, pictures
from plot_helpers import (assert_png, layout_faults, legend_texts, steps_table, train_moons,
                          visible, write_record)

PICTURES = ["curves.png", "decision_boundary.png", "grad_norms.png", "grad_hist.png"]


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False)


@pytest.fixture(scope="module")
def moons(registry):
    return train_moons(registry)


@pytest.fixture(scope="module")
def folder(moons, tmp_path_factory):
    history, net, _, rec = moons
    return write_record(tmp_path_factory.mktemp("run"), history, net, rec)


def test_draw_run_writes_every_picture_from_the_record(folder, registry, tmp_path):
    paths = plots.draw_run(folder, tmp_path / "plots", registry=registry)
    assert [p.name for p in paths] == PICTURES
    for p in paths:
        assert_png(p)


def test_the_network_and_dataset_are_rebuilt_from_model_and_config(folder, moons, registry):
    _, net, ds, _ = moons
    rec = record.read_record(folder, registry=registry)
    for key, value in net.params.items():
        np.testing.assert_array_equal(rec.network.params[key], value)
    np.testing.assert_array_equal(rec.dataset.X_test, ds.X_test)  # config.yaml's seed: same split
    ax = visible(plots.decision_boundary_figure(rec.network, rec.dataset))[0]
    acc = np.mean(net.predict(ds.X_test).argmax(axis=1) == ds.y_test.argmax(axis=1))
    assert f"test accuracy {acc:.1%}" in ax.get_title()


def test_the_per_step_table_is_read_for_its_gradient_norms_only(folder, moons):
    frame = record.read_steps(folder)
    full = steps_table(moons[3]).set_index("step")
    wanted = ["epoch"] + [c for c in full.columns if c.startswith("grad_norm/")]
    assert list(frame.columns) == wanted and frame.index.name == "step"
    pd.testing.assert_frame_equal(frame, full[wanted])


def test_a_csv_table_serves_when_there_is_no_parquet(moons, registry, tmp_path):
    history, net, _, rec = moons
    folder = write_record(tmp_path / "run", history, net, rec, steps="csv")
    from_csv = record.read_steps(folder)
    np.testing.assert_allclose(from_csv.to_numpy(), steps_table(rec).set_index("step")[
        list(from_csv.columns)].to_numpy(), rtol=1e-8)
    assert [p.name for p in plots.draw_run(folder, tmp_path / "p", registry=registry)] == PICTURES


def test_pictures_without_data_are_skipped(moons, registry, tmp_path):
    history, net, ds, _ = moons
    assert plots.draw_run(tmp_path / "nothing", tmp_path / "p", registry=registry) == []
    only = tmp_path / "epochs"
    (only / "stats").mkdir(parents=True)
    history.to_frame().to_parquet(only / "stats" / "epochs.parquet")
    assert [p.name for p in plots.draw_run(only, tmp_path / "p1")] == ["curves.png"]
    # network and dataset given: no model.npz or config.yaml needed for the boundary
    drawn = plots.draw_run(only, tmp_path / "p2", network=net, dataset=ds)
    assert [p.name for p in drawn] == ["curves.png", "decision_boundary.png"]


def test_plot_run_skips_the_boundary_for_regression(registry, tmp_path):
    ds = registry.create("dataset", {"type": "sine", "n": 100})
    net = nnexp.Network.mlp(1, [8], 1, activation="tanh", registry=registry)
    history = nnexp.fit(net, ds.X_train, ds.y_train, epochs=2, validation_data=(ds.X_val, ds.y_val))
    paths = plots.plot_run(history, None, tmp_path, network=net, dataset=ds)
    assert [p.name for p in paths] == ["curves.png"]


def test_an_unreadable_file_is_warned_about_and_the_rest_drawn(folder, registry, tmp_path):
    import shutil

    broken = shutil.copytree(folder, tmp_path / "run")
    (broken / "model.npz").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.warns(UserWarning, match="could not read the run's network"):
        paths = plots.draw_run(broken, tmp_path / "p", registry=registry)
    assert [p.name for p in paths] == ["curves.png", "grad_norms.png", "grad_hist.png"]


def test_curves_show_train_and_validation_loss_and_accuracy(moons):
    fig = plots.curves_figure(moons[0])
    axes = visible(fig)
    assert [ax.get_title() for ax in axes] == ["Loss per epoch", "Accuracy per epoch"]
    for ax in axes:
        assert ax.get_xlabel() == "epoch" and legend_texts(ax) == ["train", "validation"]
    assert layout_faults(fig) == []


def test_decision_boundary_reports_test_accuracy_and_classes(moons):
    _, net, ds, _ = moons
    ax = visible(plots.decision_boundary_figure(net, ds))[0]
    truth = ds.y_test.argmax(axis=1)
    acc = np.mean(net.predict(ds.X_test).argmax(axis=1) == truth)
    assert f"test accuracy {acc:.1%}" in ax.get_title()
    assert legend_texts(ax) == ["class upper", "class lower"]
    ax.figure.draw_without_rendering()
    box, area = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert box.x0 >= area.x1  # beside the plane, never over the points (XOR's (1, 1))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    regions = ax.collections[0]  # the predicted class over the plane, filled by class
    np.testing.assert_allclose(regions.levels, [-0.5, 0.5, 1.5])


def test_gradient_heat_map_has_one_row_per_layer(folder):
    steps = record.read_steps(folder)
    norms = plots.layer_grad_norms(steps)
    assert list(norms.columns) == ["dense_0", "dense_1", "dense_2"]
    expected = np.sqrt(steps["grad_norm/dense_1.W"] ** 2 + steps["grad_norm/dense_1.b"] ** 2)
    np.testing.assert_allclose(norms["dense_1"], expected)
    fig = plots.grad_heatmap_figure(steps)
    ax = visible(fig)[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dense_0", "dense_1", "dense_2"]
    assert ax.get_xlabel() == "step" and ax.get_title()
    np.testing.assert_allclose(ax.images[0].get_array().T, norms.to_numpy())  # short: unbinned
    assert layout_faults(fig) == []


# -- gradient histograms ----------------------------------------------------------------------
def hist_axes(fig):
    """(heat map, strip) pairs of the histogram figure, in parameter order."""
    axes = visible(fig)
    return list(zip(axes[::2], axes[1::2]))


def test_gradient_histograms_have_a_heat_map_and_a_scale_strip_per_parameter(folder):
    data = histograms.load_hist(folder / record.GRAD_HIST_FILE)
    fig = plots.grad_hist_figure(data)
    pairs = hist_axes(fig)
    names = [f"dense_{i}.{k}" for i in range(3) for k in "Wb"]
    sizes = [16, 8, 64, 8, 16, 2]  # 2-8-8-2: the number of values of each parameter
    assert [ax.get_title() for ax, _ in pairs] == [f"{n}  ({s} values)" for n, s in zip(names, sizes)]
    for (ax, strip), name in zip(pairs, names):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["−max", "0", "+max"]
        shares = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(len(data["steps"]), -1)
        counts = data[f"counts/{name}"]
        np.testing.assert_allclose(np.nan_to_num(shares), counts / counts.sum(axis=1, keepdims=True))
        assert strip.get_xscale() == "log" and strip.get_xlabel() == "max |∂L/∂p|"
        line = strip.get_lines()[0]  # max |∂L/∂p| at each recorded step
        np.testing.assert_allclose(line.get_xdata(), data[f"edges/{name}"][:, -1])
        np.testing.assert_array_equal(line.get_ydata(), data["steps"])
    assert any("0 in the middle" in t.get_text() for t in fig.texts)  # the footnote
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    fig.draw_without_rendering()
    ticks = [t.get_text() for t in bar.get_yticklabels()]
    assert ticks and all(t.endswith(" %") for t in ticks) and "100 %" in ticks
    assert layout_faults(fig) == []


def test_a_step_where_every_gradient_was_zero_has_no_max():
    counts = np.array([[1, 0, 2, 1], [0, 0, 4, 0]])  # the second: all 0, binned over [-1, 1]
    edges = np.array([[-0.4, -0.2, 0.0, 0.2, 0.4], [-1.0, -0.5, 0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(histograms.peaks(counts, edges), [0.4, np.nan])
    shares = histograms.shares(counts)
    np.testing.assert_allclose(shares[0], [0.25, np.nan, 0.5, 0.25])  # empty bins: white


def test_histogram_rows_sit_at_their_steps():
    np.testing.assert_allclose(histograms.row_edges(np.array([1, 11, 31])), [-4, 6, 21, 41])
    np.testing.assert_allclose(histograms.row_edges(np.array([5])), [4.5, 5.5])


# -- long runs cost what short ones do --------------------------------------------------------
@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A synthetic record of 300,000 steps, 3,000 epochs and 2,000 histogram records (the
    columns and formats of a real one)."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("long")
    (folder / "stats").mkdir()
    n, epochs = 300_000, 3_000
    steps = pd.DataFrame({"step": np.arange(1, n + 1), "epoch": np.arange(n) // (n // epochs) + 1,
                          "loss": rng.random(n)})
    for p in ("dense_0.W", "dense_0.b", "dense_1.W", "dense_1.b"):
        steps[f"grad_norm/{p}"] = rng.random(n) + 0.1
        steps[f"weight_norm/{p}"] = rng.random(n)
    steps.to_parquet(folder / "stats" / "steps.parquet")
    frame = pd.DataFrame({"loss": rng.random(epochs), "val_loss": rng.random(epochs)},
                         index=pd.RangeIndex(1, epochs + 1, name="epoch"))
    frame.to_parquet(folder / "stats" / "epochs.parquet")
    hist = {"steps": np.arange(1, 2001) * 150, "epochs": np.arange(1, 2001)}
    for p in ("dense_0.W", "dense_0.b", "dense_1.W", "dense_1.b"):
        hist[f"counts/{p}"] = rng.integers(0, 5, (2000, 16))
        hist[f"edges/{p}"] = np.linspace(-1, 1, 17) * rng.random((2000, 1))
    np.savez(folder / "stats" / "grad_hist.npz", **hist)
    return folder, steps, frame


def test_a_long_run_is_drawn_at_a_bounded_resolution(long_run, tmp_path):
    folder, steps, frame = long_run
    rec = record.read_record(folder)
    assert "weight_norm/dense_0.W" not in rec.steps.columns  # never read
    built = dict(pictures(rec))
    loss = visible(built["curves.png"]())[0].get_lines()[0]
    assert len(loss.get_xdata()) == MAX_POINTS
    k = len(frame) // MAX_POINTS  # first point: the mean of the first k epochs
    np.testing.assert_allclose(loss.get_ydata()[0], frame["loss"].iloc[:k].mean())
    image = visible(built["grad_norms.png"]())[0].images[0].get_array()
    assert image.shape == (2, MAX_COLUMNS)
    heat, _ = hist_axes(built["grad_hist.png"]())[0]
    assert heat.collections[0].get_array().size == histograms.MAX_ROWS * 16
    assert [p.name for p in plots.draw_run(folder, tmp_path)] == ["curves.png", "grad_norms.png",
                                                                   "grad_hist.png"]


def test_bin_means_average_the_finite_values_of_consecutive_runs():
    x = np.arange(10.0)
    values = np.column_stack([np.arange(10.0), np.where(np.arange(10) < 5, np.nan, 1.0)])
    bx, bv = bin_means(x, values, 2)
    np.testing.assert_allclose(bx, [2.0, 7.0])
    np.testing.assert_allclose(bv[:, 0], [2.0, 7.0])
    assert np.isnan(bv[0, 1]) and bv[1, 1] == 1.0  # no finite value: a gap, not 0
    same_x, same = bin_means(x[:3], values[:3], 5)
    assert same is values[:3] or np.array_equal(same, values[:3], equal_nan=True)


def test_render_warns_and_continues_when_a_picture_fails(folder, registry, tmp_path):
    rec = record.read_record(folder, registry=registry)
    rec.grad_hist = {"steps": np.array([1]), "counts/p": np.zeros((2, 3))}  # broken: no edges
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = plots.plot_run(rec.epochs, rec.steps, tmp_path, network=rec.network,
                               dataset=rec.dataset, grad_hist=rec.grad_hist)
    assert [p.name for p in paths] == PICTURES[:3]
    assert any("grad_hist.png not drawn" in str(w.message) for w in caught)


# -- nnexp plot run RUN_ID ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real SQLite MLflow store (artifacts beside it) and its client."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("store")
    mc = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = mc.create_experiment("moons", artifact_location=(root / "artifacts").as_uri())
    return root, mc, exp


def logged_run(mc, exp, folder=None, name="moons-run", metrics=None):
    """A finished run whose artifacts are ``folder``'s files (and ``metrics``: key -> values
    per epoch, logged at step = epoch as the tracker does)."""
    run_id = mc.create_run(exp, run_name=name).info.run_id
    if folder is not None:
        mc.log_artifacts(run_id, str(folder))
    for key, values in (metrics or {}).items():
        for epoch, value in enumerate(values, 1):
            mc.log_metric(run_id, key, value, step=epoch)
    mc.set_terminated(run_id)
    return run_id


@pytest.fixture
def plot_cmd(subcommand):
    """``nnexp plot ARGS`` in-process from ``cwd``."""
    return lambda cwd, *args: subcommand("plot", cwd, *args)


def test_nnexp_plot_run_draws_a_runs_artifacts_and_logs_them_to_plots(store, folder, nnexp_cli):
    root, mc, exp = store
    run_id = logged_run(mc, exp, folder)
    proc = nnexp_cli("plot", "run", run_id[:8], "--out", "pics", cwd=root)  # a prefix is enough
    assert proc.returncode == 0, proc.stderr
    logged = sorted(a.path for a in mc.list_artifacts(run_id, "plots"))
    assert logged == sorted(f"plots/{p}" for p in PICTURES)
    assert f"run {run_id} (moons-run): 4 picture(s)" in proc.stdout
    run = mc.get_run(run_id)
    for name in PICTURES:
        assert f"{run.info.artifact_uri}/plots/{name}" in proc.stdout
        local = mc.download_artifacts(run_id, f"plots/{name}", str(root / "check"))
        assert_png(local)
        assert (root / "pics" / name).read_bytes() == open(local, "rb").read()


def test_nnexp_plot_run_with_an_unknown_id_is_one_message_and_exit_2(store, nnexp_cli):
    root, _, _ = store
    proc = nnexp_cli("plot", "run", "0123456789abcdef0123456789abcdef", cwd=root)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"nnexp plot: error: No run with id '0123456789abcdef0123456789abcdef' in "
        f"sqlite:///{root / 'mlflow.db'}. `nnexp runs` lists the store's recent runs with their "
        "ids (so does the MLflow UI); pass --uri for another store."]


def test_a_run_recorded_without_an_epochs_table_gets_curves_from_its_metrics(store, moons, tmp_path,
                                                                             plot_cmd):
    from nnexp.commands.plot import epoch_metrics

    root, mc, exp = store
    history, net, _, rec = moons
    folder = write_record(tmp_path / "run", history, net, rec)
    (folder / "stats" / "epochs.parquet").unlink()  # as the tracker recorded runs until now
    metrics = {k: history[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    run_id = logged_run(mc, exp, folder, metrics={**metrics, "step_loss": [9.0]})
    mc.log_metric(run_id, "test_loss", 0.5, step=0)
    frame = epoch_metrics(mc, mc.get_run(run_id))
    assert sorted(frame.columns) == sorted(metrics) and list(frame.index) == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(frame[list(metrics)], history.to_frame()[list(metrics)],
                                  check_names=False, check_index_type=False)
    out = plot_cmd(root, "run", run_id)
    assert out.returncode == 0, out.stderr
    assert "plots/curves.png" in [a.path for a in mc.list_artifacts(run_id, "plots")]


def test_a_run_with_nothing_recorded_says_so(store, plot_cmd):
    root, mc, exp = store
    run_id = logged_run(mc, exp, name="empty")
    out = plot_cmd(root, "run", run_id)
    assert out.returncode == 2 and "has nothing to draw" in out.stderr
    assert mc.list_artifacts(run_id) == []


def test_an_ambiguous_id_prefix_lists_the_runs(store, plot_cmd):
    root, mc, exp = store
    ids = [logged_run(mc, exp, name=f"r{i}") for i in range(17)]  # 17 ids, 16 hex digits:
    first = next(c for c in "0123456789abcdef" if sum(i[0] == c for i in ids) > 1)  # two share one
    out = plot_cmd(root, "run", first)
    assert out.returncode == 2 and f"Run id '{first}' is ambiguous" in out.stderr
    assert "Give more of the id" in out.stderr


def test_a_long_title_and_a_single_parameter_still_fit_the_picture(folder):
    data = histograms.load_hist(folder / record.GRAD_HIST_FILE)
    one = {k: v for k, v in data.items() if "/" not in k or k.endswith("/dense_2.b")}
    title = "sweep-spirals-20261125-144840-model.activation=relu-seed=3: gradient histograms over training"
    fig = plots.grad_hist_figure(one, title)
    assert [ax.get_title() for ax, _ in hist_axes(fig)] == ["dense_2.b  (2 values)"]
    assert fig.get_suptitle().split() != title.split()  # wrapped: it would not fit on one line
    assert "".join(fig.get_suptitle().split()) == "".join(title.split())
    assert layout_faults(fig) == []
    assert layout_faults(plots.grad_heatmap_figure(record.read_steps(folder), title)) == []
    assert layout_faults(plots.curves_figure(record.read_epochs(folder), title)) == []


def test_a_long_title_fits_a_one_panel_curves_picture(registry):
    ds = registry.create("dataset", {"type": "sine", "n": 60})
    net = nnexp.Network.mlp(1, [4], 1, activation="tanh", registry=registry)
    history = nnexp.fit(net, ds.X_train, ds.y_train, epochs=2)  # a loss, no accuracy: one panel
    fig = plots.curves_figure(history, "sweep-sine-20261125-144840-model.hidden=[4]-seed=3: "
                                       "training curves")
    assert [ax.get_title() for ax in visible(fig)] == ["Loss per epoch"]
    assert layout_faults(fig) == []


def test_long_layer_names_fit_the_heat_map():
    names = ["dense_0", "residual_dense_12", "batchnorm_with_a_long_plugin_name_3"]
    steps = pd.DataFrame({f"grad_norm/{n}.W": np.linspace(1, 2, 50) for n in names},
                         index=pd.RangeIndex(1, 51, name="step"))
    fig = plots.grad_heatmap_figure(steps)
    assert [t.get_text() for t in visible(fig)[0].get_yticklabels()] == names
    assert layout_faults(fig) == []
