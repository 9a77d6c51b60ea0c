"""One seed fixes a whole run; the init, shuffle and dropout streams are independent."""

import numpy as np
import pytest

import nnexp


def data(seed=0, n=96):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, :1] * X[:, 1:2] > 0).astype(float)


def train(seed, dropout=0.0, dtype="float32", epochs=3):
    net = nnexp.Network.mlp(5, [16, 8], 1, activation="relu", output_activation="sigmoid",
                            dropout=dropout, seed=seed, dtype=dtype)
    history = nnexp.fit(net, *data(), optimizer={"type": "adam", "lr": 0.01}, epochs=epochs,
                        batch_size=16, shuffle=True)
    return net, history


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_same_seed_gives_bit_identical_weights_and_history(dropout):
    (a, ha), (b, hb) = train(7, dropout), train(7, dropout)
    assert a.params.keys() == b.params.keys()
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    assert ha.epochs == hb.epochs


def test_different_seeds_give_different_weights():
    a, _ = train(1)
    b, _ = train(2)
    assert not np.array_equal(a.params["dense_0.W"], b.params["dense_0.W"])


def test_global_numpy_random_state_has_no_effect():
    np.random.seed(1)
    a, _ = train(5)
    np.random.seed(2)
    b, _ = train(5)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_does_not_change_initial_weights(rate):
    plain = nnexp.Network.mlp(5, [16, 8], 1, seed=11)
    dropped = nnexp.Network.mlp(5, [16, 8], 1, seed=11, dropout=rate)
    assert "dropout" in dropped.types
    assert plain.params.keys() == dropped.params.keys()
    for k in plain.params:
        assert np.array_equal(plain.params[k], dropped.params[k]), k


@pytest.mark.parametrize("rate", [0.5])
def test_dropout_draws_only_from_its_own_stream(rate):
    """After the same training, the shuffle and init streams are where they would be without
    dropout; only the dropout stream has moved."""
    X, y = data()
    states = []
    for dropout in (0.0, rate):
        net = nnexp.Network.mlp(5, [8], 1, seed=3, dropout=dropout)
        fresh = nnexp.network.make_rngs(3)["dropout"].bit_generator.state
        nnexp.fit(net, X, y, epochs=2, batch_size=32)
        states.append({k: r.bit_generator.state for k, r in net.rngs.items()})
        assert (net.rngs["dropout"].bit_generator.state != fresh) == bool(dropout)
    for stream in ("init", "shuffle"):
        assert states[0][stream] == states[1][stream], stream


def test_float64_network_starts_from_the_float32_weights_rounded():
    lo = nnexp.Network.mlp(5, [16], 2, seed=4)
    hi = nnexp.Network.mlp(5, [16], 2, seed=4, dtype="float64")
    for k in lo.params:
        assert hi.params[k].dtype == np.float64
        np.testing.assert_array_equal(hi.params[k].astype(np.float32), lo.params[k])
