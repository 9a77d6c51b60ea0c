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


_max, _min = np.maximum.reduce, np.minimum.reduce


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


#: Parameters with fewer elements are copied into a chunk each step and reduced together
#: (a numpy call costs ~1 µs, more than the arithmetic on a small array); larger ones are
#: reduced in place at once (their passes over memory cost more than the call).
SMALL = 8192
STATS = ("grad_norm", "grad_max", "weight_norm", "update_ratio")


class StepStats:
    """One row of statistics per training step, buffered in numpy arrays.

    ``network``: an :class:`nnexp.Network`; ``optimizer``: the bound optimizer (read for
    ``lr``, and for whether its update is plain ``lr·g``); ``skip_layers``: indices of layers
    whose ``network.outputs`` entry is not computed in training (a fused output activation).
    Small parameters and activation reductions are copied into a chunk per step and reduced
    for the whole chunk at once; the rows are finished when read (:meth:`table`).
    """

    def __init__(self, network, optimizer, *, skip_layers=(), exact_updates: bool = False):
        self.network, self.optimizer = network, optimizer
        refs = network.param_refs()
        self.param_names = [name for name, _, _ in refs]
        self.analytic = is_plain_sgd(optimizer) and not exact_updates
        self.acts = [(i, network.names[i], *spec)
                     for i, (t, layer) in enumerate(zip(network.types, network.layers))
                     if i not in set(skip_layers) and (spec := activation_stat(t, layer))]
        self.columns = ["step", "epoch", "loss", *(f"{s}/{p}" for s in STATS for p in self.param_names),
                        *(f"{kind}_frac/{name}" for _, name, kind, _, _ in self.acts)]
        n_p = len(refs)
        col = {name: j for j, name in enumerate(self.param_names)}
        big = [r for r in refs if r[1].params[r[2]].size >= SMALL]
        small = [r for r in refs if r[1].params[r[2]].size < SMALL]
        self._big = [(layer, key, _flat(layer.params[key])) for _, layer, key in big]
        self._big_cols = np.array([3 + s * n_p + col[name] for s in range(4) for name, _, _ in big], int)
        if not self.analytic:
            self._prev = [layer.params[key].copy() for _, layer, key in big]
            self._diff = [np.empty_like(p) for p in self._prev]
        self._small = [(layer.grads, key) for _, layer, key in small]
        self._small_w = [layer.params[key] for _, layer, key in small]
        sizes = [w.size for w in self._small_w]
        self._offsets = np.cumsum([0, *sizes[:-1]]).astype(int)
        self._small_cols = np.array([[3 + s * n_p + col[name] for name, _, _ in small] for s in range(4)], int)
        self._k = int(np.clip(2 ** 20 // max(1, sum(sizes)), 16, 512))  # chunk rows, ~8 MB at most
        self._gs = np.zeros((self._k, sum(sizes)))
        self._ws = np.zeros((self._k + 1, sum(sizes)))
        if sizes:
            np.concatenate(self._small_w, axis=None, out=self._ws[0])
        self.width = len(self.columns)
        self.raw = np.zeros((self._k, self.width))
        self._head: list[tuple] = []
        self._units: list | None = None
        self._i = 0  # rows in the current chunk
        self.n = 0  # rows recorded

    # -- every step --------------------------------------------------------------------------
    def record(self, step: int, epoch: int, loss: float) -> None:
        """Add the row of this step: gradients, parameters and outputs as they are now."""
        i = self._i
        if i == self._k:
            self._fold()
            i = 0
        if self._units is None:
            self._start_units()
        self._head.append((step, epoch, loss))
        if self._small:
            np.concatenate([g[k] for g, k in self._small], axis=None, out=self._gs[i])
            np.concatenate(self._small_w, axis=None, out=self._ws[i + 1])
        outputs = self.network.outputs
        amax, amin = self._amax[i], self._amin[i]
        for index, hi_sl, lo_sl in self._units:
            a = outputs[index]
            if a.ndim != 2:
                a = a.reshape(len(a), -1)
            _max(a, 0, None, amax[hi_sl])  # the ufunc method: np.max's wrapper costs ~2 µs
            if lo_sl is not None:
                _min(a, 0, None, amin[lo_sl])
        if self._big:
            self._big_row(self.n)
        self._i = i + 1
        self.n += 1

    def _big_row(self, n: int) -> None:
        """‖g‖², max|g|, ‖θ‖², ‖Δθ‖² of each large parameter, straight into the raw row."""
        gg, gmax, ww, uu = [], [], [], []
        lr2 = float(self.optimizer.lr) ** 2
        for j, (layer, key, w) in enumerate(self._big):
            g = layer.grads[key]
            gf = _flat(g)
            sq = np.dot(gf, gf)
            gg.append(sq)
            gmax.append(max(g.max(), -g.min()))
            ww.append(np.dot(w, w))
            uu.append(lr2 * sq if self.analytic else self._update_sq(j, layer.params[key]))
        self._ensure(n)
        self.raw[n, self._big_cols] = gg + gmax + ww + uu

    def _update_sq(self, j: int, param: np.ndarray) -> float:
        """‖θ_t − θ_{t−1}‖² from the previous step's snapshot, which then moves to θ_t."""
        diff, prev = self._diff[j], self._prev[j]
        np.subtract(param, prev, out=diff)
        np.copyto(prev, param)
        d = _flat(diff)
        return np.dot(d, d)

    def _start_units(self) -> None:
        """Lay out per-unit max (and min) buffers once the first outputs exist."""
        units, hi, lo = [], 0, 0
        for index, _, kind, _, _ in self.acts:
            shape = self.network.outputs[index].shape[1:]
            size = int(np.prod(shape))
            units.append((index, np.s_[hi:hi + size], np.s_[lo:lo + size] if kind == "saturated" else None))
            hi, lo = hi + size, lo + (size if kind == "saturated" else 0)
        self._units = units
        self._amax = np.zeros((self._k, hi))
        self._amin = np.zeros((self._k, lo))


    # -- when read ---------------------------------------------------------------------------
    def _fold(self) -> None:
        """Reduce the chunk's small parameters and activations into their raw rows."""
        m = self._i
        if m == 0:
            return
        n0 = self.n - m
        self._ensure(self.n)
        raw = self.raw[n0:self.n]
        raw[:, :3] = self._head
        self._head.clear()
        if self._small:
            g, off = self._gs[:m], self._offsets
            d = np.diff(self._ws[:m + 1], axis=0)
            w = self._ws[1:m + 1]
            for s, values in enumerate((np.add.reduceat(g * g, off, axis=1),
                                        np.maximum.reduceat(np.abs(g), off, axis=1),
                                        np.add.reduceat(w * w, off, axis=1),
                                        np.add.reduceat(d * d, off, axis=1))):
                raw[:, self._small_cols[s]] = values
            self._ws[0] = self._ws[m]
        first = 3 + 4 * len(self.param_names)
        for j, ((_, hi, lo), (_, _, kind, low, high)) in enumerate(zip(self._units or (), self.acts)):
            top = self._amax[:m, hi]
            stuck = top <= 0 if kind == "dead" else (top <= low) | (self._amin[:m, lo] >= high)
            raw[:, first + j] = stuck.mean(axis=1)
        self._i = 0

    def _ensure(self, n: int) -> None:
        while n >= len(self.raw):
            self.raw = np.concatenate([self.raw, np.zeros_like(self.raw)])

    def table(self) -> tuple[list[str], np.ndarray]:
        """``(columns, values)``: every recorded row with norms and ratios computed."""
        return self.columns, self.rows_since(0)

    def rows_since(self, start: int) -> np.ndarray:
        """Finished rows ``start:`` (as in :meth:`table`), for logging a sample of them."""
        self._fold()
        return self._finish(self.raw[start:self.n])

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """Square roots of the stored squares, and ‖Δθ‖/‖θ‖ (NaN where ‖θ‖ = 0)."""
        n_p = len(self.param_names)
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
