"""Pictures: each writes a PNG and its Figure carries the titles, labels and legends it should."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nnexp
from nnexp import plots
from nnexp.plots.components import activation_curve, loss_curves, loss_domain
from nnexp.stats import GradHistograms, StepStats

NNEXP = str(Path(sys.executable).with_name("nnexp"))
PNG = b"\x89PNG\r\n\x1a\n"


class Cube(nnexp.Activation):
    """``f(z) = z³``; ``f'(z) = 3z²`` (a plugin's activation, for the gallery)."""

    def f(self, z):
        return z ** 3

    def df(self, z):
        return 3 * z ** 2


class CubePlugin:
    @nnexp.hookimpl
    def register_activations(self, register):
        register("cube", Cube)


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False, extra_plugins=[("cube_plugin", CubePlugin())])


def visible(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def outside(artist, ax) -> bool:
    """Whether a drawn ``artist`` (a legend) lies entirely outside ``ax``'s plotting area."""
    box, area = artist.get_window_extent(), ax.get_window_extent()
    return (box.x0 >= area.x1 or box.x1 <= area.x0 or box.y0 >= area.y1 or box.y1 <= area.y0)


def within_figure(text, fig) -> bool:
    box, page = text.get_window_extent(), fig.bbox
    return box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0 and box.y1 <= page.y1


def assert_png(path):
    data = Path(path).read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_activation_gallery_has_every_registered_activation_and_the_plugins(registry):
    fig = plots.activation_gallery(registry=registry)
    axes = visible(fig)
    titles = [ax.get_title() for ax in axes]
    assert titles == [n if n != "cube" else "cube  [local]" for n in registry.names("activation")]
    for ax in axes:
        assert ax.get_xlabel() == "z" and ax.get_ylabel()
        assert len(legend_texts(ax)) == 2
    assert fig.get_suptitle()
    identity = axes[titles.index("identity")]
    low, high = identity.get_ylim()
    assert low < -4 and high > 4  # z = ±4: the identity line is shown whole


def test_gallery_shows_an_installed_plugin_packages_activations():
    installed = nnexp.load_registry()  # entry points: the really installed distributions
    plugin = [c for c in installed.components("activation") if c.provenance.distribution != "nnexp"]
    if not plugin:
        pytest.skip("no plugin package with activations is installed (pip install plugins/nnexp-extras)")
    titles = [ax.get_title() for ax in visible(plots.activation_gallery(registry=installed))]
    for comp in plugin:
        assert f"{comp.name}  [{comp.provenance.distribution}]" in titles


def test_activation_curve_is_f_and_its_derivative(registry):
    z = np.linspace(-2, 2, 9)
    a, da, element_wise = activation_curve("cube", registry, z)
    np.testing.assert_allclose(a, z ** 3)
    np.testing.assert_allclose(da, 3 * z ** 2)
    assert element_wise


def test_softmax_is_drawn_as_the_first_output_of_z_and_zero(registry):
    z = np.linspace(-3, 3, 7)
    a, da, element_wise = activation_curve("softmax", registry, z)
    s = 1 / (1 + np.exp(-z))  # softmax([z, 0])₀ is the logistic function
    np.testing.assert_allclose(a, s, atol=1e-12)
    np.testing.assert_allclose(da, s * (1 - s), atol=1e-12)
    assert not element_wise


def test_loss_gallery_has_every_loss_with_two_targets(registry):
    fig = plots.loss_gallery(registry=registry)
    axes = visible(fig)
    assert [ax.get_title() for ax in axes] == registry.names("loss")
    fig.draw_without_rendering()
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        assert len(legend_texts(ax)) == 4
        assert outside(ax.get_legend(), ax)  # a legend inside would hide a curve


def test_loss_curves_respect_each_losses_domain(registry):
    mse = registry.create("loss", "mse")
    curves = loss_curves(mse, loss_domain(mse))
    x = loss_domain(mse)["x"]
    np.testing.assert_allclose(curves["y = 0"][0], x ** 2)
    np.testing.assert_allclose(curves["y = 0"][1], 2 * x)
    bce = registry.create("loss", "binary_cross_entropy")
    p = loss_domain(bce)["x"]
    assert p.min() > 0 and p.max() < 1
    np.testing.assert_allclose(loss_curves(bce, loss_domain(bce))["y = 1"][0], -np.log(p), rtol=1e-9)
    hinge = registry.create("loss", "hinge")
    s = loss_domain(hinge)["x"]
    np.testing.assert_allclose(loss_curves(hinge, loss_domain(hinge))["y = 0"][0], np.maximum(0, 1 + s))


def test_unknown_component_gets_did_you_mean(registry):
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'relu'"):
        plots.activation_gallery(["rleu"], registry)


class Recorder:
    """Records the per-step table and histograms exactly as the tracker does."""

    @nnexp.hookimpl
    def on_run_start(self, run):
        self.stats = StepStats(run.network, run.optimizer, skip_layers=[len(run.network.layers) - 1])
        self.hist = GradHistograms(run.network, bins=8)

    @nnexp.hookimpl
    def on_step_end(self, run, loss):
        self.stats.record(run.step, run.epoch, loss)
        if run.step % 10 == 1:
            self.hist.record(run.step, run.epoch)


@pytest.fixture(scope="module")
def moons_run(registry, tmp_path_factory):
    ds = registry.create("dataset", {"type": "moons", "n": 200})
    net = nnexp.Network.mlp(2, [8, 8], 2, activation="tanh", output_activation="softmax",
                            registry=registry)
    rec = Recorder()
    history = nnexp.fit(net, ds.X_train, ds.y_train, loss="cross_entropy",
                        optimizer={"type": "adam", "lr": 0.01}, epochs=5,
                        validation_data=(ds.X_val, ds.y_val), callbacks=[rec])
    out = tmp_path_factory.mktemp("run")
    rec.stats.write_csv(out / "steps.csv")
    rec.hist.save(out / "grad_hist.npz")
    return history, net, ds, out


def test_plot_run_writes_every_picture(moons_run):
    history, net, ds, out = moons_run
    paths = plots.plot_run(history, out / "steps.csv", out / "plots", network=net, dataset=ds,
                           grad_hist=out / "grad_hist.npz")
    assert [p.name for p in paths] == ["curves.png", "decision_boundary.png", "grad_norms.png",
                                       "grad_hist.png"]
    for p in paths:
        assert_png(p)


def test_plot_run_skips_the_boundary_for_regression(registry, tmp_path):
    ds = registry.create("dataset", {"type": "sine", "n": 100})
    net = nnexp.Network.mlp(1, [8], 1, activation="tanh", registry=registry)
    history = nnexp.fit(net, ds.X_train, ds.y_train, epochs=2, validation_data=(ds.X_val, ds.y_val))
    paths = plots.plot_run(history, None, tmp_path, network=net, dataset=ds)
    assert [p.name for p in paths] == ["curves.png"]


def test_curves_show_train_and_validation_loss_and_accuracy(moons_run):
    fig = plots.curves_figure(moons_run[0])
    axes = visible(fig)
    assert [ax.get_title() for ax in axes] == ["Loss per epoch", "Accuracy per epoch"]
    for ax in axes:
        assert ax.get_xlabel() == "epoch" and legend_texts(ax) == ["train", "validation"]


def test_decision_boundary_reports_test_accuracy_and_classes(moons_run):
    _, net, ds, _ = moons_run
    ax = visible(plots.decision_boundary_figure(net, ds))[0]
    truth = ds.y_test.argmax(axis=1)
    acc = np.mean(net.predict(ds.X_test).argmax(axis=1) == truth)
    assert f"test accuracy {acc:.1%}" in ax.get_title()
    assert legend_texts(ax) == ["class upper", "class lower"]
    ax.figure.draw_without_rendering()
    assert outside(ax.get_legend(), ax)  # never over the points (XOR's (1, 1))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")


def test_gradient_heat_map_has_one_row_per_layer(moons_run):
    out = moons_run[3]
    steps = pd.read_csv(out / "steps.csv").set_index("step")
    norms = plots.layer_grad_norms(steps)
    assert list(norms.columns) == ["dense_0", "dense_1", "dense_2"]
    expected = np.sqrt(steps["grad_norm/dense_1.W"] ** 2 + steps["grad_norm/dense_1.b"] ** 2)
    np.testing.assert_allclose(norms["dense_1"], expected)
    ax = visible(plots.grad_heatmap_figure(steps))[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dense_0", "dense_1", "dense_2"]
    assert ax.get_xlabel() == "step" and ax.get_title()


def test_gradient_histograms_have_one_panel_per_parameter(moons_run):
    fig = plots.grad_hist_figure(moons_run[3] / "grad_hist.npz")
    axes = visible(fig)
    assert [ax.get_title() for ax in axes] == [f"dense_{i}.{k}" for i in range(3) for k in "Wb"]
    assert all(ax.get_ylabel() == "step" and ax.get_xlabel() == "|∂L/∂p| (log scale)"
               and ax.get_xscale() == "log" for ax in axes)
    fig.draw_without_rendering()
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    ticks = [t.get_text() for t in bar.get_yticklabels()]
    assert ticks and all(t.replace(",", "").isdigit() for t in ticks)  # 1, 10, 100: no 3×10⁰
    assert ticks[0] == "1"


def test_gradient_histogram_folds_signed_bins_onto_magnitudes():
    from nnexp.plots.run import fold

    counts, edges = fold(np.array([1, 2, 3, 4]), np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    assert list(counts) == [5, 5] and list(edges) == [0.0, 1.0, 2.0]
    counts, edges = fold(np.array([1, 7, 2]), np.array([-3.0, -1.0, 1.0, 3.0]))
    assert list(counts) == [7, 3] and list(edges) == [0.0, 1.0, 3.0]


def test_sweep_metrics_sorted_with_mean_and_std(tmp_path):
    df = pd.DataFrame({"act": ["relu"] * 3 + ["tanh"] * 3,
                       "val_accuracy": [0.9, 0.92, 0.94, 0.95, 0.97, 0.96]})
    fig = plots.plot_sweep_metrics(df, "val_accuracy", "act")
    ax = visible(fig)[0]
    # bars run bottom to top: the best configuration is the top bar
    assert [t.get_text() for t in ax.get_yticklabels()] == ["relu", "tanh"]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [0.92, 0.96])
    assert ax.get_xlabel() == "final val_accuracy" and "mean ± std" in ax.get_title()
    assert_png(plots.plot_sweep_metrics(df, "val_accuracy", "act", out=tmp_path / "m.png"))


def test_sweep_curves_overlay_one_line_per_configuration(moons_run, tmp_path):
    history = moons_run[0]
    fig = plots.plot_sweep_curves({"a": [history, history], "b": history}, metric="val_loss")
    ax = visible(fig)[0]
    assert legend_texts(ax) == ["a (n=2)", "b"]
    assert "band: mean ± 1 std" in ax.get_legend().get_title().get_text()  # says what is shaded
    assert ax.get_ylabel() == "val_loss" and ax.get_xlabel() == "epoch"
    long = pd.DataFrame({"cfg": ["x"] * 3 + ["y"] * 3, "epoch": [1, 2, 3] * 2,
                         "loss": [3.0, 2.0, 1.0, 3.0, 2.5, 2.0]})
    assert_png(plots.plot_sweep_curves(long, "loss", by="cfg", out=tmp_path / "c.png"))
    title = "Training loss — sweep sweep-spirals-20261125-144840-and-a-long-suffix (63991ced)"
    fig = plots.sweep_curves_figure({"model.hidden=[64,64], model.activation=relu": history},
                                    title=title)
    fig.draw_without_rendering()
    ax = visible(fig)[0]
    assert ax.get_title().replace("\n", " ") == title
    assert within_figure(ax.title, fig)  # wrapped, never cut off at the figure's edge
    assert ax.get_legend().get_title().get_text() == ""  # one run each: no band to explain


def test_sweep_curves_average_runs_of_different_lengths():
    # seeds of one configuration that stopped early: every run counts, each epoch averages the
    # runs that reached it (the line used to show the first run alone, with no band)
    long = pd.DataFrame({"cfg": ["x"] * 5, "run_id": ["r1"] * 3 + ["r2"] * 2,
                         "epoch": [1, 2, 3, 1, 2], "loss": [4.0, 2.0, 1.0, 2.0, 1.0]})
    ax = visible(plots.sweep_curves_figure(long, "loss", by="cfg"))[0]
    assert legend_texts(ax) == ["x (n=2)"]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(line.get_ydata(), [3.0, 1.5, 1.0])
    assert len(ax.collections) == 1  # the ± std band


def test_layer_gradient_chart_has_one_line_per_configuration():
    df = pd.DataFrame({"config": ["sigmoid"] * 3 + ["relu"] * 3, "layer": ["d0", "d1", "d2"] * 2,
                       "grad_norm": [1e-6, 1e-4, 1e-2, 0.1, 0.1, 0.1]})
    ax = visible(plots.layer_gradients_figure(df))[0]
    assert legend_texts(ax) == ["sigmoid", "relu"]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d0", "d1", "d2"]


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, nnexp.plots, nnexp.cli; print('matplotlib' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_cli_plot_activations_and_losses(tmp_path):
    for subject in ("activations", "losses"):
        out = tmp_path / f"{subject}.png"
        proc = subprocess.run([NNEXP, "plot", subject, "--out", str(out)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert_png(out)


def test_cli_unknown_name_suggests_and_exits_2(tmp_path):
    proc = subprocess.run([NNEXP, "plot", "activations", "rleu"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Did you mean 'relu'?" in proc.stderr
    proc = subprocess.run([NNEXP, "plot", "activaions"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Did you mean 'activations'?" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_cli_plot_gradients_of_a_tracked_sweep(tmp_path):
    sweep = [NNEXP, "-m", "+experiment=vanishing", "model.activation=sigmoid,relu",
             "model.hidden=[8,8,8]", "trainer.epochs=1", "dataset.n=100", "tracking.plot=false"]
    proc = subprocess.run(sweep, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([NNEXP, "plot", "gradients", "--sweep", "--out", "g.png"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_png(tmp_path / "g.png")

    from nnexp.commands import compare
    from nnexp.commands.plot import sweep_layer_gradients
    from nnexp.tracking.summary import runs_frame

    _, mc = compare.open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs, _ = compare.load_runs(mc, None, "latest")
    frame, config, _, _ = runs_frame([compare.record(r) for r in runs])
    table = sweep_layer_gradients(mc, frame, config, epoch=1)
    assert sorted(set(table["config"].str.split("  ").str[0])) == ["activation=relu",
                                                                   "activation=sigmoid"]
    assert list(table["layer"][:4]) == ["dense_0", "dense_1", "dense_2", "dense_3"]
    assert (table["grad_norm"] > 0).all()


def test_cli_plot_gradients_without_a_store_says_how_to_make_one(tmp_path):
    proc = subprocess.run([NNEXP, "plot", "gradients", "--sweep"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "No MLflow store" in proc.stderr and "Traceback" not in proc.stderr
