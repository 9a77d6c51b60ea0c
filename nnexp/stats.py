"""Per-step training statistics, buffered in numpy arrays (no MLflow here).

:class:`StepStats` records one row per optimizer step, cheaply enough to run on every step;
:meth:`StepStats.table` returns the finished table and :meth:`StepStats.write_csv` writes it.
The table (artifact ``stats/steps.csv``) has these columns, in this order:

- ``step`` (global step from 1, the index), ``epoch`` (from 1), ``loss`` (batch loss);
- for each parameter ``p`` (``dense_0.W``, ``dense_0.b``, … as :meth:`Network.param_refs`):
  ``grad_norm/p`` = ‖∂L/∂p‖₂, ``grad_max/p`` = max |∂L/∂p|, ``weight_norm/p`` = ‖p‖₂ after the
  step, ``update_ratio/p`` = ‖Δp‖₂ / ‖p‖₂ with Δp the step's actual update;
- for each tracked activation layer ``l``: ``dead_frac/l`` (relu-like: fraction of units whose
  output is ≤ 0 for every sample of the batch: they pass no gradient) or ``saturated_frac/l``
  (sigmoid/tanh-like: fraction of units whose output stays in a flat tail — below ``lo`` or
  above ``hi`` — for every sample of the batch).

Why it is cheap: norms are BLAS dot products of raveled views (no temporaries); max |g| is
``max(g.max(), -g.min())``; square roots and ratios are taken once, when the table is built.
The update of plain SGD (no momentum, no weight decay) is exactly ``lr · g``, so its norm is
``lr · ‖g‖``; any other optimizer gets the exact update from a snapshot of the previous step.
"""

from __future__ import annotations

import numpy as np

#: Activations whose zero region kills the gradient: a unit is dead when output <= 0 throughout.
RELU_LIKE = frozenset({"relu", "leaky_relu", "elu", "selu", "relu6", "prelu", "celu"})
#: Saturating activations and their flat tails (lo, hi): the derivative there is < ~2% of its peak.
SATURATING = {
    "sigmoid": (0.01, 0.99),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-0.99, 0.99),
    "hard_tanh": (-1.0, 1.0),
    "softsign": (-0.9, 0.9),
}


def activation_stat(type_name: str, layer) -> tuple[str, float, float] | None:
    """``("dead", 0, 0)``, ``("saturated", lo, hi)`` or None for a layer type.

    A plugin activation opts in with an attribute: ``activation_stat = "dead"`` or
    ``activation_stat = ("saturated", lo, hi)``.
    """
    own = getattr(layer, "activation_stat", None)
    if own == "dead" or (own is None and type_name in RELU_LIKE):
        return ("dead", 0.0, 0.0)
    if isinstance(own, (tuple, list)) and len(own) == 3 and own[0] == "saturated":
        return ("saturated", float(own[1]), float(own[2]))
    if own is None and type_name in SATURATING:
        return ("saturated", *SATURATING[type_name])
    return None


def is_plain_sgd(optimizer) -> bool:
    """True for the built-in SGD with every option except ``lr`` off (its update is lr·g)."""
    cls = type(optimizer)
    if cls.__name__ != "SGD" or not cls.__module__.startswith("nnexp."):
        return False
    return not any(v for k, v in optimizer.config().items() if k != "lr")


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


class StepStats:
    """One row of statistics per training step, kept in a growing float64 buffer.

    ``network``: an :class:`nnexp.Network`; ``optimizer``: the bound optimizer (read for
    ``lr`` and, unless plain SGD, snapshot-based updates); ``skip_layers``: indices of layers
    whose ``network.outputs`` entry is not computed in training (a fused output activation).
    Raw sums of squares are stored per step; :meth:`table` turns them into norms and ratios.
    """

    def __init__(self, network, optimizer, *, skip_layers=(), capacity: int = 1024,
                 exact_updates: bool = False):
        self.network, self.optimizer = network, optimizer
        self.refs = network.param_refs()
        self.param_names = [name for name, _, _ in self.refs]
        self.analytic = is_plain_sgd(optimizer) and not exact_updates
        self._w = [_flat(layer.params[k]) for _, layer, k in self.refs]
        if not self.analytic:
            self._prev = [layer.params[k].copy() for _, layer, k in self.refs]
            self._diff = [np.empty_like(p) for p in self._prev]
        self.acts = [(i, network.names[i], *spec)
                     for i, (t, layer) in enumerate(zip(network.types, network.layers))
                     if i not in set(skip_layers) and (spec := activation_stat(t, layer))]
        n_p = len(self.refs)
        self.width = 3 + 4 * n_p + len(self.acts)
        self.data = np.zeros((capacity, self.width))
        self.n = 0

    @property
    def columns(self) -> list[str]:
        """Column names of :meth:`table`, in order (see the module docstring)."""
        names = self.param_names
        cols = ["step", "epoch", "loss"]
        for stat in ("grad_norm", "grad_max", "weight_norm", "update_ratio"):
            cols += [f"{stat}/{p}" for p in names]
        cols += [f"{kind}_frac/{name}" for _, name, kind, _, _ in self.acts]
        return cols

    def record(self, step: int, epoch: int, loss: float) -> None:
        """Add the row of this step: gradients, parameters and outputs as they are now."""
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        gg, gmax, ww, uu = self._param_stats()
        row = [step, epoch, loss, *gg, *gmax, *ww, *uu, *self._act_stats()]
        self.data[self.n] = row
        self.n += 1

    def _param_stats(self):
        """Per parameter: ‖g‖², max|g|, ‖θ‖², ‖Δθ‖² (squares; roots come in :meth:`table`)."""
        gg, gmax, ww, uu = [], [], [], []
        lr2 = float(self.optimizer.lr) ** 2
        for j, (_, layer, key) in enumerate(self.refs):
            g = layer.grads[key]
            gf = _flat(g)
            sq = np.dot(gf, gf)
            gg.append(sq)
            gmax.append(max(g.max(), -g.min()))
            w = self._w[j]
            ww.append(np.dot(w, w))
            uu.append(lr2 * sq if self.analytic else self._update_sq(j, layer.params[key]))
        return gg, gmax, ww, uu

    def _update_sq(self, j: int, param: np.ndarray) -> float:
        """‖θ_t − θ_{t−1}‖² from the previous step's snapshot, which then moves to θ_t."""
        diff, prev = self._diff[j], self._prev[j]
        np.subtract(param, prev, out=diff)
        np.copyto(prev, param)
        d = _flat(diff)
        return np.dot(d, d)

    def _act_stats(self) -> list[float]:
        out = []
        outputs = self.network.outputs
        for i, _, kind, lo, hi in self.acts:
            a = outputs[i]
            if a is None or a.ndim < 2:
                out.append(np.nan)
                continue
            a = a.reshape(len(a), -1)
            top = a.max(axis=0)
            if kind == "dead":
                stuck = top <= 0
            else:
                stuck = (top <= lo) | (a.min(axis=0) >= hi)
            out.append(np.count_nonzero(stuck) / stuck.size)
        return out

    def table(self) -> tuple[list[str], np.ndarray]:
        """``(columns, values)``: the recorded rows with norms and ratios computed."""
        return self.columns, self._finish(self.data[:self.n])

    def rows_since(self, start: int) -> np.ndarray:
        """Finished rows ``start:`` (as in :meth:`table`), for logging a sample of them."""
        return self._finish(self.data[start:self.n])

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """Square roots of the stored squares, and ‖Δθ‖/‖θ‖ (NaN where ‖θ‖ = 0)."""
        n_p = len(self.refs)
        out = raw.copy()
        g0, m0, w0, u0 = 3, 3 + n_p, 3 + 2 * n_p, 3 + 3 * n_p
        out[:, g0:m0] = np.sqrt(raw[:, g0:m0])
        out[:, w0:u0] = np.sqrt(raw[:, w0:u0])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(raw[:, u0:u0 + n_p]) / out[:, w0:u0]
        out[:, u0:u0 + n_p] = np.where(out[:, w0:u0] > 0, ratio, np.nan)
        return out

    def write_csv(self, path) -> None:
        """Write :meth:`table` as CSV: header row, integer step/epoch, 9 significant digits."""
        columns, values = self.table()
        fmt = ["%d", "%d"] + ["%.9g"] * (len(columns) - 2)
        np.savetxt(path, values, fmt=fmt, delimiter=",", header=",".join(columns), comments="")


class GradHistograms:
    """Histograms of every parameter's gradient at chosen steps (MLflow has no histogram type).

    Each record bins ∂L/∂p into ``bins`` equal bins over ``[-m, m]`` with m = max |∂L/∂p|.
    Saved as ``.npz`` with ``steps`` (R,), ``epochs`` (R,), and per parameter ``p``:
    ``counts/p`` (R, bins) integers and ``edges/p`` (R, bins + 1).
    """

    def __init__(self, network, bins: int = 32):
        self.refs = network.param_refs()
        self.bins = int(bins)
        self.steps: list[int] = []
        self.epochs: list[int] = []
        self.counts: dict[str, list] = {name: [] for name, _, _ in self.refs}
        self.edges: dict[str, list] = {name: [] for name, _, _ in self.refs}

    def record(self, step: int, epoch: int) -> None:
        """Bin the current gradients (those of step ``step``)."""
        if self.steps and self.steps[-1] == step:
            return
        self.steps.append(step)
        self.epochs.append(epoch)
        for name, layer, key in self.refs:
            g = layer.grads[key]
            m = float(max(g.max(), -g.min())) if g.size else 0.0
            m = m if np.isfinite(m) and m > 0 else 1.0
            counts, edges = np.histogram(g, bins=self.bins, range=(-m, m))
            self.counts[name].append(counts)
            self.edges[name].append(edges)

    def save(self, path) -> None:
        arrays = {"steps": np.asarray(self.steps, dtype=np.int64),
                  "epochs": np.asarray(self.epochs, dtype=np.int64)}
        for name in self.counts:
            arrays[f"counts/{name}"] = np.asarray(self.counts[name], dtype=np.int64).reshape(-1, self.bins)
            arrays[f"edges/{name}"] = np.asarray(self.edges[name]).reshape(-1, self.bins + 1)
        np.savez(path, **arrays)
