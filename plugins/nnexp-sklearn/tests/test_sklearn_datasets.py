"""nnexp-sklearn's datasets, found through its installed entry point, against scikit-learn's own
loaders and the Dataset contract (``register_datasets``); a network on real data passes the
conformance kit's gradient check."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn import datasets as skd

import nnexp
from nnexp.testing import check_gradients, parametrize_with_checks

REG = nnexp.load_registry()
NAMES = ["digits", "iris", "wine", "breast_cancer", "sk_moons", "sk_circles"]
#: name -> (scikit-learn loader, samples, features, classes)
BUNDLED = {"digits": (skd.load_digits, 1797, 64, 10), "iris": (skd.load_iris, 150, 4, 3),
           "wine": (skd.load_wine, 178, 13, 3), "breast_cancer": (skd.load_breast_cancer, 569, 30, 2)}


def load(name, **options):
    return REG.create("dataset", name, **options)


def splits(data):
    return [(data.X_train, data.y_train), (data.X_val, data.y_val), (data.X_test, data.y_test)]


@pytest.mark.parametrize("name", NAMES)
def test_dataset_comes_from_the_nnexp_sklearn_distribution(name):
    prov = REG.get("dataset", name).provenance
    assert (prov.distribution, prov.plugin) == ("nnexp-sklearn", "sklearn")


def test_generator_names_do_not_clash_with_nnexp_builtins():
    for mine, builtin in (("sk_moons", "moons"), ("sk_circles", "circles")):
        assert REG.get("dataset", mine).provenance.distribution == "nnexp-sklearn"
        if ("dataset", builtin) in REG:
            assert REG.get("dataset", builtin).provenance.distribution == "nnexp"


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_dataset_holds_exactly_scikit_learns_rows(name):
    loader, n, features, classes = BUNDLED[name]
    data = load(name, standardize=False, one_hot=False)
    bunch = loader()
    X = np.concatenate([x for x, _ in splits(data)])
    y = np.concatenate([t for _, t in splits(data)]).ravel()
    assert X.shape == (n, features) and data.n_features == features
    # Same multiset of (features, label) rows as scikit-learn's loader: sort both.
    ours = np.column_stack([X, y])
    theirs = np.column_stack([bunch.data, bunch.target])
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])
    assert len(data.classes) == classes


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_disjoint_seeded_and_one_hot(name):
    data = load(name, seed=3)
    again, other = load(name, seed=3), load(name, seed=4)
    np.testing.assert_array_equal(data.X_train, again.X_train)
    assert not np.array_equal(data.X_train, other.X_train)
    sizes = [len(x) for x, _ in splits(data)]
    assert sizes[1] == pytest.approx(0.2 * sum(sizes), abs=1) and sizes[2] == sizes[1]
    if name not in BUNDLED:  # iris and digits hold duplicate rows; the row-multiset test covers them
        assert len({r.tobytes() for x, _ in splits(data) for r in x}) == sum(sizes)
    for _, y in splits(data):
        assert y.shape[1] == len(data.classes) and np.all(y.sum(axis=1) == 1)


@pytest.mark.parametrize("name", NAMES)
def test_features_are_standardized_with_training_statistics(name):
    data = load(name)
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-9)
    std = data.X_train.std(axis=0)
    assert np.all((np.abs(std - 1) < 1e-9) | (std == 0))  # constant pixels stay 0


def test_binary_dataset_gives_one_column_without_one_hot():
    data = load("breast_cancer", one_hot=False)
    assert data.y_train.shape[1] == 1 and set(np.unique(data.y_train)) == {0.0, 1.0}
    assert data.classes == ["malignant", "benign"]


def test_generators_pass_their_options_to_scikit_learn():
    data = load("sk_circles", n_samples=200, noise=0.0, factor=0.3, standardize=False)
    X = np.concatenate([x for x, _ in splits(data)])
    y = np.concatenate([t for _, t in splits(data)]).argmax(axis=1)
    radii = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radii[y == 1], 0.3)
    np.testing.assert_allclose(radii[y == 0], 1.0)
    moons = load("sk_moons", n_samples=300, noise=0.0, seed=7, standardize=False)
    X, _ = skd.make_moons(300, noise=0.0, random_state=7)
    got = np.concatenate([x for x, _ in splits(moons)])
    np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(X, axis=0))


@pytest.mark.parametrize("options, message", [
    ({"n_samples": 5}, "sk_moons n_samples: got 5; expected an integer >= 10"),
    ({"noise": -0.1}, "sk_moons noise: got -0.1"),
    ({"test_fraction": 1.5}, "test_fraction: got 1.5"),
])
def test_bad_options_raise_a_config_error_saying_what_is_valid(options, message):
    with pytest.raises(nnexp.ConfigError, match=message):
        load("sk_moons", **options)


def test_unknown_option_lists_the_factorys_signature():
    with pytest.raises(nnexp.ConfigError, match="val_fraction"):
        load("iris", n_samples=10)


def test_loading_the_registry_does_not_import_scikit_learn():
    code = "import sys, nnexp; nnexp.get_registry(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_network_on_digits_passes_the_kits_gradient_check_and_learns():
    data = load("digits")
    net = nnexp.Network.mlp(64, [16], 10, activation="tanh", output_activation="softmax",
                            dtype="float64", seed=0, registry=REG)
    report = check_gradients(net, data.X_train[:8], data.y_train[:8], loss="cross_entropy",
                             wrt="params")
    assert report.ok, str(report)
    history = nnexp.fit(net, data.X_train, data.y_train, loss="cross_entropy",
                        optimizer={"type": "adam", "lr": 0.01}, epochs=10, batch_size=64,
                        validation_data=(data.X_val, data.y_val))
    assert history["val_accuracy"][-1] > 0.9


@parametrize_with_checks(REG, distribution="nnexp-sklearn")
def test_dataset_conforms(component, check):
    check(component)
