"""Pruning a search's unpromising trials from inside their training, at each epoch's end.

The sweeper writes, for each job, which trial it runs (:func:`nnexp.search.sweeper.hand_off`).
With a ``pruner`` configured, the job's :class:`TrialPruner` (a lifecycle plugin) reports
the monitored metric to that trial after every epoch and, when Optuna's pruner says so,
calls ``run.request_stop``: training ends after that epoch, the run is kept (FINISHED,
shorter) and the sweeper records the trial as PRUNED.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from nnexp.hookspecs import hookimpl


class TrialPruner:
    """Reports ``metrics[monitor]`` to an Optuna ``trial`` at each epoch's end."""

    def __init__(self, trial, monitor: str):
        self.trial, self.monitor = trial, monitor
        self.pruned_epoch: int | None = None

    @hookimpl
    def on_epoch_end(self, run, epoch, metrics):
        from nnexp.search.sweeper import PRUNED_EPOCH

        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value) or self.pruned_epoch is not None:
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            self.trial.set_user_attr(PRUNED_EPOCH, epoch)
            reason = f"trial #{self.trial.number} pruned at epoch {epoch} ({self.monitor} {value:.6g})"
            run.request_stop(f"optuna: {reason}")  # recorded on the run as nnexp.stop_reason
            print(f"nnexp: {reason}", file=sys.stderr, flush=True)


def trial_callback(hc) -> TrialPruner | None:
    """The pruning plugin for this job, when it is a trial of a search with a pruner."""
    from hydra.types import RunMode

    from nnexp.search.sweeper import HANDOFF_DIR, TARGET

    sweeper = hc.sweeper
    if hc.mode != RunMode.MULTIRUN or sweeper.get("_target_") != TARGET or not sweeper.get("pruner"):
        return None
    sweep_dir = Path(str(hc.sweep.dir))
    if not sweep_dir.is_absolute():
        sweep_dir = Path(str(hc.runtime.cwd)) / sweep_dir
    path = sweep_dir / HANDOFF_DIR / f"{hc.job.num}.json"
    if not path.exists():
        return None
    return _pruner(json.loads(path.read_text()), sweeper.pruner)


def _pruner(handoff: dict, pruner_cfg) -> TrialPruner | None:
    import optuna
    from hydra.utils import instantiate

    if not handoff.get("monitor"):
        return None
    study = optuna.load_study(study_name=handoff["study"], storage=handoff["storage"],
                              pruner=instantiate(pruner_cfg))
    return TrialPruner(optuna.trial.Trial(study, handoff["trial_id"]), handoff["monitor"])
