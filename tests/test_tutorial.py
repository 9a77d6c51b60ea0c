"""The worked example of SPEC.md, reproduced through the public API to 1e-9."""

import numpy as np
import pytest

import nnexp

SPEC_PARAMS = {
    "dense_0.W": [[0.1, -0.2, 0.3, 0.4], [-0.5, 0.6, -0.1, 0.2]],
    "dense_0.b": [0.05, -0.05],
    "dense_1.W": [[0.3, -0.6], [0.8, 0.1], [-0.4, 0.5]],
    "dense_1.b": [0.1, -0.2, 0.0],
}
X = np.array([[0.5, -1.0, 2.0, 0.25]])
Y = np.array([[1.0, 0.0, 0.5]])


@pytest.fixture
def tutorial_net():
    net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid", dtype="float64")
    net.set_params(SPEC_PARAMS)
    return net


def test_tutorial_forward_matches_spec(tutorial_net):
    out = tutorial_net.forward(X)
    z1, a1, z2, a2 = tutorial_net.outputs
    np.testing.assert_allclose(z1, [[1.0, -1.05]], atol=1e-9)
    np.testing.assert_allclose(a1, [[1.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(z2, [[0.4, 0.6, -0.4]], atol=1e-9)
    np.testing.assert_allclose(a2, [[0.5986876601, 0.6456563062, 0.4013123399]], atol=1e-9)
    assert out is a2


def test_tutorial_loss_and_gradients_match_spec(tutorial_net):
    trainer = nnexp.Trainer(tutorial_net, loss="half_squared_error", optimizer="sgd")
    loss, _ = trainer.loss_and_output(X, Y)
    tutorial_net.backward(trainer.loss.backward())
    g = tutorial_net.grads
    assert loss == pytest.approx(0.2938314571, abs=1e-9)
    np.testing.assert_allclose(g["dense_1.W"], [[-0.0964196021, 0.0], [0.1477159876, 0.0],
                                                [-0.0237107708, 0.0]], atol=1e-9)
    np.testing.assert_allclose(g["dense_1.b"], [-0.0964196021, 0.1477159876, -0.0237107708], atol=1e-9)
    np.testing.assert_allclose(g["dense_0.W"], [[0.0493656089, -0.0987312178, 0.1974624356, 0.0246828045],
                                                [0.0, 0.0, 0.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(g["dense_0.b"], [0.0987312178, 0.0], atol=1e-9)


def test_tutorial_weights_keep_the_tutorial_orientation(tutorial_net):
    assert tutorial_net.params["dense_0.W"].shape == (2, 4)  # (n_out, n_in), as W1
    assert tutorial_net.params["dense_1.W"].shape == (3, 2)  # as W2


def test_one_gradient_descent_step_follows_the_update_rule(tutorial_net):
    before = {k: v.copy() for k, v in tutorial_net.params.items()}
    trainer = nnexp.Trainer(tutorial_net, "half_squared_error", {"type": "sgd", "lr": 0.5})
    trainer.train_step(X, Y)
    after = tutorial_net.params
    np.testing.assert_allclose(after["dense_1.b"], before["dense_1.b"]
                               - 0.5 * np.array([-0.0964196021, 0.1477159876, -0.0237107708]), atol=1e-9)
    np.testing.assert_allclose(after["dense_0.b"], before["dense_0.b"] - 0.5 * np.array([0.0987312178, 0.0]),
                               atol=1e-9)
