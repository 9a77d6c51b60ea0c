"""Pictures: each writes a PNG and its Figure carries the titles, labels and legends it should."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nnexp
from nnexp import plots
from nnexp.plots.components import TARGET_COLORS, activation_curve, loss_curves, loss_domain
from plot_helpers import assert_png, legend_texts, train_moons, visible

NNEXP = str(Path(sys.executable).with_name("nnexp"))


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


def outside(artist, ax) -> bool:
    """Whether a drawn ``artist`` (a legend) lies entirely outside ``ax``'s plotting area."""
    box, area = artist.get_window_extent(), ax.get_window_extent()
    return (box.x0 >= area.x1 or box.x1 <= area.x0 or box.y0 >= area.y1 or box.y1 <= area.y0)


def within_figure(text, fig) -> bool:
    box, page = text.get_window_extent(), fig.bbox
    return box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0 and box.y1 <= page.y1


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
    # softmax losses: x is the probability of class 1, the gradient its class-1 component
    ce = registry.create("loss", "cross_entropy")
    L, dL = loss_curves(ce, loss_domain(ce))["y = [0, 1]"]
    np.testing.assert_allclose(L, -np.log(p), rtol=1e-9)
    np.testing.assert_allclose(dL, -1 / p, rtol=1e-9)  # ∂(−log ŷ₁)/∂ŷ₁


def test_loss_gallery_colours_mean_one_target_in_every_panel(registry):
    # blue was y = 1 for BCE/hinge but y = 0 for mse/huber: now blue is target 1 throughout
    fig = plots.loss_gallery(registry=registry)
    target = {"tab:blue": ("y = 1", "y = [0, 1]"), "tab:red": ("y = 0", "y = [1, 0]")}
    for ax in visible(fig):
        lines = ax.get_lines()[:4]  # L and dL/dŷ for each target (then the zero line)
        assert len(lines) == 4, ax.get_title()
        for line in lines:
            color = line.get_color()
            assert color in target, (ax.get_title(), color)
            assert line.get_label().endswith(target[color]), (ax.get_title(), line.get_label())
        assert "blue" in ax.figure.get_supxlabel() and "target 1" in ax.figure.get_supxlabel()
    assert set(TARGET_COLORS.values()) == set(target)


def test_unknown_component_gets_did_you_mean(registry):
    with pytest.raises(nnexp.UnknownComponentError, match="Did you mean 'relu'"):
        plots.activation_gallery(["rleu"], registry)


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
    dots = ax.collections[-1].get_offsets()  # one per run, on its configuration's bar
    assert sorted(map(tuple, np.asarray(dots))) == sorted(
        zip(df["val_accuracy"], [0] * 3 + [1] * 3))
    assert_png(plots.plot_sweep_metrics(df, "val_accuracy", "act", out=tmp_path / "m.png"))


def test_a_seeds_only_sweep_shows_each_seed_with_mean_and_std():
    # one configuration used to be drawn as one bar: now a dot per seed, the mean and ± std
    df = pd.DataFrame({"configuration": ["all runs"] * 4, "seed": [2, 0, 3, 1],
                       "dataset.seed": [2, 0, 3, 1], "test_accuracy": [0.97, 1.0, 0.99, 0.98]})
    ax = visible(plots.sweep_metrics_figure(df, "test_accuracy", "configuration"))[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["seed=0", "seed=1", "seed=2", "seed=3"]
    dots = np.asarray(ax.collections[-1].get_offsets())
    np.testing.assert_allclose(dots[:, 0], [1.0, 0.98, 0.97, 0.99])  # in seed order
    mean, std = df["test_accuracy"].mean(), df["test_accuracy"].std()
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("mean"))
    np.testing.assert_allclose(line.get_xdata(), [mean, mean])
    band = ax.patches[0].get_extents().transformed(ax.transData.inverted())
    np.testing.assert_allclose([band.x0, band.x1], [mean - std, mean + std], rtol=1e-9)
    assert f"mean {mean:.4g} ± {std:.2g}" in legend_texts(ax)
    assert ax.get_xlabel() == "final test_accuracy"
    low, high = ax.get_xlim()
    assert low > 0.9  # fitted to the seeds' spread, not a bar from 0


@pytest.fixture(scope="module")
def moons_history(registry):
    return train_moons(registry)[0]


def test_sweep_curves_overlay_one_line_per_configuration(moons_history, tmp_path):
    history = moons_history
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
    assert "nnexp compare" not in proc.stderr  # it used to send the user to another command
