"""MLflow tracking: the only part of nnexp that imports mlflow (lazily, inside functions).

Use::

    uri = resolve_uri("sqlite:///mlflow.db", launch_dir)      # before Hydra changes directory
    exp = ensure_experiment(uri, "tutorial")                   # once, from one process
    parent = start_sweep(uri, exp, "sweep-name", tags)         # multirun only
    tracker = RunTracker(uri=uri, experiment_id=exp, run_name=..., params=flatten_config(cfg),
                         tags=..., config_yaml=..., parent_run_id=parent, settings=cfg["tracking"],
                         end_with_fit=False)
    nnexp.fit(net, X, y, ..., callbacks=[tracker, StopAtStepEnd.active])
    tracker.log_final({"test_loss": ...})
    tracker.finish("FINISHED")                                 # or KILLED/FAILED; returns whether all was sent
    print(end_sweep(uri, parent, jobs, "FINISHED"))            # summary; parent FAILED if a job failed

How a run reaches MLflow: the tracker's :class:`nnexp.record.Recorder` writes the run's
record to local disk as it trains (``nnexp-records/<run id>/``: steps and epochs tables,
metrics journal, checkpoints, files), and a :class:`nnexp.tracking.sink.Sink` thread sends it
to the MLflow run every ``flush_every_s`` (1 s): a store that stops answering delays the
sending, never the training, and loses nothing (``nnexp sync`` sends what is left). Settings
of the ``tracking`` group are documented in :mod:`nnexp.record.settings`.

What lands per run:

- params: the flattened config, values as typed in YAML (``nnexp`` passes the ``tracking``
  settings as tags ``nnexp.tracking.*`` instead: :func:`nnexp.tracking.params.params_and_tags`);
  tags: MLflow's context tags (``mlflow.user``, ``mlflow.source.*``, git commit; resolved
  by the sender for the launched script), the caller's, plus
  ``nnexp.component.<kind>.<name>`` = ``distribution==version`` for every component used,
  ``mlflow.parentRunId`` for sweep jobs, ``nnexp.host``/``pid``/``pid_start``/``heartbeat``
  (liveness), ``nnexp.record`` (where its record is), ``nnexp.failure``
  (divergence/error/killed/lost) and ``nnexp.error`` when not FINISHED, ``nnexp.stop_reason``
  when a hook stopped it early, ``nnexp.nonfinite_metrics`` for values not logged (±inf).
- metrics per epoch (MLflow step = epoch): ``loss``, ``accuracy``, ``val_loss``,
  ``val_accuracy``, ``lr`` as :func:`nnexp.fit` reports them (at most ``max_epoch_points``
  epochs, evenly spread); ``test_*`` at the end.
- metrics per step (MLflow step = global step, every ``log_every``-th row, the last always):
  ``step_loss``, ``grad_norm/<param>``, ``grad_max/<param>``, ``weight_norm/<param>``,
  ``update_ratio/<param>``, ``dead_frac/<layer>``, ``saturated_frac/<layer>``.
- artifacts: ``config.yaml``, ``model.npz``, ``checkpoints/{last,best}/checkpoint.npz``,
  ``stats/steps.parquet`` (every step; schema in :mod:`nnexp.stats`; also ``steps.csv`` for
  tables up to ``steps_csv_max_rows``), ``stats/epochs.parquet``, ``stats/grad_hist.npz``
  (``steps``, ``epochs``, ``counts/<param>``, ``edges/<param>``), ``tensors/...``,
  ``plots/*.png``, ``explain.txt``.
- a model: a FINISHED run's network as the MLflow model ``runs:/<run_id>/model``
  (:mod:`nnexp.tracking.model`; a version of ``tracking.register_model`` when set), logged by
  the sender; a sweep's jobs log none (unless ``register_model``), its best job's is logged
  when the sweep ends.
- inputs: one MLflow dataset per split of the run's dataset (context train/validation/test).
- the experiment, when nnexp creates it, is tagged ``mlflow.experimentKind`` =
  ``custom_model_development``; a sweep's parent has its summary as ``mlflow.note.content``.
"""

from nnexp.record.settings import DEFAULT_SETTINGS
from nnexp.tracking.params import flatten_config
from nnexp.tracking.preflight import preflight
from nnexp.tracking.reaper import reap
from nnexp.tracking.run import RunTracker
from nnexp.tracking.store import (
    DEFAULT_URI,
    TrackingError,
    ensure_experiment,
    resolve_uri,
)
from nnexp.tracking.sweep import close_lost_runs, end_sweep, start_sweep

__all__ = ["DEFAULT_SETTINGS", "DEFAULT_URI", "RunTracker", "TrackingError", "close_lost_runs",
           "end_sweep", "ensure_experiment", "flatten_config", "preflight", "reap", "resolve_uri",
           "start_sweep"]
