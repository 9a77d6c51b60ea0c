"""A progress bar as a lifecycle plugin: one tqdm bar per run, counting epochs, showing the loss.

It subscribes to ``on_run_start``/``on_epoch_end``/``on_run_end`` only, so it costs nothing per
step. When the stream is not a terminal (a log file, CI, a pipe) there is no bar at all, only
one line when training starts.

    nnexp.fit(net, X, y, callbacks=[ProgressBar("xor")])
"""

from __future__ import annotations

import sys

from nnexp.hookspecs import hookimpl
from nnexp.messages import say

#: Metrics shown beside the bar, in this order, when an epoch reports them.
SHOWN = ("loss", "val_loss", "accuracy", "val_accuracy")


class ProgressBar:
    """A tqdm bar over the run's epochs. ``enabled=None`` shows it only on a terminal."""

    def __init__(self, desc: str = "", enabled: bool | None = None, stream=None):
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else bool(enabled)
        self.bar = None

    @hookimpl
    def on_run_start(self, run):
        done = len(run.history)  # a resumed run starts part-way
        if not self.enabled:  # a log, not a terminal: one line, no bar
            steps = f"{run.steps_per_epoch} step{'s' if run.steps_per_epoch != 1 else ''}"
            where = f", from epoch {done + 1} (resumed)" if done or run.step else ""
            say(f"nnexp: training {self.desc}: {run.epochs} epochs of {steps}{where}",
                  file=self.stream, flush=True)
            return
        from tqdm import tqdm  # only when a bar is shown

        self.bar = tqdm(total=run.epochs, initial=done, desc=self.desc, unit="epoch",
                        file=self.stream, leave=True, dynamic_ncols=True)

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        if self.bar is None:
            return
        shown = {k: f"{metrics[k]:.4g}" for k in SHOWN if k in metrics}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    @hookimpl
    def on_run_end(self, run, status, error):
        if self.bar is None:
            return
        if status != "FINISHED":
            self.bar.set_description_str(f"{self.desc} [{status}]", refresh=False)
        self.bar.close()
        self.bar = None


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False
