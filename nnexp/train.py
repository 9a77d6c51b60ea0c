"""Training: one step (:class:`Trainer`) and the mini-batch loop (:func:`fit`).

This module knows nothing of MLflow or progress bars: they subscribe to the lifecycle hooks
(``on_run_start``, ``on_step_end``, ``on_epoch_end``, ``on_run_end``) that :func:`fit` calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnexp.base import Loss
from nnexp.errors import ConfigError, DataError, DivergenceError, ShapeError
from nnexp.optim import Optimizer, Schedule, check_range
from nnexp.plugins import direct_caller

TASKS = ("auto", "classification", "regression")


@dataclass
class History:
    """Per-epoch metrics: ``history["loss"]`` is the list over epochs.

    ``epochs`` holds the epochs kept in memory. A run recorded to disk keeps only its latest
    epochs there (see :meth:`forget`): ``offset`` epochs came before ``epochs[0]`` and are read
    back from the record when asked for, so memory stays flat however long the run.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    offset: int = 0
    _older: Any = field(default=None, repr=False, compare=False)

    def __getitem__(self, key: str) -> list[float]:
        older: list[float] = []
        if self.offset:
            frame = self._older_frame()
            older = frame[key].dropna().tolist() if key in frame.columns else []
        return older + [e[key] for e in self.epochs if key in e]

    def __len__(self) -> int:
        return self.offset + len(self.epochs)

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}

    def to_frame(self):
        """The history as a pandas DataFrame indexed by epoch (1-based)."""
        import pandas as pd

        recent = pd.DataFrame(self.epochs, index=pd.RangeIndex(self.offset + 1, len(self) + 1, name="epoch"))
        if not self.offset:
            return recent
        return pd.concat([self._older_frame(), recent]) if len(recent) else self._older_frame()

    def forget(self, n: int, older) -> None:
        """Drop the ``n`` oldest in-memory epochs; ``older()`` returns at least every epoch
        before those kept (a DataFrame indexed by epoch), for reads of the whole history."""
        n = min(n, len(self.epochs))
        del self.epochs[:n]
        self.offset += n
        self._older = older

    def _older_frame(self):
        if self._older is None:
            raise RuntimeError(f"the first {self.offset} epochs of this history are not in memory "
                               "and no reader was given (History.forget)")
        return self._older().loc[:self.offset]

    def state(self) -> dict:
        """What a checkpoint keeps: the in-memory epochs and how many came before."""
        return {"epochs": [dict(e) for e in self.epochs], "offset": self.offset}

    @classmethod
    def from_state(cls, state: Mapping) -> History:
        return cls(epochs=[dict(e) for e in state["epochs"]], offset=int(state["offset"]))


def accuracy(out: np.ndarray, y: np.ndarray, logits: bool = False) -> float:
    """Fraction of samples whose predicted class matches: argmax for several outputs,
    a threshold (0.5 on probabilities, 0 on logits) for one output."""
    if y.shape[1] > 1:
        return float(np.mean(out.argmax(axis=1) == y.argmax(axis=1)))
    return float(np.mean((out > (0.0 if logits else 0.5)) == (y > 0.5)))


def resolve(registry, kind: str, spec, base):
    """``spec`` itself when it is already a ``base`` object, else built by the registry."""
    return spec if isinstance(spec, base) else registry.create(kind, spec)


class Trainer:
    """A network, a loss and an optimizer resolved once, so a step costs only the maths.

    When the loss fuses with the network's output activation (cross-entropy after softmax),
    training skips that activation and the loss works from logits. ``optimizer=None`` gives a
    trainer that only evaluates (it never binds, so a trained optimizer's state is left alone).
    """

    def __init__(self, network, loss="mse", optimizer="sgd", registry=None):
        registry = registry or network.registry
        self.network = network
        self.loss: Loss = resolve(registry, "loss", loss, Loss)
        self.optimizer: Optimizer | None = (None if optimizer is None else
                                            resolve(registry, "optimizer", optimizer, Optimizer).bind(network))
        n = len(network.layers)
        self.fused = bool(self.loss.fuses_with) and network.types[-1] == self.loss.fuses_with
        self._stop = n - 1 if self.fused else None
        self._start = n - 2 if self.fused else None
        #: The network output of the last training step (logits when fused).
        self.output: np.ndarray | None = None
        #: Work running beside training that reads the network's gradients and parameters (the
        #: per-step statistics of large parameters, reduced on a second thread while the next
        #: forward pass runs): a callable per reader that returns once that work is finished.
        #: :meth:`settle` calls them before the network changes: before backward writes new
        #: gradients (the update follows it), and fit before the epoch-end and run-end hooks
        #: (plugins may set parameters there).
        self.readers: list[Callable[[], None]] = []

    def settle(self) -> None:
        """Wait for the work of :attr:`readers` (see there)."""
        for wait in self.readers:
            wait()

    def loss_and_output(self, X, y, training: bool = False) -> tuple[float, np.ndarray]:
        """Loss on a batch and the network output the loss saw (logits when fused)."""
        out = self.network.forward(X, training, self._stop)
        return self.loss.forward(out, y, from_logits=self.fused), out

    def train_step(self, X: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss, backward and one optimizer update; returns the batch loss."""
        value, self.output = self.loss_and_output(X, y, training=True)
        if self.readers:
            self.settle()
        self.network.backward(self.loss.backward(), self._start, input_grad=False)
        assert self.optimizer is not None, "an evaluation-only Trainer (optimizer=None) cannot train"
        self.optimizer.step()
        return value

    def evaluate(self, X, y, classification: bool = True, batch_size: int = 4096) -> dict[str, float]:
        """Loss (and accuracy for classification) over a whole set, in evaluation mode."""
        total, correct, n = 0.0, 0.0, len(X)
        for i in range(0, n, batch_size):
            xb, yb = X[i:i + batch_size], y[i:i + batch_size]
            value, out = self.loss_and_output(xb, yb)
            total += value * len(xb)
            if classification:
                correct += accuracy(out, yb, self.fused) * len(xb)
        metrics = {"loss": total / n}
        if classification:
            metrics["accuracy"] = correct / n
        return metrics


@dataclass
class EpochProgress:
    """Where training is inside the current epoch: the next batch starts at ``start`` of
    ``order`` (the epoch's shuffled sample order, None without shuffling); ``total`` and
    ``correct`` are the sums behind the epoch's loss and accuracy so far."""

    order: np.ndarray | None
    start: int = 0
    total: float = 0.0
    correct: float = 0.0


class Run:
    """What lifecycle hooks see of a training run.

    A hook ends training after the current epoch with :meth:`request_stop`, and logs to the
    run with :meth:`log_metrics`, :meth:`set_tags` and :meth:`log_artifact` — whatever tracks
    the run (MLflow, or nothing) receives them through the ``on_log_*`` hooks.
    """

    def __init__(self, trainer: Trainer, *, epochs: int, batch_size: int, config: Mapping | None,
                 schedule: Schedule | None, classification: bool):
        self.trainer = trainer
        self.network = trainer.network
        self.loss = trainer.loss
        assert trainer.optimizer is not None, "a Run trains: its Trainer needs an optimizer"
        self.optimizer: Optimizer = trainer.optimizer
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.config: dict[str, Any] = dict(config or {})
        self.classification = classification
        self.history = History()
        self.step = 0
        #: The epoch being trained (from 1); once it is done, ``len(history) == epoch``.
        self.epoch = 0
        self.steps_per_epoch = 0
        self.status = "RUNNING"
        #: Inside an epoch: where it stands (see :class:`EpochProgress`); None between epochs.
        self.progress: EpochProgress | None = None
        #: A hook may set this to end training after the current epoch (see request_stop).
        self.stop_requested = False
        self.stop_reason: str | None = None
        #: The checkpoint this run continues from (:func:`nnexp.checkpoint.capture`), else None.
        #: Plugins read their own part, ``resume_state["plugins"][name]``, in ``on_run_start``.
        self.resume_state: dict | None = None
        self.hook: Any = None  # the plugin manager's hook relay, set by fit

    def request_stop(self, reason: str) -> None:
        """End training after the current epoch; ``reason`` is recorded on the run."""
        self.stop_requested = True
        self.stop_reason = str(reason)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics to the run (``step`` defaults to the current epoch)."""
        self.hook.on_log_metrics(run=self, metrics=dict(metrics),
                                 step=self.epoch if step is None else int(step))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the run (values become strings)."""
        self.hook.on_set_tags(run=self, tags={str(k): str(v) for k, v in tags.items()})

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        """Keep a file (or a directory's files) with the run, under ``artifact_path``."""
        self.hook.on_log_artifact(run=self, path=Path(path), artifact_path=artifact_path)


def check_data(network, X, y, what: str = "training") -> tuple[np.ndarray, np.ndarray]:
    """Arrays in the network's dtype, or a clear error for shape mismatches and NaN/inf."""
    X = np.ascontiguousarray(X, dtype=network.dtype)
    y = np.asarray(y, dtype=network.dtype)
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if len(X) != len(y):
        raise ShapeError(f"{what} data: X has {len(X)} samples but y has {len(y)}.")
    if len(X) == 0:
        raise DataError(f"{what} data is empty.")
    if X.shape[1:] != network.input_shape:
        raise ShapeError(f"{what} data has {X.shape[1:]} features per sample but the network "
                         f"expects {network.input_shape} (input_size).")
    if y.shape[1:] != network.output_shape:
        raise ShapeError(f"{what} targets have shape (batch, {', '.join(map(str, y.shape[1:]))}) "
                         f"but the network outputs (batch, {', '.join(map(str, network.output_shape))}).")
    for name, arr in (("X", X), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(f"{what} data {name} contains {int(bad.sum())} NaN/inf value(s), "
                            f"the first in row {row}. Clean or impute the data first.")
    return X, y


def _is_classification(task: str, y: np.ndarray) -> bool:
    if task not in TASKS:
        raise ConfigError("task", task, " or ".join(TASKS))
    if task != "auto":
        return task == "classification"
    return bool(np.isin(y, (0.0, 1.0)).all())


def fit(network, X, y, *, loss="mse", optimizer="sgd", epochs: int = 10, batch_size: int = 32,
        validation_data: Sequence | None = None, shuffle: bool = True, schedule=None,
        task: str = "auto", callbacks: Sequence = (), config: Mapping | None = None,
        registry=None, resume: Mapping | None = None) -> History:
    """Train ``network`` on ``(X, y)`` with mini-batches; return per-epoch metrics.

    ``loss``, ``optimizer`` and ``schedule`` are registry names, specs
    (``{"type": "adam", "lr": 1e-3}``) or objects. ``callbacks`` are plugin objects with
    lifecycle ``@hookimpl`` methods, registered for this run only. Shuffling draws from the
    network's shuffle stream, so a seed fixes the whole run. ``task="auto"`` treats 0/1
    targets as classification (accuracy is reported). With a batch-dependent layer
    (batchnorm), a last batch of one sample is left out of each epoch (a different one each
    epoch when shuffling), since one sample cannot be batch-normalised.

    ``resume``: a checkpoint (:func:`nnexp.checkpoint.capture`, or one read from a run's
    record) to continue from: parameters, optimizer state, every random stream and the
    position in the epoch are restored, so the rest of the run is bit-identical to an
    uninterrupted one. Training then runs until ``epochs`` epochs are done in all.
    """
    registry = registry or network.registry
    check_range("epochs", epochs, 1)
    check_range("batch_size", batch_size, 1)
    X, y = check_data(network, X, y)
    # ignore: mypy cannot tell that validation_data, (X, y), leaves ``what`` to the keyword
    val = (check_data(network, *validation_data, what="validation")  # type: ignore[misc]
           if validation_data else None)
    classification = _is_classification(task, y)
    trainer = Trainer(network, loss, optimizer, registry)
    if schedule is not None and not isinstance(schedule, Schedule):
        schedule = registry.create("schedule", schedule)
    run = Run(trainer, epochs=int(epochs), batch_size=int(batch_size), config=config,
              schedule=schedule, classification=classification)
    if resume is not None:
        from nnexp.checkpoint import restore

        restore(run, resume)
    pm = registry.pm
    run.hook = pm.hook
    for cb in callbacks:
        pm.register(cb)
    try:
        # A diverging run overflows in many places before its loss is seen to be non-finite;
        # the DivergenceError that follows says so once, without numpy's warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _loop(run, X, y, val, shuffle, pm.hook, direct_caller(pm, "on_step_end", ("run", "loss")))
    finally:
        for cb in callbacks:
            pm.unregister(cb)
    return run.history


def _loop(run: Run, X, y, val: tuple[np.ndarray, np.ndarray] | None, shuffle: bool, hook,
          step_end: Callable[[Run, float], None]) -> None:
    trainer, net = run.trainer, run.network
    n, bs = len(X), run.batch_size
    if n % bs == 1 and n > 1 and not all(layer.batch_independent for layer in net.layers):
        n -= 1  # a last batch of one sample cannot be batch-normalised: leave it out this epoch
    run.steps_per_epoch = math.ceil(n / bs)
    base_lr = getattr(run.optimizer, "initial_lr", run.optimizer.lr)
    rng = net.rngs["shuffle"]
    status = "FAILED"
    error: BaseException | None = None
    try:
        hook.on_run_start(run=run)
        while len(run.history) < run.epochs and not run.stop_requested:
            if run.progress is None:  # a new epoch (a resumed one continues where it stood)
                run.epoch = len(run.history) + 1
                if run.schedule is not None:
                    run.optimizer.lr = run.schedule.lr_at(run.epoch - 1, base_lr, run.epochs)
                run.progress = EpochProgress(rng.permutation(len(X))[:n] if shuffle else None)
            metrics = _train_epoch(run, trainer, X, y, n, step_end)  # n: len(X) or a multiple of bs
            metrics["lr"] = float(run.optimizer.lr)
            if val is not None:
                metrics.update({f"val_{k}": v for k, v in
                                trainer.evaluate(*val, classification=run.classification).items()})
            run.history.epochs.append(metrics)
            run.progress = None
            trainer.settle()
            hook.on_epoch_end(run=run, epoch=run.epoch, metrics=metrics)
        status = "FINISHED"
    except KeyboardInterrupt as exc:
        status, error = "KILLED", exc
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        run.status = status
        trainer.settle()
        hook.on_run_end(run=run, status=status, error=error)


def _train_epoch(run: Run, trainer: Trainer, X, y, n: int, on_step_end) -> dict[str, float]:
    bs, progress = run.batch_size, run.progress
    assert progress is not None  # set by _loop (or a restored checkpoint) before each epoch
    order = progress.order
    for start in range(progress.start, n, bs):
        if order is None:
            xb, yb = X[start:start + bs], y[start:start + bs]
        else:
            idx = order[start:start + bs]
            xb, yb = X[idx], y[idx]
        value = trainer.train_step(xb, yb)
        run.step += 1
        if not math.isfinite(value):
            raise DivergenceError(run.step, run.epoch, value)
        progress.total += value * len(xb)
        if run.classification:
            # ignore: trainer.output is the array train_step just set
            progress.correct += accuracy(trainer.output, yb, trainer.fused) * len(xb)  # type: ignore[arg-type]
        progress.start = start + bs
        on_step_end(run, value)  # hook.on_step_end(run=run, loss=value), called directly
    metrics = {"loss": progress.total / n}
    if run.classification:
        metrics["accuracy"] = progress.correct / n
    return metrics
