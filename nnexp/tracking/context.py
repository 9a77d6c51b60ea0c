"""What MLflow's own tools expect to find on an experiment and a run: the experiment's kind,
the standard context tags (user, source, git commit) and the datasets a run used.

mlflow is imported inside functions only. Use::

    mc.create_experiment(name, location, tags=experiment_tags())   # a new experiment
    mark_model_training(mc, experiment_id)                          # one made before, if untagged
    tags = context_tags(launch_dir)          # in the launching process (sys.argv[0] is nnexp)
    mc.log_inputs(run_id, datasets=dataset_inputs(parts.dataset, plain["dataset"]))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from nnexp.tracking.params import TAG_MAX, cap

#: MLflow 3's UI opens an experiment by this tag: "genai_development" (or none, on a store
#: with no runs yet) opens the traces view, "custom_model_development" the runs table.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
#: (input tag ``mlflow.data.context``, features attribute, targets attribute) of each split.
SPLITS = (("train", "X_train", "y_train"), ("validation", "X_val", "y_val"),
          ("test", "X_test", "y_test"))


def experiment_tags() -> dict[str, str]:
    """The tags of an experiment nnexp creates: a model-training experiment."""
    return {EXPERIMENT_KIND: MODEL_TRAINING}


def mark_model_training(client, experiment_id: str) -> bool:
    """Tag an existing experiment as model training unless it has a kind already (a user's
    choice is kept). Returns True when the tag was set."""
    from nnexp.tracking.store import retry

    experiment = retry(client.get_experiment, str(experiment_id))
    if experiment.tags.get(EXPERIMENT_KIND):
        return False
    retry(client.set_experiment_tag, str(experiment_id), EXPERIMENT_KIND, MODEL_TRAINING)
    return True


def context_tags(launch_dir=None, source_name: str | None = None) -> dict[str, str]:
    """MLflow's standard run-context tags, from MLflow's own resolvers.

    ``mlflow.user``, ``mlflow.source.name`` (``sys.argv[0]``: call this in the process the user
    launched, not in a pool worker; or give that process's ``source_name``, as the sender
    does: MLflow's resolvers then see it as ``sys.argv[0]``), ``mlflow.source.type`` and, when
    the script lies in a git work tree, ``mlflow.source.git.commit``/``branch``/``repoURL``.
    MLflow skips git for a script in an ignored directory (a ``.venv`` inside the repository):
    then the commit of ``launch_dir``'s work tree is used, through MLflow's git helpers as well.
    """
    from mlflow.tracking.context.registry import resolve_tags
    from mlflow.utils import git_utils
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_BRANCH, MLFLOW_GIT_COMMIT, MLFLOW_GIT_REPO_URL

    tags = dict(_resolve_as(source_name, resolve_tags))
    if MLFLOW_GIT_COMMIT not in tags and launch_dir is not None:
        directory = str(Path(launch_dir).resolve())
        found = {MLFLOW_GIT_COMMIT: git_utils.get_git_commit(directory),
                 MLFLOW_GIT_BRANCH: git_utils.get_git_branch(directory),
                 MLFLOW_GIT_REPO_URL: git_utils.get_git_repo_url(directory)}
        if found[MLFLOW_GIT_COMMIT]:
            tags.update({k: v for k, v in found.items() if v})
    return {k: cap(v, TAG_MAX) for k, v in tags.items()}


def _resolve_as(source_name: str | None, resolve):
    """``resolve()`` with ``sys.argv[0]`` = ``source_name`` (when given), MLflow's git
    resolver's per-process cache emptied before and after (it remembers the first script)."""
    import sys

    if source_name is None:
        return resolve()
    from mlflow.tracking.context import registry

    providers = list(getattr(registry, "_run_context_provider_registry", []))

    def forget():
        for provider in providers:
            if isinstance(getattr(provider, "_cache", None), dict):
                provider._cache.clear()

    saved = sys.argv
    sys.argv = [source_name, *saved[1:]]
    forget()
    try:
        return resolve()
    finally:
        sys.argv = saved
        forget()


def dataset_inputs(dataset, spec: Mapping | None = None) -> list:
    """One ``mlflow.entities.DatasetInput`` per non-empty split of an :class:`nnexp.Dataset`,
    for ``MlflowClient.log_inputs(run_id, datasets=...)``.

    Each is named ``<dataset.name>-<split>`` with MLflow's digest of its arrays, the schema
    and profile of ``X`` (features) and ``y`` (targets), and the input tag
    ``mlflow.data.context`` = ``train``/``validation``/``test``. The source is the file
    ``spec["path"]`` names (the csv dataset), else a code source whose tags hold ``spec``,
    the dataset's config (``{"type": "spirals", "n": 400, ...}``), which rebuilds it.
    """
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs, source = [], _source(dataset, spec)
    for context, x_name, y_name in SPLITS:
        X, y = getattr(dataset, x_name), getattr(dataset, y_name)
        if X is None or len(X) == 0:
            continue
        data = _numpy_dataset(X, y, f"{dataset.name}-{context}", source)
        inputs.append(DatasetInput(dataset=data._to_mlflow_entity(),
                                   tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)]))
    return inputs


def log_datasets(client, run_id: str, dataset, spec: Mapping | None = None) -> list:
    """Log :func:`dataset_inputs` to ``run_id`` in one call; returns what was logged."""
    from nnexp.tracking.store import retry

    inputs = dataset_inputs(dataset, spec)
    if inputs:
        retry(client.log_inputs, run_id, datasets=inputs)
    return inputs


def _numpy_dataset(X, y, name: str, source):
    import warnings

    import mlflow.data

    with warnings.catch_warnings():  # MLflow registers its local-file source twice, and says so
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted",
                                UserWarning)
        # ignore: mlflow.data exports from_numpy lazily, out of its stub's sight
        return mlflow.data.from_numpy(X, source=source, targets=y, name=name)  # type: ignore[attr-defined]


def _source(dataset, spec: Mapping | None):
    """A file path for a dataset read from one, else a code source naming the config."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    spec = dict(spec or {})
    path = spec.get("path")
    if isinstance(path, str) and path:
        return str(Path(path).expanduser().resolve())
    spec.setdefault("type", dataset.name)
    return CodeDatasetSource(tags={"nnexp.dataset": json.dumps(spec, sort_keys=True, default=str)})
