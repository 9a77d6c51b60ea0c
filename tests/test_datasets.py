"""Built-in datasets: shapes, seeded determinism, disjoint splits, train-only standardisation,
one-hot targets, and the CSV loader's happy path and bad-input messages."""

import numpy as np
import pytest

import nnexp
from nnexp.builtins import datasets as builtin
from nnexp.datasets_csv import load_csv

SYNTHETIC = ["xor", "spirals", "circles", "moons", "sine", "tutorial"]


@pytest.fixture(scope="module")
def registry():
    return nnexp.load_registry(entry_points=False)


def splits(ds):
    return [(ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_dataset_has_three_finite_splits_of_matching_shapes(registry, name):
    ds = registry.create("dataset", name)
    assert isinstance(ds, nnexp.Dataset)
    for X, y in splits(ds):
        assert X.ndim == 2 and y.ndim == 2 and len(X) == len(y) > 0
        assert X.shape[1] == ds.n_features and y.shape[1] == ds.n_outputs
        assert np.isfinite(X).all() and np.isfinite(y).all()


@pytest.mark.parametrize("name", ["spirals", "circles", "moons"])
def test_classification_targets_are_one_hot_and_both_classes_appear(registry, name):
    ds = registry.create("dataset", name)
    assert ds.task == "classification" and ds.n_outputs == 2 and len(ds.classes) == 2
    for _, y in splits(ds):
        assert set(np.unique(y)) == {0.0, 1.0}
        np.testing.assert_array_equal(y.sum(axis=1), 1.0)
        assert y.sum(axis=0).min() > 0


@pytest.mark.parametrize("name", ["spirals", "circles", "moons"])
def test_one_hot_false_gives_one_label_column(registry, name):
    ds = registry.create("dataset", {"type": name, "one_hot": False})
    assert ds.y_train.shape[1] == 1 and set(np.unique(ds.y_train)) == {0.0, 1.0}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_same_seed_same_data_other_seed_other_data(registry, name):
    a, b = registry.create("dataset", name, seed=3), registry.create("dataset", name, seed=3)
    c = registry.create("dataset", name, seed=4)
    for (xa, ya), (xb, yb) in zip(splits(a), splits(b)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    if name != "xor":  # the truth table is the same four points for every seed
        assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize("name", ["spirals", "circles", "moons", "sine", "tutorial"])
def test_splits_are_disjoint_and_cover_every_sample(registry, name):
    ds = registry.create("dataset", {"type": name, "n": 300, "standardize": False})
    rows = [tuple(r) for X, _ in splits(ds) for r in X]
    assert len(rows) == 300 and len(set(rows)) == 300
    assert (len(ds.X_train), len(ds.X_val), len(ds.X_test)) == (180, 60, 60)


def test_standardisation_uses_training_statistics_only(registry):
    raw = registry.create("dataset", {"type": "moons", "standardize": False}, seed=1)
    std = registry.create("dataset", {"type": "moons", "standardize": True}, seed=1)
    mean, sd = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    np.testing.assert_allclose(std.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(std.X_train.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(std.X_test, (raw.X_test - mean) / sd, atol=1e-12)
    np.testing.assert_allclose(std.X_val, (raw.X_val - mean) / sd, atol=1e-12)
    assert abs(std.X_test.mean()) > 1e-6  # the test split was not standardised by itself


def test_xor_is_the_truth_table_in_every_split(registry):
    ds = registry.create("dataset", "xor")
    for X, y in splits(ds):
        labels = y.argmax(axis=1)
        np.testing.assert_array_equal(labels, np.logical_xor(X[:, 0] > 0.5, X[:, 1] > 0.5))
        assert sorted(map(tuple, X)) == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("option", ["noise", "val_fraction", "test_fraction"])
def test_the_truth_table_refuses_options_that_would_have_no_effect(registry, option):
    """Issue 12: `--cfg job` showed noise and fractions that did nothing for the 4 points."""
    with pytest.raises(nnexp.ConfigError, match=f"{option}.*has no noise and no held-out data"):
        registry.create("dataset", {"type": "xor", option: 0.3})
    noisy = registry.create("dataset", {"type": "xor", "n": 100, option: 0.3})
    assert noisy.X_test is not noisy.X_train and len(noisy.X_test)


def test_noisy_xor_labels_points_by_their_nearest_corner(registry):
    ds = registry.create("dataset", {"type": "xor", "n": 400, "noise": 0.1})
    X, y = ds.X_train, ds.y_train.argmax(axis=1)
    corner = X > 0.5
    assert len(X) == 240
    assert np.mean(np.logical_xor(corner[:, 0], corner[:, 1]) == y) > 0.99


def test_sine_without_noise_is_the_sine_curve(registry):
    ds = registry.create("dataset", {"type": "sine", "noise": 0.0, "standardize": False})
    assert ds.task == "regression"
    for X, y in splits(ds):
        np.testing.assert_allclose(y[:, 0], np.sin(X[:, 0]), atol=1e-12)


def test_tutorial_targets_are_the_spec_network_outputs(registry):
    ds = registry.create("dataset", "tutorial")
    net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid",
                            dtype="float64", registry=registry)
    net.set_params({"dense_0.W": [[0.1, -0.2, 0.3, 0.4], [-0.5, 0.6, -0.1, 0.2]],
                    "dense_0.b": [0.05, -0.05], "dense_1.W": [[0.3, -0.6], [0.8, 0.1], [-0.4, 0.5]],
                    "dense_1.b": [0.1, -0.2, 0.0]})
    assert (ds.n_features, ds.n_outputs, ds.task) == (4, 3, "regression")
    for X, y in splits(ds):
        np.testing.assert_allclose(net.predict(X), y, atol=1e-12)
        assert ((y >= 0) & (y <= 1)).all()


def test_bad_dataset_option_is_a_config_error(registry):
    with pytest.raises(nnexp.ConfigError, match="noise"):
        registry.create("dataset", {"type": "spirals", "noise": -1})
    with pytest.raises(nnexp.ConfigError, match="val_fraction"):
        builtin.moons(val_fraction=0.6, test_fraction=0.5)


# -- CSV -------------------------------------------------------------------------------------
@pytest.fixture
def iris_like(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "flowers.csv"
    lines = ["length,width,height,species"]
    for i in range(60):
        species = ["setosa", "versicolor", "virginica"][i % 3]
        values = rng.normal(size=3) + 3 * (i % 3)
        lines.append(",".join(f"{v:.4f}" for v in values) + f",{species}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_classification_with_text_labels(registry, iris_like):
    ds = registry.create("dataset", {"type": "csv", "path": str(iris_like), "target": "species"})
    assert ds.classes == ["setosa", "versicolor", "virginica"]
    assert ds.feature_names == ["length", "width", "height"]
    assert ds.n_features == 3 and ds.n_outputs == 3
    assert sum(len(X) for X, _ in splits(ds)) == 60
    np.testing.assert_array_equal(ds.y_train.sum(axis=1), 1.0)


def test_csv_regression_with_two_targets_and_chosen_features(iris_like):
    ds = load_csv(path=iris_like, target=["width", "height"], task="regression",
                  features=["length"], standardize=False)
    raw = np.loadtxt(iris_like, delimiter=",", skiprows=1, usecols=(0, 1, 2))
    assert ds.n_features == 1 and ds.n_outputs == 2 and ds.task == "regression"
    rows = {tuple(r) for r in raw}
    X, y = ds.X_train, ds.y_train
    assert all((x[0], *t) in rows for x, t in zip(X, y))


def test_missing_csv_file_names_the_file(tmp_path):
    with pytest.raises(nnexp.DataError, match=r"nope\.csv.*does not exist"):
        load_csv(path=tmp_path / "nope.csv", target="y")


def test_missing_target_column_lists_columns_and_suggests(iris_like):
    with pytest.raises(nnexp.DataError) as err:
        load_csv(path=iris_like, target="specis")
    msg = str(err.value)
    assert "flowers.csv" in msg and "'specis'" in msg and "'length'" in msg
    assert "Did you mean 'species'?" in msg


def csv_error(tmp_path, name: str, text: str) -> str:
    """The DataError message for a CSV file ``name`` holding ``text`` (target ``label``)."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(nnexp.DataError) as err:
        load_csv(path=path, target="label")
    return str(err.value)


def test_non_numeric_feature_names_column_line_and_value(tmp_path):
    msg = csv_error(tmp_path, "mixed.csv", "a,colour,label\n1,2,0\n3,red,1\n5,6,0\n7,8,1\n")
    assert "mixed.csv" in msg and "'colour'" in msg and "not numeric" in msg
    assert "line 3" in msg and "'red'" in msg


def test_missing_values_name_column_count_and_first_line(tmp_path):
    msg = csv_error(tmp_path, "holes.csv", "a,b,label\n1,2,0\n3,,1\n5,6,0\n7,,1\n")
    assert "holes.csv" in msg and "'b'" in msg and "2 missing" in msg and "line 3" in msg


def test_infinite_feature_and_missing_label_are_named(tmp_path):
    msg = csv_error(tmp_path, "inf.csv", "a,b,label\n1,2,0\n3,inf,1\n5,6,0\n")
    assert "inf.csv" in msg and "'b'" in msg and "infinite" in msg and "line 3" in msg
    msg = csv_error(tmp_path, "nolabel.csv", "a,b,label\n1,2,0\n3,4,\n5,6,1\n")
    assert "target column 'label'" in msg and "1 missing" in msg and "line 3" in msg


def test_csv_target_listed_among_features_is_refused(iris_like):
    # the target as a feature would leak the answer into X: a perfect, meaningless score
    with pytest.raises(nnexp.ConfigError, match=r"features.*'width'"):
        load_csv(path=iris_like, target="width", task="regression", features=["length", "width"])


def test_csv_options_are_checked(iris_like):
    with pytest.raises(nnexp.ConfigError, match="classification"):
        load_csv(path=iris_like, target="species", task="clustering")
    with pytest.raises(nnexp.ConfigError, match="path"):
        load_csv(target="species")
    with pytest.raises(nnexp.DataError, match="not numeric"):
        load_csv(path=iris_like, target="species", task="regression")


def test_bad_csv_stops_the_cli_before_any_run_is_recorded(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    nnexp_cli = str(Path(sys.executable).with_name("nnexp"))
    proc = subprocess.run([nnexp_cli, "dataset=csv", "dataset.path=bad.csv", "dataset.target=lable"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "has no target column 'lable'" in proc.stderr and "Did you mean 'label'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_csv_without_target_lists_the_files_columns(tmp_path):
    import nnexp

    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(nnexp.ConfigError, match="one of: a, b, label"):
        nnexp.get_registry().create("dataset", {"type": "csv", "path": str(path)})


def test_csv_missing_file_is_reported_before_a_missing_target(tmp_path):
    import nnexp

    with pytest.raises(nnexp.DataError, match="does not exist"):
        nnexp.get_registry().create("dataset", {"type": "csv", "path": str(tmp_path / "nope.csv")})
