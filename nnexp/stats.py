"""Per-step training statistics, buffered in numpy arrays (no MLflow here).

:class:`StepStats` records one row per optimizer step, cheaply enough to run on every step;
:meth:`StepStats.table` returns the finished table and :meth:`StepStats.write_csv` writes it.
The table (artifact ``stats/steps.csv``) has these columns, in this order:

- ``step`` (global step from 1, the index), ``epoch`` (from 1), ``loss`` (batch loss);
- for each parameter ``p`` (``dense_0.W``, ``dense_0.b``, … as :meth:`Network.param_refs`):
  ``grad_norm/p`` = ‖∂L/∂p‖₂, ``grad_max/p`` = max |∂L/∂p|, ``weight_norm/p`` = ‖p‖₂ after the
  step, ``update_ratio/p`` = ‖Δp‖₂ / ‖p‖₂ with Δp the change since the previous row (the
  step's actual update when every step is recorded; pass ``exact_updates`` otherwise);
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

from operator import is_not

import numpy as np

from nnexp.hookspecs import hookimpl

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


#: BLAS i?amax by dtype char (one pass for max |x|), filled by the first StepStats: importing
#: scipy.linalg costs ~0.2 s, which `nnexp compare` (it imports nnexp.tracking) need not pay.
_IAMAX: dict = {}


def _load_blas_iamax() -> None:
    if _IAMAX:
        return
    try:
        from scipy.linalg.blas import idamax, isamax
    except ImportError:  # pragma: no cover - scipy comes with mlflow
        return
    _IAMAX.update({"f": isamax, "d": idamax})


def _max_abs(flat: np.ndarray) -> float:
    """max |x| of a contiguous 1-d array: one BLAS pass, else ``max(x.max(), -x.min())``."""
    iamax = _IAMAX.get(flat.dtype.char)
    if iamax is not None and flat.size:
        return abs(float(flat[iamax(flat)]))
    return max(_max(flat), -_min(flat))


def _flat(a: np.ndarray) -> np.ndarray:
    return a.ravel("K")  # a view in memory order for C- and Fortran-ordered (dense W) arrays


def _views(arrays) -> list | None:
    """Flat views that follow in-place changes, or None if one would be a copy."""
    contiguous = all(a.flags.c_contiguous or a.flags.f_contiguous for a in arrays)
    return [_flat(a) for a in arrays] if contiguous else None


#: Parameters with fewer elements are copied into a chunk each step and reduced together
#: (a numpy call costs ~1 µs, more than the arithmetic on a small array); larger ones are
#: reduced in place at once (their passes over memory cost more than the call).
SMALL = 1024
#: Layer outputs with at most this many values per batch (all tracked layers together) are
#: copied whole with the parameters; larger ones are reduced to per-unit max/min each step.
RAW_ACTS = 4096
STATS = ("grad_norm", "grad_max", "weight_norm", "update_ratio")


class StepStats:
    """One row of statistics per training step, buffered in numpy arrays.

    ``network``: an :class:`nnexp.Network`; ``optimizer``: the bound optimizer (read for
    ``lr``, and for whether its update is plain ``lr·g``); ``skip_layers``: indices of layers
    whose ``network.outputs`` entry is not computed in training (a fused output activation);
    ``exact_updates``: snapshot Δp even for plain SGD (needed when rows skip steps).
    Per step, the small parameters' gradients and values (and small layer outputs) are copied
    into one chunk row by a single ``np.concatenate``; a full chunk is reduced at once. Large
    parameters are reduced in place at every step. Rows are finished when read (:meth:`table`).
    """

    def __init__(self, network, optimizer, *, skip_layers=(), exact_updates: bool = False,
                 batch_size: int = 0):
        self.network, self.optimizer = network, optimizer
        self.batch_size = batch_size  # the largest batch (0: the first one seen)
        _load_blas_iamax()
        refs = network.param_refs()
        self.param_names = [name for name, _, _ in refs]
        self.analytic = is_plain_sgd(optimizer) and not exact_updates
        self.acts = [(i, network.names[i], *spec)
                     for i, (t, layer) in enumerate(zip(network.types, network.layers))
                     if i not in set(skip_layers) and (spec := activation_stat(t, layer))]
        self.columns = ["step", "epoch", "loss", *(f"{s}/{p}" for s in STATS for p in self.param_names),
                        *(f"{kind}_frac/{name}" for _, name, kind, _, _ in self.acts)]
        self.width = len(self.columns)
        self._plan_big([r for r in refs if r[1].params[r[2]].size >= SMALL])
        self._plan_small([r for r in refs if r[1].params[r[2]].size < SMALL])
        self._pack: np.ndarray | None = None  # laid out at the first step, when layer outputs exist (_start)
        self.raw = np.zeros((16, self.width))
        self._head: list[tuple] = []
        self._i = 0  # rows in the current chunk
        self.n = 0  # rows recorded
        self._base = 0  # rows handed out by take(): raw[i] is row _base + i

    @classmethod
    def for_run(cls, run, *, exact_updates: bool = False) -> StepStats:
        """For a :class:`nnexp.Run`: its network and optimizer; a fused output activation
        (its output never computed in training) is not tracked."""
        fused = [len(run.network.layers) - 1] if getattr(run.trainer, "fused", False) else []
        return cls(run.network, run.optimizer, skip_layers=fused, exact_updates=exact_updates,
                   batch_size=run.batch_size)

    def _column(self, stat: int, name: str) -> int:
        return 3 + stat * len(self.param_names) + self.param_names.index(name)

    def _plan_big(self, big) -> None:
        """Large parameters: reduced in place each step (snapshots unless plain SGD).

        Last first: the optimizer just updated them in order, so the last are still in cache."""
        big = big[::-1]
        self._big = [(layer, key, _flat(layer.params[key])) for _, layer, key in big]
        self._big_cols = np.array([self._column(s, name) for s in range(4) for name, _, _ in big], int)
        if not self.analytic:
            self._prev = [layer.params[key].copy() for _, layer, key in big]
            self._diff = [np.empty_like(p) for p in self._prev]

    def _plan_small(self, small) -> None:
        """Small parameters: copied into the chunk each step, reduced per chunk."""
        self._small = [(layer, key) for _, layer, key in small]
        self._small_w = [layer.params[key] for _, layer, key in small]
        self._flat_w = _views(self._small_w)  # optimizers update params in place
        self._grad_src: list = []
        self._flat_g: list | None = []
        sizes = [w.size for w in self._small_w]
        self._p = sum(sizes)
        self._offsets = np.cumsum([0, *sizes[:-1]]).astype(int)
        self._small_cols = np.array([[self._column(s, name) for name, _, _ in small]
                                     for s in range(4)], int)
        self._w_prev = np.concatenate([_flat(w) for w in self._small_w] or [np.zeros(0)]).astype(float)

    def _start(self) -> None:
        """Chunk layout: [grads | params | outputs when small] per row, or per-unit max/min."""
        outputs = self.network.outputs
        self._act_index = [i for i, *_ in self.acts]
        self._units = [int(np.prod(outputs[i].shape[1:])) for i in self._act_index]
        # room for the largest batch: a resumed run may start with an epoch's short last one
        batch = max(len(outputs[self._act_index[0]]), self.batch_size) if self.acts else 0
        self._n_units = sum(self._units)
        self._copy_acts = batch * self._n_units <= RAW_ACTS
        width = 2 * self._p + (batch * self._n_units if self._copy_acts else 0)
        self._k = int(np.clip(2 ** 20 // max(1, width), 16, 512))  # chunk rows, ~8 MB at most
        self._pack = np.zeros((self._k, width))
        self._full_batch = batch if self._copy_acts and self.acts else 0
        self._rows = list(self._pack)  # the rows of a full batch, sliced once
        if not self._copy_acts:
            dtype = self.network.dtype  # a float64 out= for float32 data takes numpy's slow path
            self._amax = np.zeros((self._k, self._n_units), dtype)
            self._amin = np.zeros((self._k, self._n_units), dtype)
            bounds = np.cumsum([0, *self._units])
            self._reduce_plan = [(i, np.s_[lo:hi], kind == "saturated") for (i, _, kind, _, _), lo, hi
                                 in zip(self.acts, bounds[:-1], bounds[1:])]

    # -- every step --------------------------------------------------------------------------
    def record(self, step: int, epoch: int, loss: float) -> None:
        """Add the row of this step: gradients, parameters and outputs as they are now."""
        i = self._i
        if self._pack is None:
            self._start()
        elif i == self._k:
            self._fold()
            i = 0
        assert self._pack is not None  # laid out by _start
        outputs = self.network.outputs
        grads = [layer.grads[k] for layer, k in self._small]
        if any(map(is_not, grads, self._grad_src)) or not self._flat_g:
            self._grad_src, self._flat_g = grads, _views(grads)  # first step, or a layer replaced one
        parts = ((self._flat_g or [g.ravel("K") for g in grads])
                 + (self._flat_w or [w.ravel("K") for w in self._small_w]))
        batch = 0
        if self._copy_acts and self.acts:
            # sample-major whatever their memory order (ravel("K") of a Fortran-ordered output
            # would put units first): a view for the usual C-ordered ones
            acts = [outputs[j].ravel() for j in self._act_index]
            batch = len(outputs[self._act_index[0]])
            parts += acts
        if parts:  # one call: ~0.6 µs, and ~0.13 µs per flat view (axis=None, which flattens
            # each part itself, costs ~0.2 µs per part more than the ravels it saves)
            row = (self._rows[i] if batch == self._full_batch
                   else self._pack[i, :2 * self._p + batch * self._n_units])
            np.concatenate(parts, out=row)
        if not self._copy_acts:
            self._reduce(outputs, i)
        if self._big:
            self._big_row(self.n - self._base)
        self._head.append((step, epoch, loss, batch))  # last: Ctrl-C before here drops the row
        self._i = i + 1
        self.n += 1

    def _reduce(self, outputs, i: int) -> None:
        """Per-unit max (and min, for saturating layers) over the batch, for large outputs."""
        amax, amin = self._amax[i], self._amin[i]
        for index, sl, both in self._reduce_plan:
            a = outputs[index]
            if a.ndim != 2:
                a = a.reshape(len(a), -1)
            _max(a, 0, None, amax[sl])  # the ufunc method: np.max's wrapper costs ~2 µs
            if both:
                _min(a, 0, None, amin[sl])

    @np.errstate(all="ignore")  # a diverging run overflows here before fit stops it
    def _big_row(self, n: int) -> None:
        """‖g‖², max|g|, ‖θ‖², ‖Δθ‖² of each large parameter, straight into the raw row."""
        gg, gmax, ww, uu = [], [], [], []
        lr2 = float(self.optimizer.lr) ** 2
        for j, (layer, key, w) in enumerate(self._big):
            g = layer.grads[key]
            gf = _flat(g)
            sq = np.dot(gf, gf)
            gg.append(sq)
            gmax.append(_max_abs(gf))
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

    # -- when read ---------------------------------------------------------------------------
    @np.errstate(all="ignore")
    def _fold(self) -> None:
        """Reduce the chunk's small parameters and layer outputs into their raw rows."""
        m = self._i
        if m == 0:
            return
        assert self._pack is not None  # a step was recorded, so _start laid it out
        end = self.n - self._base
        self._ensure(end)
        head = np.array(self._head, dtype=float)
        self._head.clear()
        raw = self.raw[end - m:end]
        raw[:, :3] = head[:, :3]
        if self._p:
            p, off = self._p, self._offsets
            g, w = self._pack[:m, :p], self._pack[:m, p:2 * p]
            d = np.diff(w, axis=0, prepend=self._w_prev[None])
            self._w_prev = w[-1].copy()
            for s, values in enumerate((np.add.reduceat(g * g, off, axis=1),
                                        np.maximum.reduceat(np.abs(g), off, axis=1),
                                        np.add.reduceat(w * w, off, axis=1),
                                        np.add.reduceat(d * d, off, axis=1))):
                raw[:, self._small_cols[s]] = values
        first = 3 + 4 * len(self.param_names)
        for j, (top, bottom) in enumerate(self._unit_extremes(m, head[:, 3].astype(int))):
            _, _, kind, low, high = self.acts[j]
            stuck = top <= 0 if kind == "dead" else (top <= low) | (bottom >= high)
            raw[:, first + j] = stuck.mean(axis=1)
        self._i = 0

    def _unit_extremes(self, m: int, batches: np.ndarray):
        """Per tracked layer: (per-unit max, per-unit min) over each row's batch, (m, units)."""
        if not self._copy_acts:
            for _, sl, _ in self._reduce_plan:
                yield self._amax[:m, sl], self._amin[:m, sl]
            return
        start, sizes = 2 * self._p, np.unique(batches)
        assert self._pack is not None  # a step was recorded, so _start laid it out
        pack = self._pack[:m]
        for j, units in enumerate(self._units):
            if len(sizes) == 1:  # every batch full: a view, no copy
                lo = start + sizes[0] * sum(self._units[:j])
                block = pack[:, lo:lo + sizes[0] * units].reshape(m, sizes[0], units)
                yield block.max(axis=1), block.min(axis=1)
                continue
            top, bottom = np.empty((m, units)), np.empty((m, units))
            for b in sizes:
                rows = batches == b
                lo = start + b * sum(self._units[:j])
                block = pack[rows, lo:lo + b * units].reshape(-1, b, units)
                top[rows], bottom[rows] = block.max(axis=1), block.min(axis=1)
            yield top, bottom

    def _ensure(self, n: int) -> None:
        while n >= len(self.raw):
            self.raw = np.concatenate([self.raw, np.zeros_like(self.raw)])

    def table(self) -> tuple[list[str], np.ndarray]:
        """``(columns, values)``: every row not yet taken, with norms and ratios computed."""
        return self.columns, self.rows_since(self._base)

    def rows_since(self, start: int) -> np.ndarray:
        """Finished rows ``start:`` (as in :meth:`table`; rows already taken are gone)."""
        if start < self._base:
            raise ValueError(f"rows before {self._base} were handed out by take()")
        self._fold()
        return self._finish(self.raw[start - self._base:self.n - self._base])

    def take(self) -> np.ndarray:
        """The finished rows recorded since the last take, which leave memory: a recorder that
        takes them every few seconds keeps memory flat over any number of steps."""
        rows = self.rows_since(self._base)
        self._base = self.n
        return rows

    def state(self) -> dict:
        """What continuing the table exactly needs, once every row is taken: the rows recorded
        and the values the next row's updates are measured against."""
        self._fold()
        if self.n != self._base:
            raise RuntimeError("StepStats.state(): take() the recorded rows first")
        return {"n": self.n, "w_prev": self._w_prev.copy(),
                "prev": [p.copy() for p in getattr(self, "_prev", [])]}

    def load_state(self, state) -> None:
        """Continue from :meth:`state` of the same network's table."""
        self.n = self._base = int(state["n"])
        self._w_prev = np.array(state["w_prev"], dtype=float)
        for live, saved in zip(getattr(self, "_prev", []), state["prev"]):
            np.copyto(live, saved)

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
    :meth:`take` hands out what was recorded since the last take (and frees it); :meth:`save`
    writes it as ``.npz`` with ``steps`` (R,), ``epochs`` (R,), and per parameter ``p``:
    ``counts/p`` (R, bins) integers and ``edges/p`` (R, bins + 1). Gradients are copied when
    recorded and binned when taken, outside the training loop (np.histogram costs ~25 µs
    even on 3 numbers, 1.5 ms on 200k); past ``copy_budget`` bytes they are binned at once.
    """

    def __init__(self, network, bins: int = 32, copy_budget: int = 64 * 2 ** 20):
        self.refs = network.param_refs()
        self.bins = int(bins)
        self.copy_budget, self._copied = copy_budget, 0
        self.last_step = 0
        self._clear()

    def _clear(self) -> None:
        self.steps: list[int] = []
        self.epochs: list[int] = []
        self.counts: dict[str, list] = {name: [] for name, _, _ in self.refs}
        self.edges: dict[str, list] = {name: [] for name, _, _ in self.refs}
        self._copies: dict[str, list] = {name: [] for name, _, _ in self.refs}
        self._copied = 0

    def record(self, step: int, epoch: int) -> None:
        """Keep the current gradients (those of step ``step``) for binning; a step already
        recorded is skipped."""
        if step <= self.last_step:
            return
        self.last_step = step
        self.steps.append(step)
        self.epochs.append(epoch)
        for name, layer, key in self.refs:
            g = layer.grads[key]
            if self._copied + g.nbytes <= self.copy_budget:
                self._copies[name].append(g.copy())
                self._copied += g.nbytes
            else:  # binning now keeps the order: this parameter's copies come first at take
                self._flush_copies(name)
                self._bin(name, g)

    def _bin(self, name: str, g: np.ndarray) -> None:
        m = float(max(g.max(), -g.min())) if g.size else 0.0
        m = m if np.isfinite(m) and m > 0 else 1.0
        counts, edges = np.histogram(g, bins=self.bins, range=(-m, m))
        self.counts[name].append(counts)
        self.edges[name].append(edges)

    def _flush_copies(self, name: str) -> None:
        for g in self._copies[name]:
            self._bin(name, g)
        self._copied -= sum(g.nbytes for g in self._copies[name])
        self._copies[name].clear()

    def arrays(self) -> dict[str, np.ndarray]:
        """The histograms held (recorded since the last :meth:`take`), in the ``.npz`` layout."""
        for name in self._copies:
            self._flush_copies(name)
        arrays = {"steps": np.asarray(self.steps, dtype=np.int64),
                  "epochs": np.asarray(self.epochs, dtype=np.int64)}
        for name in self.counts:
            arrays[f"counts/{name}"] = np.asarray(self.counts[name], dtype=np.int64).reshape(-1, self.bins)
            arrays[f"edges/{name}"] = np.asarray(self.edges[name], dtype=float).reshape(-1, self.bins + 1)
        return arrays

    def take(self) -> dict[str, np.ndarray]:
        """:meth:`arrays`, which then leave memory (a recorder writes them to its record)."""
        arrays = self.arrays()
        self._clear()
        return arrays

    def save(self, path) -> None:
        # ignore: numpy's stub lets **kwds fill allow_pickle
        np.savez(path, **self.arrays())  # type: ignore[arg-type]


class GradientRatio:
    """A lifecycle plugin measuring the vanishing-gradient study's number: the mean over the
    first epoch of the input layer's gradient norm divided by the output layer's, where a
    layer's norm is ``sqrt(Σ_params ‖∂L/∂p‖²)`` (as ``nnexp plot gradients``) and the input
    and output layers are the first and last that have parameters. ``ratio`` is None until
    the first epoch has ended (or when the network has fewer than two such layers)."""

    def __init__(self):
        self.ratio: float | None = None
        self.layers: tuple[str, str] | None = None
        self._sums = [0.0, 0.0]
        self._steps = 0
        self._refs: list = []

    @hookimpl
    def on_run_start(self, run):
        params = [(n, layer) for n, layer in zip(run.network.names, run.network.layers) if layer.params]
        if len(params) >= 2 and run.epoch <= 1 and not run.step:
            (first, a), (last, b) = params[0], params[-1]
            self.layers, self._refs = (first, last), [a, b]

    @hookimpl
    def on_step_end(self, run, loss):
        if not self._refs or run.epoch != 1:
            return
        for i, layer in enumerate(self._refs):
            self._sums[i] += float(np.sqrt(sum(float(np.vdot(g, g)) for g in layer.grads.values())))
        self._steps += 1

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        if epoch == 1 and self._steps and self._sums[1] > 0:
            self.ratio = self._sums[0] / self._sums[1]
        self._refs = []  # only the first epoch counts

    def describe(self) -> str:
        first, last = self.layers or ("input", "output")
        return f"‖∇{first}‖ / ‖∇{last}‖, mean over epoch 1"

