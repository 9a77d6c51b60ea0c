"""The Hydra app behind ``nnexp``: compose a config, build the parts, train, track, report.

``nnexp.cli`` calls :func:`main` with the arguments after ``nnexp``. Hydra does the
composition, overrides, multirun, ``--cfg``, ``--help`` and shell completion; this module adds
what Hydra leaves to the app:

- a user's mistake anywhere (a bad override, a wrong type, an unknown component, a shape
  mismatch) is one message and exit code 2, never a traceback, and it is found before any
  MLflow run is created;
- Ctrl-C and SIGTERM stop training at the end of the step, so the run ends as KILLED with
  what it logged kept (:mod:`nnexp.interrupts`);
- inside a multirun a job never raises (Hydra would skip ``on_multirun_end``), see
  :mod:`nnexp.sweep`.

mlflow is imported only inside a job: ``nnexp --help`` must not pay for it.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from typing import Any, cast

from nnexp.interrupts import StopAtStepEnd, Terminated
from nnexp.messages import say

CONFIG_PATH = "pkg://nnexp.conf"
CONFIG_NAME = "config"
#: The command line, for the runs' tags (joblib workers inherit it from the environment).
COMMAND_ENV = "NNEXP_COMMAND"
#: The launched script (``sys.argv[0]``), for MLflow's source tags (nnexp.tracking.run reads it).
SOURCE_ENV = "NNEXP_SOURCE_NAME"
#: Override keys that say nothing about the model, left out of run names.
UNNAMED = ("hydra", "experiment", "tracking", "trainer.progress", "hparams_search")  # [search]


#: The exception of a single run, re-raised by main() once Hydra has returned.
_job_error: list[BaseException] = []
#: The result of the last run this process started (for the message after an interruption).
_last_run: list[dict] = []
#: The run ``nnexp resume`` continues (see run_experiment), set by main().
_resume: list[dict] = []


# -- entry point -------------------------------------------------------------------------------
def main(argv: list[str] | None = None, *, config_dir: str | None = None,
         resume: dict | None = None) -> int:
    """Run ``nnexp [hydra arguments]``; returns the exit code (2 for a user's mistake).

    ``config_dir`` holds a primary ``config.yaml`` to compose from instead of nnexp's own
    (``nnexp resume``: the run's saved config); ``resume`` continues that run (see
    :func:`run_experiment`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--help"], ["-h"]) and config_dir is None:
        return _quick_help()
    from nnexp import sweep  # imports Hydra: after the quick path

    _prepare_environment(argv)
    _start_sender(argv)
    _resume[:] = [resume] if resume else []
    saved_argv, sys.argv = sys.argv, ["nnexp", *argv]  # Hydra parses sys.argv
    try:
        with StopAtStepEnd():
            _run_hydra(config_dir)
        if _job_error:
            raise _job_error.pop()
        return sweep.exit_code()
    except SystemExit as exc:  # --help with overrides, argparse errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except sweep.SweepAborted as aborted:
        return _report_error(aborted.error)
    except KeyboardInterrupt as exc:
        return _interrupted(exc, sweep)
    except Exception as exc:
        return _report_error(exc)
    finally:
        sys.argv = saved_argv


def _prepare_environment(argv: list[str]) -> None:
    from nnexp import sweep

    sweep.reset()
    _job_error.clear()
    _last_run.clear()
    os.environ[COMMAND_ENV] = shlex.join(["nnexp", *argv])
    if sys.argv and sys.argv[0]:  # MLflow's mlflow.source.name: the script the user launched
        os.environ[SOURCE_ENV] = sys.argv[0]
    # Hydra then re-raises instead of printing and exiting 1, so we can exit 2 cleanly.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no migration chatter on a new store


#: Arguments after which nothing is trained or tracked.
NOT_TRACKED = ("tracking=off", "tracking.enabled=false", "--cfg", "-c", "--help", "-h", "--info",
               "--shell-completion", "-sc", "--hydra-help", "--version")


def _start_sender(argv: list[str]) -> None:
    """Start the sender process now, unless nothing will be tracked: its imports (mlflow,
    ~1.5 s) then overlap Hydra's composing and the training instead of following them."""
    if not any(a in NOT_TRACKED or a.split("=", 1)[0] in NOT_TRACKED for a in argv):
        from nnexp.tracking import sender

        sender.shared()


def _interrupted(exc: KeyboardInterrupt, sweep) -> int:
    swept = sweep.interrupted()  # (its summary says how to continue it)
    terminated = isinstance(exc, Terminated)
    last = _last_run[0] if _last_run and not _last_run[0].get("sweep") else {}
    run_id = last.get("run_id") or last.get("record_id")  # the record's id until the run exists
    then = (f" Continue it with: nnexp resume {run_id}" if run_id and getattr(exc, "at_step_end", False)
            else "")
    said = ("the sweep is marked KILLED, what its jobs logged is kept." if swept
            else "the run had finished and is recorded FINISHED." if last.get("status") == "FINISHED"
            else f"the run is marked KILLED, what it logged is kept.{then}")
    say(f"nnexp: {'terminated' if terminated else 'interrupted'}; {said}", file=sys.stderr, level=logging.WARNING)
    return 143 if terminated else 130


def _report_error(exc: Exception) -> int:
    """One message and its exit code (:mod:`nnexp.failures`: 2 for the user's input, 3 for
    the environment's fault); a bug is re-raised. A sweep whose parent run was opened ends it
    FAILED with the message, so it is not left RUNNING."""
    from nnexp import failures, sweep

    failure = failures.explain(exc)
    sweep.abandon(failure.message if failure else f"{type(exc).__name__}: {exc}")
    return failures.report(exc)


def _quick_help() -> int:
    from nnexp.config import quick_help
    from nnexp.plugins import get_registry

    print(quick_help(get_registry()).rstrip())
    return 0


def _run_hydra(config_dir: str | None = None) -> None:
    import hydra

    from nnexp.config import register_configs
    from nnexp.plugins import get_registry

    register_configs(get_registry())
    _share_group_listing_repo()
    path = CONFIG_PATH if config_dir is None else str(config_dir)  # an absolute directory
    hydra.main(config_path=path, config_name=CONFIG_NAME, version_base="1.3")(task)()


def _share_group_listing_repo() -> None:
    """Make Hydra list config groups from one copy of its config repository.

    ``--help`` and shell completion ask for the options of each of ~90 groups, and Hydra
    deep-copies the whole repository for every question (~1 s with the registry's options,
    against a 0.5 s budget for ``--help``). Without a config name or overrides the copy is the
    same every time, so it is made once per loader. Skipped if Hydra's internals differ.
    """
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.core.object_type import ObjectType
    except ImportError:
        return
    original = ConfigLoaderImpl.get_group_options
    if getattr(original, "_nnexp_shared", False) or not hasattr(
            ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo"):
        return

    def get_group_options(self, group_name, results_filter=ObjectType.CONFIG,
                          config_name=None, overrides=None):
        if config_name is not None or overrides:
            return original(self, group_name, results_filter, config_name, overrides)
        repo = self.__dict__.get("_nnexp_listing_repo")
        if repo is None:
            _, repo = self._parse_overrides_and_create_caching_repo(None, [])
            self.__dict__["_nnexp_listing_repo"] = repo
        return repo.get_group_options(group_name, results_filter)

    # ignore: a deliberate patch of Hydra's class (a function attribute marks it as ours)
    get_group_options._nnexp_shared = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.get_group_options = get_group_options  # type: ignore[method-assign]


# -- error messages ----------------------------------------------------------------------------
def user_error_message(exc: BaseException) -> str | None:
    """The message for an error caused by the user's input or environment, or None for a bug
    (:mod:`nnexp.failures` holds every kind)."""
    from nnexp.failures import user_error_message as message

    return message(exc)


def _missing_config_message(exc) -> str:
    """Hydra's "Could not find 'group/name'" without its search-path dump, plus a suggestion."""
    from nnexp.config import REGISTRY_GROUPS
    from nnexp.errors import did_you_mean

    text = str(exc).split("\nConfig search path:")[0].strip()
    group, _, name = (exc.missing_cfg_file or "").rpartition("/")
    suggestion = _alias_target(group, name) or did_you_mean(name, exc.options or [])
    if suggestion:
        text += f"\nDid you mean {suggestion!r}?"
    if exc.options is not None and group in REGISTRY_GROUPS:
        text += "\nInstalled plugins add options to dataset, loss, optimizer and schedule: run `nnexp plugins`."
    elif group == "experiment":
        text += "\nExperiments are the files in conf/experiment/ (see `nnexp --help`)."
    return text


def _alias_target(kind: str, name: str) -> str | None:
    """The primary name when ``kind=name`` names a registry alias (groups list primary names)."""
    from nnexp.config import REGISTRY_GROUPS
    from nnexp.plugins import get_registry

    if kind not in REGISTRY_GROUPS or (kind, name) not in get_registry():
        return None
    return get_registry().get(kind, name).name


# -- one job -----------------------------------------------------------------------------------
def task(cfg) -> float | None:
    """Hydra's task function: one run, or one job of a multirun (which never raises).

    Returns ``cfg.optimized_metric``'s final value, what a sweeper optimises (nan for a
    failed run, None when no metric is configured): :func:`nnexp.search.objective`."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from nnexp import search, sweep

    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        return search.objective(cfg, sweep.run_job(cfg, hc))  # [search] a sweeper's objective
    result = new_result(hc)
    if _resume:
        result["run_name"] = _resume[0]["run_name"]
    try:
        run_experiment(cfg, hc, result, resume=_resume[0] if _resume else None)
    except Exception as exc:  # main() reports it: Hydra would add its own line first
        _job_error.append(exc)
    return search.objective(cfg, result)  # [search]


def new_result(hc) -> dict[str, Any]:
    """The record of one job, filled as it goes (so a failure keeps what is known)."""
    from hydra.types import RunMode

    overrides = list(hc.overrides.task)
    sweep = hc.mode == RunMode.MULTIRUN
    return {"job": hc.job.num if sweep else 0, "sweep": sweep,
            "run_id": None, "run_name": run_name(overrides, hc), "overrides": overrides,
            "status": "RUNNING", "error": None, "metrics": {}, "params": {}}


def run_name(overrides: list[str], hc) -> str:
    """A readable, unique name: the experiment and the overridden values, plus a short id."""
    import secrets

    choice = hc.runtime.choices.get("experiment") or hc.runtime.choices.get("dataset") or "run"
    shown = [o.lstrip("+~").split("=", 1) for o in overrides if "=" in o]
    desc = ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in shown if not k.startswith(UNNAMED))
    return f"{choice}{'-' + desc[:80] if desc else ''}-{secrets.token_hex(2)}"


def run_experiment(cfg, hc, result: dict, sweep_info: dict | None = None,
                   resume: dict | None = None) -> dict:
    """Build, (track,) train, evaluate on the test split and report one run into ``result``.

    ``sweep_info`` (uri, experiment_id, parent_run_id) comes from the multirun's parent;
    ``resume`` (run_id, record_root, state: a checkpoint or None) continues that run.
    """
    from omegaconf import OmegaConf

    from nnexp import search
    from nnexp.config import build_parts
    from nnexp.plugins import get_registry
    from nnexp.progress import ProgressBar
    from nnexp.stats import GradientRatio

    registry = get_registry()
    if cfg.tracking.enabled:  # its imports (mlflow) overlap composing, building and training
        from nnexp.tracking import sender

        sender.shared()
    parts = build_parts(cfg, registry)  # every user error surfaces here, before tracking
    if getattr(parts.network, "appended_head", None):
        head = parts.network.appended_head
        say(f"nnexp: model.layers ends without an output activation: {head} appended for loss "
              f"{cfg.loss.type} (model.output_activation=auto; trained fused, on its logits)",
              file=sys.stderr, flush=True)
    plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    bar = ProgressBar(result["run_name"], enabled=cfg.trainer.progress)
    tracker = (_make_tracker(cfg, hc, plain, parts, result, sweep_info, resume)
               if cfg.tracking.enabled else None)
    started, status = time.perf_counter(), "FAILED"
    try:
        pruner = search.trial_callback(hc)  # [search] a trial's pruning, at epoch ends
        ratio = GradientRatio() if cfg.trainer.get("grad_ratio") else None
        callbacks = [c for c in (parts.early_stopping, pruner, tracker, bar, StopAtStepEnd.active, ratio)
                     if c is not None]
        history = _fit(parts, cfg, plain, callbacks, registry, (resume or {}).get("state"))
        result["metrics"] = {**history.last, **evaluate(parts)}
        if ratio is not None and ratio.ratio is not None:  # [vanishing] the study's number
            result["metrics"]["grad_ratio"] = ratio.ratio
            result["grad_ratio_of"] = ratio.describe()
        if parts.dataset.X_test is not None and parts.dataset.X_test is parts.dataset.X_train:
            result["on_training_data"] = len(parts.dataset.X_train)  # (xor's truth table)
        if tracker is not None:
            tracker.log_final({k: v for k, v in result["metrics"].items()
                               if k.startswith("test_") or k == "grad_ratio"})
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        _last_run[:] = [result]
        if tracker is not None and tracker.record is not None:
            result["record_id"], result["record"] = tracker.record.path.name, str(tracker.record.path)
            _end_tracked(tracker, status, result)
        result["run_id"] = getattr(tracker, "run_id", None)
    result["status"] = "FINISHED"
    result["seconds"] = round(time.perf_counter() - started, 3)
    report(result)
    if StopAtStepEnd.active is not None:
        StopAtStepEnd.active.release()  # a signal held while the run's end was written
    return result


def _end_tracked(tracker, status: str, result: dict) -> None:
    """End the tracked run; say so when part of it could not reach the store yet."""
    complete = tracker.finish(status)
    result["run_id"], result["experiment_id"] = tracker.run_id, tracker.experiment_id
    if status == "KILLED" or not tracker.wait:
        return  # the sender sends the rest on its own (a sweep waits for it at its end)
    if not complete:
        result["pending"] = True
        say(f"nnexp: run {tracker.run_id or result['run_name']}: not everything has reached the "
              f"tracking store yet; its record is complete in {tracker.record.path} "
              "(`nnexp sync` sends the rest)", file=sys.stderr, flush=True)


def _fit(parts, cfg, plain: dict, callbacks: list, registry, resume=None):
    from nnexp.threads import blas_threads
    from nnexp.train import fit

    ds, trainer = parts.dataset, cfg.trainer
    val = (ds.X_val, ds.y_val) if ds.X_val is not None and len(ds.X_val) else None
    with blas_threads(trainer.blas_threads):  # one thread: small GEMMs, and no spinning under load
        return fit(parts.network, ds.X_train, ds.y_train, loss=parts.loss, optimizer=parts.optimizer,
                   epochs=trainer.epochs, batch_size=trainer.batch_size, validation_data=val,
                   shuffle=trainer.shuffle, schedule=parts.schedule, task=parts.task,
                   callbacks=callbacks, config=plain, registry=registry, resume=resume)


def evaluate(parts) -> dict[str, float]:
    """``test_loss`` (and ``test_accuracy`` for classification) on the test split, if any."""
    from nnexp.train import Trainer, check_data

    ds = parts.dataset
    if ds.X_test is None or len(ds.X_test) == 0:
        return {}
    X, y = check_data(parts.network, ds.X_test, ds.y_test, what="test")
    trainer = Trainer(parts.network, parts.loss, optimizer=None)  # evaluation only
    metrics = trainer.evaluate(X, y, classification=parts.task == "classification")
    return {f"test_{k}": v for k, v in metrics.items()}


def _make_tracker(cfg, hc, plain: dict, parts, result: dict, sweep_info: dict | None,
                  resume: dict | None = None):
    """The run's MLflow tracker. Nothing here imports mlflow (the sender does): a store that
    cannot work is found by quick checks now, before training, or by the sender as it opens
    the run (the run then stops with its reason)."""
    from omegaconf import OmegaConf

    from nnexp import tracking
    from nnexp.record.layout import default_root

    settings = plain["tracking"]
    origin = resume or sweep_info
    if origin is not None:  # the run (resumed), or the sweep, says where
        uri, experiment, experiment_id = origin["uri"], origin.get("experiment"), origin.get("experiment_id")
    else:
        uri = tracking.resolve_uri(settings["uri"], hc.runtime.cwd)
        experiment, experiment_id = experiment_name(cfg, hc.runtime.choices), None
        tracking.preflight(uri, experiment)
    result["uri"], result["experiment_id"] = uri, experiment_id
    from nnexp.tracking.params import params_and_tags

    result["params"], settings_tags = params_and_tags(plain)  # tracking settings: tags
    root = (resume or {}).get("record_root") or settings.get("record_dir") or default_root(uri, hc.runtime.cwd)
    trainer = plain["trainer"]
    parent_run_id, parent_key = _parent(origin, sweep_info)
    return tracking.RunTracker(
        uri=uri, experiment_id=experiment_id, experiment=experiment,
        run_name=result["run_name"], params=result["params"],
        tags={**settings_tags, **run_tags(cfg, hc, result)},
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        parent_run_id=parent_run_id, parent_key=parent_key, settings=settings, dataset=parts.dataset,
        checkpoint=trainer["checkpoint"], monitor=trainer["early_stopping"]["monitor"],
        record_root=_absolute(root, hc.runtime.cwd), resume_run_id=(resume or {}).get("run_id"),
        record_path=(resume or {}).get("record"), end_with_fit=False, wait=parent_key is None,
        dataset_spec=plain.get("dataset"), launch_dir=hc.runtime.cwd)


def _parent(origin: dict | None, sweep_info: dict | None) -> tuple[str | None, str | None]:
    """``(parent_run_id, parent_key)`` of a sweep's job. A job whose runs go to the launching
    process's sender names the parent by the sweep (the sender makes it) and hands its run
    over; a job elsewhere (Ray, SLURM) has its own sender, so it needs the parent's id."""
    if sweep_info is None or not sweep_info.get("parent_key"):
        return (origin or {}).get("parent_run_id"), None
    from nnexp.tracking import sender

    if str(sender.shared().spool) == sweep_info.get("spool"):
        return None, sweep_info["parent_key"]
    if sweep_info.get("parent_run_id"):
        return sweep_info["parent_run_id"], None
    from nnexp.sweep import _parent_id

    return _parent_id(sweep_info), None


def _absolute(path, base):
    from pathlib import Path

    path = Path(str(path)).expanduser()
    return path if path.is_absolute() else Path(str(base)) / path


def experiment_name(cfg, choices) -> str:
    """``tracking.experiment``, else the ``+experiment=`` config's name, else ``nnexp``."""
    return cfg.tracking.experiment or choices.get("experiment") or "nnexp"


def run_tags(cfg, hc, result: dict) -> dict[str, str]:
    """A run's tags: the common ones, its overrides and (in a sweep) its job number."""
    tags = run_tags_common(cfg, hc.runtime.choices, hc.runtime.cwd)
    tags["nnexp.overrides"] = " ".join(result["overrides"])
    if result.get("sweep"):
        tags["nnexp.job"] = str(result["job"])
    return tags


def run_tags_common(cfg, choices, launch_dir) -> dict[str, str]:
    """What makes a run reproducible and findable: command, seed, version, launch directory
    (MLflow's own tags — user, source, git commit — are resolved by the sender:
    :func:`nnexp.tracking.runs.context_tags`)."""
    from nnexp.plugins import nnexp_version

    tags = {
        "nnexp.command": os.environ.get(COMMAND_ENV, "nnexp"),
        "nnexp.seed": str(cfg.seed),
        "nnexp.version": nnexp_version(),
        "nnexp.experiment": experiment_name(cfg, choices),
        "nnexp.launch_dir": str(launch_dir),
    }
    return tags


# -- reporting ---------------------------------------------------------------------------------
def format_metrics(metrics: dict[str, float]) -> str:
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
                        "grad_ratio") if k in metrics]
    return ", ".join(f"{k} {metrics[k]:.4g}" for k in keys)


def training_data_note(result: dict) -> str:
    """What a run's val_/test_ metrics are measured on when its dataset has no held-out data
    (its validation and test splits are its training points), else ''."""
    n = result.get("on_training_data")
    return f" (val_/test_ on its {n} training points: no held-out data)" if n else ""


def report(result: dict) -> None:
    """One line per finished run on stdout, and where it was recorded."""
    say(f"nnexp: run {result['run_name']} {result['status']} in {result.get('seconds', 0):.1f} s: "
          f"{format_metrics(result['metrics'])}{training_data_note(result)}", flush=True)
    if result.get("grad_ratio_of") and "grad_ratio" in result["metrics"]:
        say(f"       grad_ratio = {result['grad_ratio_of']}", flush=True)
    if result.get("run_id"):
        say(f"       recorded as run {result['run_id']} in {result['uri']}", flush=True)
        if not result.get("sweep"):  # a sweep says it once, at the end
            say(f"       look at it: {look_command(result['uri'])}", flush=True)


def look_command(uri: str) -> str:
    """How to look at runs in ``uri``: a server's address is opened in a browser; a local
    store needs ``mlflow ui`` on it."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri}"
    return f"mlflow ui --backend-store-uri {uri}"
