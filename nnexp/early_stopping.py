"""Early stopping as Keras and Lightning users know it, as a lifecycle plugin.

    nnexp.fit(net, X, y, validation_data=(Xv, yv),
              callbacks=[EarlyStopping("val_loss", patience=10, restore_best=True)])

Training stops after ``patience`` epochs in a row without an improvement of more than
``min_delta`` in ``monitor`` (mode min/max; auto: min for losses and errors, else max). The run
records why and when (:meth:`nnexp.Run.request_stop`, tags ``nnexp.early_stopping.*``).
``restore_best`` ends training with the parameters of the best epoch (also when it ran to the
last epoch). Its state is part of every checkpoint, so a resumed run stops where the
uninterrupted one would have.
"""

from __future__ import annotations

from nnexp.hookspecs import hookimpl
from nnexp.monitor import Monitor
from nnexp.optim import check_int

NAME = "early_stopping"


class EarlyStopping:
    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 10,
                 min_delta: float = 0.0, restore_best: bool = False):
        self.monitor = Monitor(monitor, mode, min_delta, where="trainer.early_stopping.monitor")
        self.patience = check_int("trainer.early_stopping.patience", patience, 1)
        self.restore_best = bool(restore_best)
        self.wait = 0
        self.stopped_epoch = 0
        self._best: dict | None = None  # parameters and buffers of the best epoch

    @hookimpl
    def on_run_start(self, run):
        saved = ((run.resume_state or {}).get("plugins") or {}).get(NAME)
        if saved:
            self.monitor.load(saved["monitor"])
            self.wait, self.stopped_epoch = int(saved["wait"]), int(saved["stopped_epoch"])
            self._best = saved.get("best") or None

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        if self.monitor.update(metrics, epoch):
            self.wait = 0
            if self.restore_best:
                self._best = {k: v.copy() for k, v in {**run.network.params, **run.network.buffers}.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            m = self.monitor
            self.stopped_epoch = epoch
            run.request_stop(f"early stopping: {m.metric} did not improve by more than {m.min_delta:g} "
                             f"for {self.patience} epochs (best {m.best:.6g} at epoch {m.best_epoch})")

    @hookimpl
    def on_checkpoint(self, run, state):
        state[NAME] = {"monitor": self.monitor.state(), "wait": self.wait,
                       "stopped_epoch": self.stopped_epoch, "best": self._best or {}}

    @hookimpl
    def on_run_end(self, run, status, error):
        if status != "FINISHED":
            return
        m = self.monitor
        tags = {"nnexp.early_stopping.best_epoch": m.best_epoch,
                "nnexp.early_stopping.best": m.best, "nnexp.early_stopping.monitor": m.metric}
        if self.stopped_epoch:
            tags["nnexp.early_stopping.stopped_epoch"] = self.stopped_epoch
        if self.restore_best and self._best:
            params = run.network.params
            run.network.set_params({k: v for k, v in self._best.items() if k in params})
            for key, value in run.network.buffers.items():
                value[...] = self._best[key]
            tags["nnexp.early_stopping.restored_epoch"] = m.best_epoch
        run.set_tags(tags)
