"""Hyperparameter search: any Hydra sweeper reads a run's ``optimized_metric``; nnexp's own
sweeper (``hydra/sweeper=nnexp_optuna``) runs Optuna's samplers over Hydra's launchers.

    nnexp -m +experiment=spirals hparams_search=spirals_optuna

Every trial is a child run of the sweep's parent run (:mod:`nnexp.sweep`); the parent gets
the trial table, the best configuration and Optuna's pictures (:mod:`nnexp.search.record`).
The study is persistent: the same command continues an interrupted search.

Modules: :mod:`~nnexp.search.objective` (the task's return value, metric checks),
:mod:`~nnexp.search.space` (Hydra overrides -> Optuna distributions),
:mod:`~nnexp.search.sweeper` (the Hydra sweeper), :mod:`~nnexp.search.prune` (pruning at
epoch ends), :mod:`~nnexp.search.record` (the parent run's artifacts),
:mod:`~nnexp.search.checks` (the search's config, checked before its parent run exists).
optuna is imported only inside functions.
"""

from nnexp.search.objective import KEY, check_metric, metric_names, objective
from nnexp.search.prune import trial_callback

__all__ = ["KEY", "check_metric", "metric_names", "objective", "trial_callback"]
