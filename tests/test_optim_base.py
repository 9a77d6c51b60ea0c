"""The Optimizer base class as a plugin author uses it (docs/plugin-guide.md)."""

import numpy as np

import nnexp


class SignSGD(nnexp.Optimizer):
    """θ ← θ - lr · sign(g + λθ): a third-party-style optimizer on the base class."""

    def update(self, param, grad, state):
        param -= self.lr * np.sign(self.decayed(param, grad))


def test_decayed_adds_the_l2_term_only_when_weight_decay_is_set():
    p, g = np.array([2.0, -4.0]), np.array([0.5, 0.5])
    assert SignSGD(lr=0.1).decayed(p, g) is g
    np.testing.assert_allclose(SignSGD(lr=0.1, weight_decay=0.5).decayed(p, g), [1.5, -1.5])


def test_a_subclass_updates_every_bound_parameter_from_its_gradient():
    net = nnexp.Network.mlp(3, [2], 1, dtype="float64")
    before = {k: v.copy() for k, v in net.params.items()}
    net.forward(np.ones((1, 3)))
    net.backward(np.ones((1, 1)))
    opt = SignSGD(lr=0.1, weight_decay=0.0).bind(net)
    opt.step()
    for name, g in net.grads.items():
        np.testing.assert_allclose(net.params[name], before[name] - 0.1 * np.sign(g))
    assert opt.t == 1
