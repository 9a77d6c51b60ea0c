"""An nnexp network as an MLflow model (pyfunc flavour), loadable without pickle.

    info = log_model(uri, run_id, network, X_train[:5], registered_model_name="spirals")
    mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(X)   # == network.predict(X)
    mlflow models predict -m runs:/RUN_ID/model -i x.csv -t csv --env-manager local

The model directory holds MLflow's ``MLmodel`` (signature and input example included), the
network's own ``network.npz`` and ``model_code.py`` (models from code: MLflow runs it to load
the network, nothing is unpickled). It is an MLflow 3 *logged model* of the run (its Model
column, ``runs:/RUN_ID/model``, ``models:/MODEL_ID``) and, given a name, a version in the
model registry. Only MlflowClient calls on the given store: no global MLflow state is set,
so a process can log to several stores. Logging costs 0.05-0.3 s a model once MLflow's
model code is imported (``benchmarks/RESULTS_model.md``): keep it off a small sweep's
per-job path.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnexp.tracking import store

#: The model code MLflow runs at load time, and the artifact key of the network's npz.
MODEL_CODE = Path(__file__).with_name("model_code.py")
NETWORK_ARTIFACT = "network"
#: Rows of the input example kept in the model (MLflow validates serving with it).
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class LoggedNetwork:
    """Where a logged network can be loaded from, and its registry version if registered."""

    model_id: str
    run_uri: str        # runs:/<run_id>/<name>
    model_uri: str      # models:/<model_id>
    registered_version: str | None = None


def log_model(uri: str, run_id: str, network, input_example, *, name: str = "model",
              registered_model_name: str | None = None, step: int = 0) -> LoggedNetwork:
    """Log ``network`` as the model ``name`` of run ``run_id`` in the store at ``uri``.

    ``input_example``: ``(n, features)`` array (its first rows are kept and give the
    signature: :func:`signature`). With ``registered_model_name`` a new
    version of that registered model (created if missing) points at this model.
    """
    example = example_rows(network, input_example)  # a wrong shape fails before any write
    mc = store.client(uri)
    run = store.retry(mc.get_run, run_id)
    model = store.retry(mc.create_logged_model, run.info.experiment_id, name=name,
                        source_run_id=run_id, model_type="nnexp")
    try:
        with tempfile.TemporaryDirectory(prefix="nnexp-model-") as tmp:
            local = _save(Path(tmp), network, example, model, run_id)
            store.retry(mc.log_model_artifacts, model.model_id, str(local))
        _link(mc, run_id, model.model_id, step)
    except BaseException:
        store.retry(mc.finalize_logged_model, model.model_id, "FAILED")
        raise
    version = register(mc, registered_model_name, model, run_id) if registered_model_name else None
    return LoggedNetwork(model.model_id, f"runs:/{run_id}/{name}", f"models:/{model.model_id}", version)


def _link(mc, run_id: str, model_id: str, step: int) -> None:
    """The model as the run's output (the runs table's Model column), then READY."""
    from mlflow.entities import LoggedModelOutput

    store.retry(mc.log_outputs, run_id, [LoggedModelOutput(model_id, step)])
    store.retry(mc.finalize_logged_model, model_id, "READY")


def _save(tmp: Path, network, example: np.ndarray, model, run_id: str) -> Path:
    """The MLflow model directory, written under ``tmp``."""
    import mlflow.pyfunc
    from mlflow.models import Model

    npz = network.save(tmp / "network.npz")
    local = tmp / "model"
    with _installed_requirements():
        mlflow.pyfunc.save_model(
            path=str(local), python_model=str(MODEL_CODE), artifacts={NETWORK_ARTIFACT: str(npz)},
            signature=signature(network, example), input_example=example,
            pip_requirements=requirements(network),
            mlflow_model=Model(artifact_path=model.artifact_location, run_id=run_id,
                               model_id=model.model_id, model_uuid=model.model_id))
    return local


def _installed_requirements():
    """Skip MLflow's check of the model's requirements against the installed distributions:
    :func:`requirements` pins the installed versions, so it cannot find a mismatch, and its
    first call maps every installed distribution to its modules (0.7-2.5 s per process, most
    of a small run's model logging). Nothing else changes (the patch is undone at once)."""
    from contextlib import nullcontext
    from unittest import mock

    from mlflow.utils import environment

    if not hasattr(environment, "warn_dependency_requirement_mismatches"):
        return nullcontext()
    return mock.patch.object(environment, "warn_dependency_requirement_mismatches", lambda reqs: None)


def example_rows(network, input_example) -> np.ndarray:
    """The first :data:`EXAMPLE_ROWS` rows of ``input_example``, ``(n, features)`` float64."""
    X = np.asarray(input_example, dtype=np.float64)[:EXAMPLE_ROWS]
    network.check_input(X)
    return X


def signature(network, example: np.ndarray):
    """Inputs: a float64 tensor ``(-1, features)`` (MLflow casts float32/int arrays and a CSV's
    columns to it); outputs: the tensor ``network.predict`` returns."""
    from mlflow.models import infer_signature

    return infer_signature(example, network.predict(example))


def requirements(network) -> list[str]:
    """numpy, nnexp, and each plugin distribution that gives one of the network's layers."""
    from importlib import metadata

    reqs = {f"numpy=={metadata.version('numpy')}", f"mlflow=={metadata.version('mlflow')}"}
    registry = network.registry
    for type_name in set(network.types):
        kind = "layer" if ("layer", type_name) in registry else "activation"
        reqs.add(registry.get(kind, type_name).provenance.requirement)
    return sorted(reqs)


def register(mc, name: str, model, run_id: str) -> str:
    """A new version of registered model ``name`` (created if missing) for the logged model
    ``model``; returns the version number.

    The source is the model's artifact location, not ``models:/<id>``: MLflow's SQL registry
    resolves a ``models:/`` source through the *global* tracking URI, not the client's.
    """
    from mlflow.exceptions import MlflowException

    try:
        store.retry(mc.create_registered_model, name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    version = store.retry(mc.create_model_version, name, source=model.artifact_location,
                          run_id=run_id, model_id=model.model_id)
    return str(version.version)
