"""A run's provenance names every component it used (datasets, nested activations and
initializers included) and every plugin whose lifecycle hooks took part, with distribution and
version; through the real app, the tags land on the MLflow run."""

import types

import numpy as np
from conftest import FAST, store_runs

import nnexp
from nnexp import hookimpl
from nnexp.provenance import provenance_tags, used_components


class Seen:
    """A per-run callback that keeps the tags the run would be given at its start."""

    def __init__(self, dataset=None):
        self.dataset, self.tags = dataset, None

    @hookimpl
    def on_run_start(self, run):
        self.tags = provenance_tags(run, self.dataset)


def listener_plugin():
    ns = types.SimpleNamespace()
    ns.on_epoch_end = hookimpl(lambda run, epoch, metrics: None)
    return ns


def test_tags_name_every_component_and_each_hook_plugin_with_its_distribution():
    registry = nnexp.load_registry(entry_points=False, extra_plugins=[("listen", listener_plugin())])
    data = registry.create("dataset", {"type": "moons", "n": 60})
    net = nnexp.Network([{"type": "dense", "units": 8, "init": "he_normal"},
                         {"type": "activation", "activation": "tanh"},
                         {"type": "dense", "units": 2}, "softmax"],
                        data.n_features, registry=registry)
    seen = Seen(data)
    nnexp.fit(net, data.X_train, data.y_train, loss="cross_entropy", optimizer="adam", epochs=2,
              schedule="cosine", callbacks=[seen], registry=registry)
    version = nnexp.__version__
    want = {f"nnexp.component.{kind}.{name}": f"nnexp=={version}" for kind, name in [
        ("layer", "dense"), ("layer", "activation"), ("activation", "tanh"), ("activation", "softmax"),
        ("initializer", "he_normal"), ("initializer", "zeros"), ("initializer", "xavier_uniform"),
        ("loss", "cross_entropy"), ("optimizer", "adam"), ("schedule", "cosine"), ("dataset", "moons")]}
    want["nnexp.plugin.listen"] = "local==0"
    assert seen.tags == want


def test_a_qualified_component_is_tagged_under_its_qualified_name():
    class Cube(nnexp.Activation):
        def f(self, z):
            return z ** 3

        def df(self, z):
            return 3 * z * z

    ns = types.SimpleNamespace(register_activations=hookimpl(lambda register: register("tanh", Cube)))
    registry = nnexp.load_registry(entry_points=False, extra_plugins=[("cubes", ns)])
    net = nnexp.Network([{"type": "dense", "units": 2}, "local:tanh", "tanh"], 3, registry=registry)
    run = types.SimpleNamespace(network=net, loss=None, optimizer=None, schedule=None)
    names = {(c.kind, c.name): c.provenance.plugin for c in used_components(run)}
    assert names[("activation", "local:tanh")] == "cubes"
    assert names[("activation", "tanh")] == "nnexp.activations"


def test_app_run_tags_its_dataset_and_components(nnexp_cli, tmp_path):
    out = nnexp_cli("dataset=circles", "dataset.n=100", "trainer.epochs=1", "model.init=lecun_normal",
                    *FAST)
    assert out.returncode == 0, out.stderr
    (run,) = store_runs(tmp_path / "mlflow.db")
    tags = run.data.tags
    version = nnexp.__version__
    for kind, name in [("dataset", "circles"), ("initializer", "lecun_normal"), ("layer", "dense"),
                       ("activation", "relu"), ("loss", "cross_entropy"), ("optimizer", "adam")]:
        assert tags[f"nnexp.component.{kind}.{name}"] == f"nnexp=={version}", (kind, name, tags)
    assert "nnexp.component.initializer.xavier_uniform" not in tags  # every dense used lecun
    assert not np.isnan(float(run.data.metrics["loss"]))
