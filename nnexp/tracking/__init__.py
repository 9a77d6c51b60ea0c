"""MLflow tracking: the only part of nnexp that imports mlflow (lazily, inside functions).

Use::

    uri = resolve_uri("sqlite:///mlflow.db", launch_dir)      # before Hydra changes directory
    exp = ensure_experiment(uri, "tutorial")                   # once, from one process
    parent = start_sweep(uri, exp, "sweep-name", tags)         # multirun only
    tracker = RunTracker(uri=uri, experiment_id=exp, run_name=..., params=flatten_config(cfg),
                         tags=..., config_yaml=..., parent_run_id=parent, settings=cfg["tracking"])
    nnexp.fit(net, X, y, ..., callbacks=[tracker])             # any logger can subscribe the same way
    tracker.log_final({"test_loss": ...})                      # logs to the ended run
    tracker.close("FAILED")                                    # only if the caller fails after fit
    print(end_sweep(uri, parent, jobs, "FINISHED"))            # summary; parent FAILED if a job failed

Settings (the ``tracking`` config group; ``enabled``, ``uri``, ``experiment`` are the caller's):

- ``log_every`` (0): steps between per-step rows sent to MLflow; 0 = auto: at most
  ``max_points`` (200) rows per run, sparser when writing them would cost more than 2% of the
  training time, but at least ``min_points`` (50) rows (every step of a shorter run). Every
  step is kept in ``stats/steps.csv`` regardless.
- ``stats_every`` (1): steps between rows of ``stats/steps.csv`` (1 = full resolution).
- ``tensors_every_epochs`` (0): epochs between ``tensors/epoch_NNN/{grads,params}.npz`` dumps;
  0 = at the last epoch only. ``tensors_at_steps`` ([]): global steps to dump at as well
  (``tensors/step_NNNNNN/``). A run that stops early dumps its last step.
- ``histogram_every_steps`` (0): steps between gradient histograms; 0 = at each epoch's end.
  ``histogram_bins`` (32).
- ``save_model`` (true): ``model.npz`` via :meth:`Network.save` (``Network.load`` reads it).
- ``plot`` (true): ``plots/*.png`` via :func:`nnexp.plots.plot_run` at the run's end.
- ``plot_every_epochs`` (0): also draw them every k epochs during training, as
  ``plots/epoch_NNN/*.png`` (off the step loop, at that epoch's end); 0: only at the end.
- ``explain_max_params`` (5000): networks with at most this many parameters (and a dataset)
  get ``explain.txt``, every chain-rule factor of the trained network on the first training
  sample beside its finite difference (``nnexp explain``); 0 turns it off.

What lands per run:

- params: the flattened config (:func:`flatten_config`); tags: the caller's, plus
  ``nnexp.component.<kind>.<name>`` = ``distribution==version`` for every component used,
  ``mlflow.parentRunId`` for sweep jobs, ``nnexp.failure`` (divergence/error/killed) and
  ``nnexp.error`` when not FINISHED, ``nnexp.nonfinite_metrics`` for values not logged (±inf).
- metrics per epoch (MLflow step = epoch): ``loss``, ``accuracy``, ``val_loss``,
  ``val_accuracy``, ``lr`` as :func:`nnexp.fit` reports them; after fit, ``test_*`` (log_final).
- metrics per step (MLflow step = global step, sampled every ``log_every``, last step always):
  ``step_loss``, ``grad_norm/<param>``, ``grad_max/<param>``, ``weight_norm/<param>``,
  ``update_ratio/<param>``, ``dead_frac/<layer>``, ``saturated_frac/<layer>``.
- artifacts: ``config.yaml``, ``model.npz``, ``stats/steps.csv`` (every step; schema in
  :mod:`nnexp.stats`), ``stats/grad_hist.npz`` (``steps``, ``epochs``, ``counts/<param>``,
  ``edges/<param>``), ``tensors/...``, ``plots/*.png``.

Writes are synchronous ``log_batch`` calls at each epoch's end (a kill loses at most one
epoch of sampled metrics; Ctrl-C/SIGTERM reach ``on_run_end``, which writes everything and
marks the run KILLED). SQLite lock errors are retried.
"""

from nnexp.tracking.params import flatten_config
from nnexp.tracking.run import DEFAULT_SETTINGS, RunTracker
from nnexp.tracking.store import (
    DEFAULT_URI,
    TrackingError,
    ensure_experiment,
    resolve_uri,
)
from nnexp.tracking.sweep import close_lost_runs, end_sweep, start_sweep

__all__ = ["DEFAULT_SETTINGS", "DEFAULT_URI", "RunTracker", "TrackingError", "close_lost_runs",
           "end_sweep", "ensure_experiment", "flatten_config", "resolve_uri", "start_sweep"]
