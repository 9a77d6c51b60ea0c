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
one BLAS i?amax pass (two GIL-free passes on the second thread, see below); square roots and
ratios are taken once, when the table is built.
The update of plain SGD (no momentum, no weight decay) is exactly ``lr · g``, so its norm is
``lr · ‖g‖``; any other optimizer gets the exact update from a snapshot of the previous step.
Small parameters are copied into a chunk at each step and reduced a chunk at a time. Large
ones, whose passes over memory are most of the cost, are reduced in place on a second thread
(two cores or more) while the next step's forward pass runs: forward changes neither
gradients nor parameters, and the trainer settles the reductions before backward does,
doing itself those the second thread has not started (on a busy machine it may get no core).
"""

from __future__ import annotations

import os
import threading
from operator import attrgetter, getitem, is_not, itemgetter
from queue import SimpleQueue

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
_ravel = np.ndarray.ravel
_grads_of = attrgetter("grads")
#: np.concatenate without the __array_function__ dispatch (~0.4 µs of its ~2 µs per step on
#: the tutorial network; every input here is a plain ndarray).
_concatenate = getattr(np.concatenate, "_implementation", np.concatenate)


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


def _max_abs_free(flat: np.ndarray) -> float:
    """:func:`_max_abs` in two passes that release the GIL (scipy's i?amax holds it throughout:
    on the second thread it would stall the training thread as long); with a NaN in ``flat``,
    i?amax's answer, which skips NaNs, so that both threads give the same."""
    m = max(_max(flat), -_min(flat))
    return m if m == m else _max_abs(flat)


def _extremes(block: np.ndarray, both: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Max (and min, with ``both``) over axis 1 of (rows, batch, units), from a batch-major
    copy whose rows numpy reduces whole: over the middle axis, with few units, it runs ~6x
    slower than the copy and the reduction together."""
    by_sample = np.ascontiguousarray(block.transpose(1, 0, 2))
    return _max(by_sample, 0), _min(by_sample, 0) if both else None


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
#: Large parameters with at least this many values in all are reduced on a second thread
#: (with two cores or more), beside the next step's forward pass: below it, handing the work
#: over costs about what it saves.
BESIDE = 2 ** 15


def _cores() -> int:
    """CPU cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


_MAIN, _BESIDE = 1, 2  # which thread claimed a task
_jobs: SimpleQueue | None = None  # the process's queue of work beside training
_jobs_pid = 0


def _beside(job, *args) -> None:
    """Run ``job(*args)`` on the process's thread for work beside training, in order of
    submission. The thread is started at first use (again in a forked child, which has none);
    jobs catch their own errors."""
    global _jobs, _jobs_pid
    if _jobs is None or _jobs_pid != os.getpid():
        _jobs, _jobs_pid = SimpleQueue(), os.getpid()
        threading.Thread(target=_work, args=(_jobs,), name="nnexp-stats", daemon=True).start()
    _jobs.put((job, args))


def _work(jobs: SimpleQueue) -> None:
    while True:
        job, args = jobs.get()
        job(*args)


class StepStats:
    """One row of statistics per training step, buffered in numpy arrays.

    ``network``: an :class:`nnexp.Network`; ``optimizer``: the bound optimizer (read for
    ``lr``, and for whether its update is plain ``lr·g``); ``skip_layers``: indices of layers
    whose ``network.outputs`` entry is not computed in training (a fused output activation);
    ``exact_updates``: snapshot Δp even for plain SGD (needed when rows skip steps).
    Per step, the small parameters' gradients and values (and small layer outputs) are copied
    into one chunk row by a single ``np.concatenate``; a full chunk is reduced at once. Large
    parameters are reduced in place at every step: with ``beside`` (None: with two cores or
    more and at least :data:`BESIDE` values of them), on a second thread, while training goes
    on with the next step's forward pass, which changes neither gradients nor parameters. The
    caller must then call :meth:`wait` before anything changes them (:meth:`for_run` has fit's
    trainer do it: ``Trainer.readers``). Rows are finished when read (:meth:`table`).
    """

    def __init__(self, network, optimizer, *, skip_layers=(), exact_updates: bool = False,
                 batch_size: int = 0, beside: bool | None = False):
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
        if beside is None:  # worth it with a second core and enough values to reduce
            beside = _cores() > 1 and sum(w.size for w in self._big_params) >= BESIDE
        self.beside = bool(beside and self._big)
        self._pack: np.ndarray | None = None  # laid out at the first step, when layer outputs exist (_start)
        self.raw = np.zeros((16, self.width))
        self._head: list[float] = []  # step, epoch, loss, batch of each row in the chunk
        self._i = 0  # rows in the current chunk
        self.n = 0  # rows recorded
        self._base = 0  # rows handed out by take(): raw[i] is row _base + i

    @classmethod
    def for_run(cls, run, *, exact_updates: bool = False, beside: bool | None = None) -> StepStats:
        """For a :class:`nnexp.Run`: its network and optimizer; a fused output activation
        (its output never computed in training) is not tracked. Large parameters reduced
        ``beside`` training (by default when worth it) are waited for by the run's trainer."""
        fused = [len(run.network.layers) - 1] if getattr(run.trainer, "fused", False) else []
        stats = cls(run.network, run.optimizer, skip_layers=fused, exact_updates=exact_updates,
                    batch_size=run.batch_size, beside=beside)
        if stats.beside:
            run.trainer.readers.append(stats.wait)
        return stats

    def _column(self, stat: int, name: str) -> int:
        return 3 + stat * len(self.param_names) + self.param_names.index(name)

    def _plan_big(self, big) -> None:
        """Large parameters: reduced in place each step, by tasks two threads can share.

        Last first: the optimizer just updated them in order, so the last are still in cache."""
        big = big[::-1]
        nb = len(big)
        self._big = [(layer, key) for _, layer, key in big]
        self._big_params = [layer.params[key] for _, layer, key in big]  # updated in place
        self._big_flat = [_flat(w) for w in self._big_params]
        self._big_cols = np.array([self._column(s, name) for s in range(4) for name, _, _ in big], int)
        self._vals = np.zeros(4 * nb)  # the row's values in _big_cols order: gg, gmax, ww, uu
        if not self.analytic:  # θ of the last row, and Δθ with the row it is of
            self._prev = [w.copy() for w in self._big_params]
            self._diff = [np.empty_like(w) for w in self._big_params]
            self._diff_of: list = [None] * nb
        self._tasks = [task for j in range(nb) for task in (
            (self._grad_sq, j), (self._grad_max, j), (self._weight_sq, j),
            *(() if self.analytic else ((self._update_sq, j),)))]
        self._row: tuple | None = None  # (raw index, gradients, lr²) of the row being reduced
        self._claims: dict[int, int] = {}  # task -> the thread doing it (_MAIN or _BESIDE), per row
        self._done: list[bool] = []  # per task, per row: its values are in _vals
        self._ended = threading.Condition()  # notified when a task beside training ends
        self._error: BaseException | None = None

    def _plan_small(self, small) -> None:
        """Small parameters: copied into the chunk each step, reduced per chunk."""
        self._small_layers = [layer for _, layer, _ in small]
        self._small_keys = [key for _, _, key in small]
        self._small_w = [layer.params[key] for _, layer, key in small]
        self._flat_w = _views(self._small_w)  # optimizers update params in place
        self._follow_grads()
        sizes = [w.size for w in self._small_w]
        self._p = sum(sizes)
        self._offsets = np.cumsum([0, *sizes[:-1]]).astype(int)
        self._small_cols = np.array([[self._column(s, name) for name, _, _ in small]
                                     for s in range(4)], int)
        self._w_prev = np.concatenate([_flat(w) for w in self._small_w] or [np.zeros(0)]).astype(float)

    def _follow_grads(self) -> None:
        """The small gradients as they are now (a layer may hand back new arrays), and the
        flat views copied at each step: gradients, then parameters (None: not all views)."""
        self._grad_src = [layer.grads[key] for layer, key in zip(self._small_layers, self._small_keys)]
        flat_g = _views(self._grad_src)
        self._parts = None if flat_g is None or self._flat_w is None else flat_g + self._flat_w

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
        self._copy_outputs = self._copy_acts and bool(self.acts)
        self._full_batch = batch if self._copy_outputs else 0
        self._rows = list(self._pack)  # the rows of a full batch, sliced once
        if self._copy_outputs:  # outputs -> a sequence of the tracked ones, in one C call
            index = self._act_index
            self._tracked = itemgetter(*index) if len(index) > 1 else itemgetter(slice(index[0], index[0] + 1))
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
        if self._row is not None or self._error is not None:
            self._settle()  # the last step's reductions (done during this step's forward pass)
        i = self._i
        if self._pack is None:
            self._start()
        elif i == self._k:
            self._fold()
            i = 0
        assert self._pack is not None  # laid out by _start
        if any(map(is_not, map(getitem, map(_grads_of, self._small_layers), self._small_keys),
                   self._grad_src)):
            self._follow_grads()  # a layer handed back new gradient arrays
        parts = self._parts
        if parts is None:  # not all contiguous: copies
            parts = [a.ravel("K") for a in self._grad_src + self._small_w]
        outputs = self.network.outputs
        batch = 0
        if self._copy_outputs:  # raveled sample-major whatever their memory order (ravel("K")
            # would put a Fortran-ordered output's units first): views of the usual C-ordered ones
            tracked = self._tracked(outputs)
            batch = len(tracked[0])
            parts = [*parts, *map(_ravel, tracked)]
        if parts:  # one call: ~0.5 µs, and ~0.13 µs per flat view
            row = (self._rows[i] if batch == self._full_batch
                   else self._pack[i, :2 * self._p + batch * self._n_units])
            _concatenate(parts, out=row)
        if not self._copy_acts:
            self._reduce(outputs, i)
        if self._big:
            self._start_big_row(self.n - self._base)
        self._head.extend((step, epoch, loss, batch))  # last: Ctrl-C before here drops the row
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

    def _start_big_row(self, n: int) -> None:
        """Reduce the large parameters into raw row ``n``: on the second thread, beside training
        (fit's trainer waits for it before backward writes new gradients), else now."""
        self._ensure(n)  # raw is not reallocated while a row is reduced: its readers settle first
        lr2 = float(self.optimizer.lr) ** 2 if self.analytic else 0.0
        # new objects per row, handed to its job: a job that starts late, after the training
        # thread did its row, finds every task of it claimed, and leaves
        claims: dict[int, int] = {}
        self._claims, self._done = claims, done = claims, [False] * len(self._tasks)
        grads = [layer.grads[key] for layer, key in self._big]  # a layer may hand back new arrays
        self._row = row = (n, grads, lr2)
        if self.beside:
            _beside(self._reduce_beside, row, claims, done)
        else:
            self.wait()

    def _reduce_beside(self, row: tuple, claims: dict, done: list) -> None:
        """On the second thread: the row's tasks that the training thread has not taken (it
        takes the rest when it needs the row before this thread got to them)."""
        for t, (task, j) in enumerate(self._tasks):
            if claims.setdefault(t, _BESIDE) != _BESIDE:  # atomic: one thread claims each task
                continue
            try:
                task(j, row, _max_abs_free)
            except BaseException as exc:  # raised on the training thread at its next record or read
                self._error = exc
            with self._ended:
                done[t] = True
                self._ended.notify_all()

    def wait(self) -> None:
        """Return once the row being reduced is done: the tasks the second thread has not
        claimed are done here, then those it has are waited for. Called before the gradients
        or parameters they read may change. A task gives the same values when done again, so
        a Ctrl-C anywhere in here leaves the row to finish at the next call."""
        if self._row is None:
            return
        row, claims, done = self._row, self._claims, self._done
        for t in range(len(done) - 1, -1, -1):  # from the end: the second thread starts at the front
            if not done[t] and claims.setdefault(t, _MAIN) == _MAIN:
                task, j = self._tasks[t]
                task(j, row, _max_abs)
                done[t] = True
        if not all(done):
            with self._ended:
                while not all(done):
                    self._ended.wait()
        self.raw[row[0], self._big_cols] = self._vals
        self._row = None

    def _settle(self) -> None:
        """:meth:`wait`, then raise what a task on the second thread raised, if anything."""
        self.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # Tasks of a row ``(raw index, gradients, lr²)``: each writes its values into _vals, and
    # gives the same values if done again (after a Ctrl-C in the training thread).
    @np.errstate(all="ignore")  # a diverging run overflows here before fit stops it
    def _grad_sq(self, j: int, row: tuple, max_abs) -> None:
        """‖g‖² (and ‖Δθ‖² = lr²‖g‖² for plain SGD)."""
        gf = _flat(row[1][j])
        self._vals[j] = sq = np.dot(gf, gf)
        if self.analytic:
            self._vals[3 * len(self._big) + j] = row[2] * sq

    @np.errstate(all="ignore")
    def _grad_max(self, j: int, row: tuple, max_abs) -> None:
        self._vals[len(self._big) + j] = max_abs(_flat(row[1][j]))

    @np.errstate(all="ignore")
    def _weight_sq(self, j: int, row: tuple, max_abs) -> None:
        w = self._big_flat[j]
        self._vals[2 * len(self._big) + j] = np.dot(w, w)

    @np.errstate(all="ignore")
    def _update_sq(self, j: int, row: tuple, max_abs) -> None:
        """‖θ_t − θ_{t−1}‖² from the last row's snapshot, which then moves to θ_t; done again,
        it keeps the difference it took before the snapshot moved."""
        param, prev, diff = self._big_params[j], self._prev[j], self._diff[j]
        if self._diff_of[j] is not row:
            np.subtract(param, prev, out=diff)
            self._diff_of[j] = row
        np.copyto(prev, param)
        d = _flat(diff)
        self._vals[3 * len(self._big) + j] = np.dot(d, d)

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
        head = np.fromiter(self._head, float, 4 * m).reshape(m, 4)  # flat: ~3x faster than tuples
        self._head.clear()
        raw = self.raw[end - m:end]
        raw[:, :3] = head[:, :3]
        if self._p:
            # reduceat reduces each row's run of a parameter on its own, so a row's values do
            # not depend on the chunk it is in (a resumed run's chunks start elsewhere); a
            # reduction over the rows of a value-major copy, ~3x cheaper, sums a one-row chunk
            # in another order
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
        """Per tracked layer: (per-unit max, per-unit min) over each row's batch, (m, units);
        the min only for saturating layers (None for dead-unit ones)."""
        if not self._copy_acts:
            for _, sl, both in self._reduce_plan:
                yield self._amax[:m, sl], self._amin[:m, sl] if both else None
            return
        start, sizes = 2 * self._p, np.unique(batches)
        assert self._pack is not None  # a step was recorded, so _start laid it out
        pack = self._pack[:m]
        for j, units in enumerate(self._units):
            both = self.acts[j][2] == "saturated"
            if len(sizes) == 1:  # every batch full: a view, no copy
                lo = start + sizes[0] * sum(self._units[:j])
                yield _extremes(pack[:, lo:lo + sizes[0] * units].reshape(m, sizes[0], units), both)
                continue
            top, bottom = np.empty((m, units)), np.empty((m, units)) if both else None
            for b in sizes:
                rows = batches == b
                lo = start + b * sum(self._units[:j])
                top[rows], low = _extremes(pack[rows, lo:lo + b * units].reshape(-1, b, units), both)
                if bottom is not None:
                    bottom[rows] = low
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
        self._settle()
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
        self._settle()
        self._fold()
        if self.n != self._base:
            raise RuntimeError("StepStats.state(): take() the recorded rows first")
        return {"n": self.n, "w_prev": self._w_prev.copy(),
                "prev": [p.copy() for p in getattr(self, "_prev", [])]}

    def load_state(self, state) -> None:
        """Continue from :meth:`state` of the same network's table."""
        self._settle()
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

