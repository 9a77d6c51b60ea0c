"""Galleries of every registered activation and loss, each with its derivative.

Components are evaluated through their own ``forward``/``backward`` (an activation as a
one-layer network, so learnable-parameter activations are built with their initial values),
so a picture shows exactly what training uses — for installed plugins' components too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnexp.plots._figure import clip_limits, figure, grid, hide_unused, save, suptitle, unavailable

Z = np.linspace(-4.0, 4.0, 401)


def registry_or_default(registry):
    """``registry``, or the process-wide one (with installed plugins) when None."""
    if registry is None:
        from nnexp.plugins import get_registry

        registry = get_registry()
    return registry


def _selected(registry, kind: str, names: Sequence[str] | None) -> list[str]:
    """Primary names to draw; an unknown name raises the registry's "did you mean" error."""
    if not names:
        return registry.names(kind)
    return [registry.get(kind, n).name for n in names]


def _title(registry, kind: str, name: str) -> str:
    dist = registry.get(kind, name).provenance.distribution
    return name if dist == "nnexp" else f"{name}  [{dist}]"


# -- activations ----------------------------------------------------------------------------
def activation_curve(name: str, registry, z: np.ndarray = Z):
    """``(a, da/dz, element_wise)`` on ``z``: the first output for inputs ``[z, 0]``.

    For an element-wise activation that is ``f(z)`` and ``f'(z)``; for one that mixes a row
    (softmax) it is ``a₀([z, 0])`` and ``∂a₀/∂z₀``, and ``element_wise`` is False."""
    from nnexp.network import Network

    net = Network([name], 2, dtype="float64", registry=registry)
    layer = net.layers[0]
    a = layer.forward(np.column_stack([z, np.ones_like(z)]), False)[:, 0].copy()
    out = layer.forward(np.column_stack([z, np.zeros_like(z)]), False)
    element_wise = out.shape[1] == 2 and np.allclose(out[:, 0], a)
    grad = np.zeros_like(out)
    grad[:, 0] = 1.0
    return out[:, 0].copy(), layer.backward(grad)[:, 0].copy(), element_wise


def _draw_activation(ax, name: str, registry) -> None:
    a, da, element_wise = activation_curve(name, registry)
    f, df = ("f(z)", "f′(z)") if element_wise else ("a₀ of [z, 0]", "∂a₀/∂z")
    ax.plot(Z, a, label=f, color="tab:blue", lw=2)
    ax.plot(Z, da, label=df, color="tab:orange", lw=1.6, ls="--")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    # z runs over [-4, 4]: ±5 shows identity-like curves whole and still tames fast growers
    clip_limits(ax, np.concatenate([a, da]), -5.0, 5.0)
    ax.set_xlabel("z")
    ax.set_ylabel("value")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)


def _gallery(kind: str, names, registry, draw, max_cols: int, panel, title: str, note: str = ""):
    """One panel per component of ``kind``; a component that fails to draw says why.
    ``note``: a line under the panels (a key that holds for every panel)."""
    registry = registry_or_default(registry)
    names = _selected(registry, kind, names)
    rows, cols = grid(len(names), max_cols)
    fig, axes = figure(rows, cols, panel=panel)
    for ax, name in zip(axes.flat, names):
        try:
            draw(ax, name, registry)
            ax.set_title(_title(registry, kind, name))
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the rest
            unavailable(ax, _title(registry, kind, name), f"could not evaluate:\n{exc}")
    hide_unused(axes, len(names))
    suptitle(fig, title)
    if note:
        fig.supxlabel(note, fontsize=10)
    return fig


def activation_gallery(names: Sequence[str] | None = None, registry=None):
    """One panel per activation: the function (solid) and its derivative (dashed)."""
    return _gallery("activation", names, registry, _draw_activation, 4, (3.6, 2.9),
                    "Activation functions and their derivatives (from forward/backward)")


def plot_activations(out="activations.png", names: Sequence[str] | None = None, registry=None):
    """Save :func:`activation_gallery` to ``out``; returns the path."""
    return save(activation_gallery(names, registry), out)


# -- losses ---------------------------------------------------------------------------------
#: Every panel: blue is target 1 (class 1), red is target 0 (class 0); L solid, dL/dŷ dashed.
TARGET_COLORS = {1: "tab:blue", 0: "tab:red"}
LOSS_KEY = ("In every panel — blue: target 1 (class 1);  red: target 0 (class 0);  "
            "solid: the loss L;  dashed: its gradient ∂L/∂ŷ")


def loss_domain(loss) -> dict:
    """Where a loss lives: x-axis label, grid, prediction builder and the two fixed targets
    (``{label: (target class 1 or 0, target array)}``, class 1 first).

    Losses that fuse with softmax see a 2-class probability vector ``ŷ = [1 − p, p]`` (x: p,
    the probability of class 1, and the gradient's class-1 component); with sigmoid a
    probability ``p``; other 0/1-target losses (hinge) a score; the rest a value. So in every
    panel x grows towards class 1, and blue (target 1) is the same target throughout."""
    probs = np.linspace(0.01, 0.99, 197)
    values = np.linspace(-3.0, 3.0, 241)
    scalar = {"y = 1": (1, [[1.0]]), "y = 0": (0, [[0.0]])}
    if loss.fuses_with == "softmax":
        return {"x": probs, "xlabel": "predicted probability p of class 1, ŷ = [1 − p, p]",
                "pred": lambda p: np.array([[1.0 - p, p]]), "dlabel": "∂L/∂ŷ₁", "component": 1,
                "targets": {"y = [0, 1]": (1, [[0.0, 1.0]]), "y = [1, 0]": (0, [[1.0, 0.0]])}}
    if loss.fuses_with == "sigmoid":
        return {"x": probs, "xlabel": "predicted probability ŷ", "pred": lambda p: np.array([[p]]),
                "dlabel": "∂L/∂ŷ", "component": 0, "targets": scalar}
    xlabel = ("prediction ŷ (a score; y = 0 means −1)" if getattr(loss, "check_targets", None) == "binary"
              else "prediction ŷ")
    return {"x": values, "xlabel": xlabel, "pred": lambda v: np.array([[v]]), "dlabel": "∂L/∂ŷ",
            "component": 0, "targets": scalar}


def loss_curves(loss, domain: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Target label -> (L, the domain's component of dL/dŷ) over ``domain["x"]``, batch of one."""
    out = {}
    for label, (_, target) in domain["targets"].items():
        y = np.array(target)
        values, grads = [], []
        for v in domain["x"]:
            values.append(loss.forward(domain["pred"](v), y))
            grads.append(float(loss.backward().ravel()[domain["component"]]))
        out[label] = (np.array(values), np.array(grads))
    return out


def _draw_loss(ax, name: str, registry) -> None:
    loss = registry.create("loss", name)
    domain = loss_domain(loss)
    everything = []
    for label, (values, grads) in loss_curves(loss, domain).items():
        color = TARGET_COLORS[domain["targets"][label][0]]
        ax.plot(domain["x"], values, color=color, lw=2, label=f"L, {label}")
        ax.plot(domain["x"], grads, color=color, lw=1.4, ls="--", label=f"{domain['dlabel']}, {label}")
        everything += [values, grads]
    ax.axhline(0, color="0.6", lw=0.6)
    clip_limits(ax, np.concatenate(everything), -6.0, 6.0)
    ax.set_xlabel(domain["xlabel"], fontsize=8)
    ax.set_ylabel("loss / gradient")
    # below the panel: losses fill their panels (V shapes, flat gradients) so any spot
    # inside would hide a curve
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              borderaxespad=0.0, frameon=False)
    ax.grid(alpha=0.3)


def loss_gallery(names: Sequence[str] | None = None, registry=None):
    """One panel per loss: L (solid) and dL/dŷ (dashed) against the prediction, for target 1
    (blue) and target 0 (red) in every panel."""
    return _gallery("loss", names, registry, _draw_loss, 3, (4.4, 3.9),
                    "Loss functions and their gradients for fixed targets (batch of one)",
                    LOSS_KEY)


def plot_losses(out="losses.png", names: Sequence[str] | None = None, registry=None):
    """Save :func:`loss_gallery` to ``out``; returns the path."""
    return save(loss_gallery(names, registry), out)
