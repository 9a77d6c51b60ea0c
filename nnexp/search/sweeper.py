"""A Hydra sweeper over current Optuna: Optuna samples, Hydra's launcher runs the trials.

``hydra/sweeper=nnexp_optuna`` (config :class:`OptunaConf`) reads the same settings as the
hydra-optuna-sweeper plugin (``direction``, ``n_trials``, ``n_jobs``, ``study_name``,
``storage``, ``sampler``, ``params``), plus an optional ``pruner``. That plugin pins
``optuna<3``, whose SQL storage fails under the SQLAlchemy 2 that MLflow 3 installs; this
adapter is the same loop (ask a batch, launch it, tell the results) over Optuna >= 4.

The study lives in a persistent storage (by default ``optuna.db`` beside ``mlflow.db``), so
running the same command again continues it: ``n_trials`` is the study's total, trials
interrupted by Ctrl-C/SIGTERM (or left RUNNING by a killed process) are run again.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper

from nnexp.search.objective import KEY
from nnexp.search.space import search_space, trial_overrides

#: The plugin class Hydra instantiates (it must live in the ``hydra_plugins`` package).
TARGET = "hydra_plugins.nnexp_optuna_sweeper.NnexpOptunaSweeper"
INTERRUPTED = "nnexp.interrupted"
REQUEUED = "nnexp.requeued"
PRUNED_EPOCH = "nnexp.pruned_epoch"
HANDOFF_DIR = "nnexp_trials"


@dataclass
class OptunaConf:
    """``hydra.sweeper`` for ``hydra/sweeper=nnexp_optuna``."""

    _target_: str = TARGET
    direction: str = "minimize"          # or maximize, for cfg.optimized_metric
    n_trials: int = 20                   # the study's total: a re-run runs what is missing
    n_jobs: int = 1                      # trials asked and launched together (one batch)
    study_name: str | None = None     # null: "<experiment>-search"
    storage: str | None = None        # null: sqlite optuna.db beside the MLflow store
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": 0})
    pruner: Any = None                   # e.g. {_target_: optuna.pruners.MedianPruner}
    params: dict[str, str] = field(default_factory=dict)


class OptunaSearch(Sweeper):
    """The sweeper's work; ``hydra_plugins.nnexp_optuna_sweeper`` only names it for Hydra."""

    def __init__(self, direction="minimize", n_trials=20, n_jobs=1, study_name=None, storage=None,
                 sampler=None, pruner=None, params=None):
        self.direction, self.n_trials, self.n_jobs = direction, int(n_trials), max(1, int(n_jobs))
        self.study_name, self.storage = study_name, storage
        self.sampler, self.pruner, self.params = sampler, pruner, dict(params or {})
        self.config = self.launcher = self.hydra_context = None
        self.job_idx = 0

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context, self.job_idx = config, hydra_context, 0
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)

    def sweep(self, arguments: list[str]) -> None:
        assert self.hydra_context is not None and self.launcher is not None  # set by setup()
        space, fixed = search_space([f"{k}={v}" for k, v in self.params.items()] + list(arguments),
                                    self.hydra_context.config_loader)
        study = open_study(self.config, self.study_name, self.storage, self.direction,
                           self.sampler, self.pruner)
        todo = self.n_trials - len(requeue_interrupted(study))
        print(f"nnexp: Optuna study {study.study_name!r} ({storage_of(self.config, self.storage)}): "
              f"{self.n_trials - todo} of {self.n_trials} trials done, {max(todo, 0)} to run", flush=True)
        while todo > 0:
            batch = [study.ask(space) for _ in range(min(todo, self.n_jobs))]
            self._run_batch(study, batch, fixed)
            todo -= len(batch)
        finish(self.config, study, self.storage)

    def _run_batch(self, study, batch, fixed) -> None:
        overrides = [trial_overrides(t.params, fixed) for t in batch]
        self.validate_batch_is_legal(overrides)
        nums = range(self.job_idx, self.job_idx + len(batch))
        hand_off(self.config, study, batch, nums, self.storage)
        assert self.launcher is not None  # set by setup()
        try:
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
        except KeyboardInterrupt:  # Ctrl-C/SIGTERM: these trials run again when the search does
            for trial in batch:
                trial.set_user_attr(INTERRUPTED, True)
                study.tell(trial, state=_state("FAIL"))
            raise
        self.job_idx += len(batch)
        for trial, ret, num in zip(batch, returns, nums):
            tell(study, trial, ret, job_result(self.config, num))


def _state(name: str):
    from optuna.trial import TrialState

    return TrialState[name]


def storage_of(config, storage: str | None) -> str:
    """``storage`` with a relative sqlite path resolved against the launch directory; by
    default ``optuna.db`` beside the SQLite MLflow store (or in the launch directory)."""
    from nnexp.tracking.store import resolve_uri, sqlite_path

    launch_dir = config.hydra.runtime.cwd
    if storage:
        return resolve_uri(storage, launch_dir) if storage.startswith("sqlite:") else storage
    mlflow_db = sqlite_path(resolve_uri(config.tracking.uri, launch_dir))
    folder = mlflow_db.parent if mlflow_db is not None else Path(launch_dir)
    return "sqlite:///" + str(folder / "optuna.db")


def open_study(config, name, storage, direction, sampler, pruner):
    """Create the study, or load it to continue (``load_if_exists``). Hydra hands the sweeper
    its ``sampler`` and ``pruner`` already instantiated; configs are instantiated here."""
    import optuna
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    from nnexp.app import experiment_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # nnexp prints a line per trial
    name = name or f"{experiment_name(config, config.hydra.runtime.choices)}-search"
    built = [instantiate(x) if isinstance(x, (dict, DictConfig)) else x for x in (sampler, pruner)]
    return optuna.create_study(
        study_name=name, storage=storage_of(config, storage), direction=direction,
        load_if_exists=True, sampler=built[0], pruner=built[1] or optuna.pruners.NopPruner())


def requeue_interrupted(study) -> list:
    """Count trials a dead search left RUNNING as interrupted, queue every interrupted trial
    once more with its parameters, and return the trials that reached a verdict."""
    leftovers = study.get_trials(deepcopy=False, states=(_state("RUNNING"),))
    for trial in leftovers:
        study.tell(trial.number, state=_state("FAIL"))
    lost = set(study.user_attrs.get(INTERRUPTED, [])) | {t.number for t in leftovers}
    failed = study.get_trials(deepcopy=False, states=(_state("FAIL"),))
    lost |= {t.number for t in failed if t.user_attrs.get(INTERRUPTED)}
    requeued = set(study.user_attrs.get(REQUEUED, []))
    for trial in failed:
        if trial.number in lost - requeued:
            study.enqueue_trial(trial.params, skip_if_exists=False)
    study.set_user_attr(INTERRUPTED, sorted(lost))
    study.set_user_attr(REQUEUED, sorted(lost))
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (_state("COMPLETE"), _state("PRUNED"))
            or (t.state == _state("FAIL") and t.number not in lost)]


def job_result(config, num: int) -> dict:
    """The result file nnexp's job ``num`` wrote (:mod:`nnexp.sweep`), or {}."""
    from nnexp.sweep import RESULTS_DIR, _absolute

    path = _absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd) / RESULTS_DIR / f"{num}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def tell(study, trial, ret, result: dict) -> None:
    """COMPLETE with the task's value, PRUNED if the job stopped it, else FAIL; one line."""
    from nnexp.search.record import RUN_ID_ATTR
    from nnexp.tracking.sender import run_id_of

    value = _value(ret)
    run_id = result.get("run_id") or (run_id_of(result["record"]) if result.get("record") else None)
    if run_id:
        trial.set_user_attr(RUN_ID_ATTR, run_id)
    pruned = study.trials[trial.number].user_attrs.get(PRUNED_EPOCH)
    if pruned is not None:
        study.tell(trial, state=_state("PRUNED"))
    elif value is not None and math.isfinite(value):
        study.tell(trial, value)
    else:
        study.tell(trial, state=_state("FAIL"))
    _print_trial(study, trial, value, pruned, result)


def _value(ret) -> float | None:
    try:
        value = ret.return_value  # raises what the job raised
        return None if value is None else float(value)
    except Exception:  # noqa: BLE001 - a failed trial, not a failed search
        return None


def _print_trial(study, trial, value, pruned, result) -> None:
    metric = study.user_attrs.get(KEY) or "objective"
    state = f"pruned at epoch {pruned}" if pruned is not None else (
        f"{metric} {value:.6g}" if value is not None and math.isfinite(value)
        else f"FAILED ({result.get('error') or 'no value'})")
    try:
        best = f"; best #{study.best_trial.number} {study.best_value:.6g}"
    except ValueError:
        best = ""
    print(f"nnexp: trial #{trial.number} {state}{best}", flush=True)


def hand_off(config, study, batch, nums, storage) -> None:
    """For each job, the trial it runs (read by :mod:`nnexp.search.prune` in the job)."""
    from nnexp.sweep import _absolute

    folder = _absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd) / HANDOFF_DIR
    folder.mkdir(parents=True, exist_ok=True)
    study.set_user_attr(KEY, config.get(KEY))
    for trial, num in zip(batch, nums):
        (folder / f"{num}.json").write_text(json.dumps(
            {"storage": storage_of(config, storage), "study": study.study_name,
             "trial_id": trial._trial_id, "number": trial.number, "monitor": config.get(KEY)}))  # noqa: SLF001


def finish(config, study, storage) -> None:
    """The search on the sweep's parent run (if tracked), and its best trial printed."""
    from nnexp.search.record import best_summary, record_search
    from nnexp.sweep import STATE_FILE, _absolute, parent_run

    metric = config.get(KEY) or "objective"
    state_file = _absolute(config.hydra.sweep.dir, config.hydra.runtime.cwd) / STATE_FILE
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    parent = parent_run(state).get("run_id") if state.get("parent_key") else None
    if parent:
        best = record_search(state["uri"], parent, study, metric, storage_of(config, storage))
    else:
        best = best_summary(study, metric)
    if best is not None:
        print(f"nnexp: best trial #{best['trial']}: {metric} {best['value']:.6g} with {best['overrides']}",
              file=sys.stdout, flush=True)
