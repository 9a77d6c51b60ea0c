"""Config schemas for the Hydra app: typed dataclasses in Hydra's ConfigStore, and range checks.

The primary config (``nnexp/conf/config.yaml``) starts from :class:`NnexpConfig`, so a wrong
type (``optimizer.lr=abc``) or an unknown key fails when Hydra composes the config.

The ``dataset``, ``loss``, ``optimizer`` and ``schedule`` groups have no YAML files: every
registered component becomes a group option whose schema is read from its factory's signature
(:func:`schema_for`). Installing a plugin is then enough for ``optimizer=its_name`` to work,
with its options typed and listed in ``nnexp --help``. The factory still validates values
(``lr > 0``) with :class:`nnexp.ConfigError`. A component whose bare name a built-in (or another
plugin) has too is the option ``distribution:name`` (``loss=nnexp-fixture-duplicate:mse``):
Hydra's override grammar takes ``:`` unquoted in values and option names.

Nothing here imports mlflow: ``nnexp --help`` must stay fast.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nnexp.errors import ConfigError, ShapeError
from nnexp.optim import check_range

#: Config groups filled from the registry kind of the same name (one option per component).
REGISTRY_GROUPS = ("dataset", "loss", "optimizer", "schedule")
_SCALARS = (int, float, bool, str)


@dataclass
class ModelConfig:
    """The network: the MLP shorthand, or an explicit ``layers`` list that replaces it.

    Input and output sizes come from the dataset; set ``input_size``/``output_size`` only to
    assert them (a mismatch is an error before training).
    """

    hidden: list[int] = field(default_factory=lambda: [16])
    activation: Any = "relu"
    output_activation: Any = "auto"  # what the loss fuses with (softmax for cross_entropy), else identity
    dropout: float = 0.0
    batchnorm: bool = False
    init: Any = None
    layers: list[Any] | None = None
    input_size: int | None = None
    output_size: int | None = None
    dtype: str = "float32"


@dataclass
class CheckpointConfig:
    """``checkpoints/last`` every N epochs and/or T seconds (and always on Ctrl-C/SIGTERM and at
    the end); ``checkpoints/best`` by ``monitor`` (null: the early-stopping monitor, if any)."""

    every_epochs: int = 0         # 0: off
    every_seconds: float = 60.0   # 0: off
    monitor: str | None = None
    mode: str = "auto"            # auto (min for losses/errors, else max), min or max


@dataclass
class EarlyStoppingConfig:
    """Stop after ``patience`` epochs without an improvement of more than ``min_delta`` in
    ``monitor`` (null: off); ``restore_best`` ends with the best epoch's parameters."""

    monitor: str | None = None  # e.g. val_loss
    mode: str = "auto"
    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = False


@dataclass
class TrainerConfig:
    """The training loop: :func:`nnexp.fit`'s options, the progress bar, checkpoints and
    early stopping."""

    epochs: int = 50
    batch_size: int = 32
    shuffle: bool = True
    task: str = "auto"
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    blas_threads: int = 1  # BLAS threads while training; 0: the library's default (all cores)
    grad_ratio: bool = False  # report grad_ratio: input/output layer gradient norm over epoch 1
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)


@dataclass
class TrackingConfig:
    """Where and how runs are recorded. ``enabled``, ``uri`` and ``experiment`` are the app's;
    the rest are the record's settings (documented in :mod:`nnexp.record.settings`; their
    defaults are ``DEFAULT_SETTINGS`` there).

    ``uri``: an MLflow tracking URI; a relative ``sqlite:///`` path is resolved against the
    directory ``nnexp`` was launched from. Default: ``$MLFLOW_TRACKING_URI`` when set, else
    ``sqlite:///mlflow.db`` (an interpolation, so ``nnexp --cfg job`` shows where it comes from). ``experiment``: the MLflow experiment name
    (default: the ``+experiment=`` config's name, else ``nnexp``).
    """

    enabled: bool = True
    uri: str = "${oc.env:MLFLOW_TRACKING_URI,sqlite:///mlflow.db}"
    experiment: str | None = None
    flush_every_s: float = 1.0      # seconds between writes of the record and sends to the store
    heartbeat_every_s: float = 10.0  # seconds between liveness heartbeats in the store
    finish_wait_s: float = 60.0   # how long a finished run waits for a store that does not answer
    log_every: int = 0            # steps between per-step rows sent to the store; 0: auto
    max_points: int = 200         # with log_every 0: this many rows per run, evenly spread
    max_epoch_points: int = 1000  # at most this many epochs' metrics sent (the record has all)
    stats_every: int = 1          # steps between rows of the full-resolution steps table
    tensors_every_epochs: int = 0  # epochs between grads/params .npz dumps; 0: last epoch only
    tensors_at_steps: list[int] = field(default_factory=list)
    histogram_every_steps: int = 0  # 0: at epoch ends, at most max_histograms per run
    max_histograms: int = 200
    histogram_bins: int = 32
    steps_csv_max_rows: int = 100000  # stats/steps.csv beside steps.parquet up to this size
    save_model: bool = True
    plot: bool = True
    plot_every_epochs: int = 0      # also plots/epoch_NNN/ every k epochs; 0: only at the end
    explain_max_params: int = 5000  # explain.txt (chain rule vs finite differences) up to this size
    record_dir: str | None = None  # null: nnexp-records/ beside the SQLite store
    register_model: str | None = None  # a name: each finished run's model is a new version of it


@dataclass
class NnexpConfig:
    """The whole experiment. Registry-backed groups are ``Any`` here; their options are typed."""

    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: Any = None
    loss: Any = None
    optimizer: Any = None
    schedule: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # [search] the metric a sweeper optimises, returned by the task (nnexp.search.objective)
    optimized_metric: str | None = None


# -- schemas from factory signatures -----------------------------------------------------------
def _field_type(annotation) -> Any:
    """An OmegaConf-supported type for a parameter annotation; ``Any`` when unsure."""
    if annotation in _SCALARS:
        return annotation
    args = typing.get_args(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    if is_union and len(args) == 2 and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return Optional[inner] if inner in _SCALARS else Any  # noqa: UP045 (a runtime type for OmegaConf)
    return Any


def _config_value(value) -> tuple[bool, Any]:
    """``(ok, value)``: whether a default can live in a config (JSON-like), as a config value."""
    if value is None or isinstance(value, _SCALARS):
        return True, value
    if isinstance(value, (list, tuple)):
        items = [_config_value(v) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if isinstance(value, dict):
        entries = {k: _config_value(v) for k, v in value.items()}
        return all(ok for ok, _ in entries.values()), {k: v for k, (_, v) in entries.items()}
    return False, None


def _hints(factory) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations just lose their type
        return {}


def _schema_field(kind: str, param: inspect.Parameter, hints: dict) -> tuple | None:
    """One ``(name, type, field)`` for make_dataclass, or None for a parameter a config
    cannot set (``*args``, a default that is not JSON-like)."""
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
        return None
    ftype = _field_type(hints.get(param.name, Any))
    if kind == "dataset" and param.name == "seed":
        return "seed", ftype, field(default="${seed}")  # the run's seed unless set
    if param.default is inspect.Parameter.empty:
        return param.name, ftype, field(default="???")  # mandatory: Hydra's MISSING
    ok, value = _config_value(param.default)
    if not ok:
        return None
    if isinstance(value, (list, dict)):
        # ignore: mypy cannot infer a lambda with a default argument
        return param.name, ftype, field(default_factory=lambda v=value: v)  # type: ignore[misc]
    return param.name, ftype, field(default=value)


def schema_for(kind: str, component, name: str | None = None) -> type:
    """A dataclass for one registered component: ``type`` (``name``, default its name) plus the
    keyword options of its factory, typed from the annotations (``Any`` where OmegaConf cannot
    type them)."""
    try:
        params = list(inspect.signature(component.factory).parameters.values())
    except (TypeError, ValueError):
        params = []
    hints = _hints(component.factory)
    fields = [("type", str, field(default=name or component.name))]
    for param in params:
        if param.name != "type" and (spec := _schema_field(kind, param, hints)) is not None:
            fields.append(spec)
    # A qualified name (``nnexp-extras:mish``) is not an identifier: keep its letters and digits.
    cls = re.sub(r"[^0-9a-zA-Z]", "", f"{kind}_{name or component.name}".title()) + "Config"
    return dataclasses.make_dataclass(cls, fields)


def register_configs(registry) -> None:
    """Store the primary schema and one option per registered component in the ConfigStore,
    under its name and, when that is a bare name, under ``distribution:name`` too."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="nnexp_schema", node=NnexpConfig)
    for kind in REGISTRY_GROUPS:
        for component in registry.components(kind):
            for name in dict.fromkeys((component.name, component.qualified_name)):
                cs.store(group=kind, name=name, node=schema_for(kind, component, name),
                         provider=component.provenance.distribution)


# -- semantic checks ---------------------------------------------------------------------------
def check_ranges(cfg) -> None:
    """Ranges the schema types cannot express; raises :class:`ConfigError` naming the key."""
    model, trainer = cfg.model, cfg.trainer
    check_range("trainer.epochs", trainer.epochs, 1)
    check_range("trainer.batch_size", trainer.batch_size, 1)
    check_range("trainer.blas_threads", trainer.blas_threads, 0)
    check_range("model.dropout", model.dropout, 0, 1, high_open=True)
    check_seed("seed", cfg.seed)
    if cfg.get("dataset") is not None and "seed" in cfg.dataset:
        check_seed("dataset.seed", cfg.dataset.seed)
    if model.layers is None:
        for i, units in enumerate(model.hidden):
            check_range(f"model.hidden[{i}]", units, 1)
    elif len(model.layers) == 0:
        raise ConfigError("model.layers", [], "a non-empty list of layer specs, or null for the MLP shorthand")
    for key in ("dataset", "loss", "optimizer"):
        if cfg.get(key) is None:
            raise ConfigError(key, None, f"a {key} name ({key}=NAME; `nnexp --help` lists them)")
    from omegaconf import OmegaConf

    from nnexp.record.settings import checkpoint_settings, make_settings  # imports no mlflow

    checkpoint_settings(OmegaConf.to_container(trainer.checkpoint))
    if cfg.tracking.enabled:
        make_settings(OmegaConf.to_container(cfg.tracking))


def check_seed(where: str, seed) -> None:
    """Refuse a seed numpy's random generators do not take (a dataset's may be null)."""
    from nnexp.optim import check_seed as check

    if seed is None and where != "seed":
        return
    check(where, seed)


#: Copies of each parameter held while training: itself, its gradient and up to two
#: optimizer moments (Adam).
TRAINING_COPIES = 4


def check_network_size(model: dict, n_in: int, n_out: int) -> None:
    """Refuse a network whose dense layers cannot be held in this machine's memory while
    training, before any of it is allocated (other sizes are found by the allocation)."""
    import numpy as np

    from nnexp.failures import available_memory, describe_bytes

    widths, params, width = [], 0, int(np.prod(n_in))
    if model.get("layers") is None:
        widths = [*model["hidden"], n_out]
        where = "model.hidden"
    else:
        widths = [spec["units"] for spec in model["layers"] if isinstance(spec, dict)
                  and isinstance(spec.get("units"), int) and not isinstance(spec.get("units"), bool)]
        where = "model.layers"
    for units in widths:
        params += (width + 1) * int(units)
        width = int(units)
    try:
        itemsize = np.dtype(model.get("dtype") or "float32").itemsize
    except TypeError:
        return  # the network says what dtypes are valid
    need, have = params * itemsize * TRAINING_COPIES, available_memory()
    if need > have:
        raise ConfigError(where, model["hidden"] if where == "model.hidden" else widths,
                          f"layers this machine can hold: {params:.3g} parameters need about "
                          f"{describe_bytes(need)} with their gradients and optimizer state "
                          f"({np.dtype(model.get('dtype') or 'float32')}), and "
                          f"{describe_bytes(have)} is available; make the layers smaller")


@dataclass
class Parts:
    """Everything a run needs, built (and so validated) before any tracking starts."""

    dataset: Any
    network: Any
    loss: Any
    optimizer: Any
    schedule: Any
    task: str
    early_stopping: Any = None  # an nnexp.early_stopping.EarlyStopping, or None


def build_parts(cfg, registry) -> Parts:
    """Build dataset, network, loss, optimizer and schedule from a composed config.

    Every mistake a config can hold (unknown names, bad ranges, data that does not fit the
    network) surfaces here as an :class:`nnexp.NnexpError`, before any MLflow run exists.
    """
    from omegaconf import OmegaConf

    from nnexp.base import Dataset
    from nnexp.train import check_data

    check_ranges(cfg)
    plain = typing.cast(dict[str, Any],
                        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    dataset = _create(registry, "dataset", plain["dataset"])
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"dataset {plain['dataset']['type']!r}", type(dataset).__name__,
                          "a factory returning nnexp.Dataset")
    loss = _create(registry, "loss", plain["loss"])
    refuse_aliases(plain["model"], registry)
    network = build_network(plain["model"], dataset, loss, plain["seed"], registry)
    check_output_head(network, loss, registry.get("loss", plain["loss"]["type"]).name, registry,
                      listed=plain["model"].get("layers") is not None)
    check_data(network, dataset.X_train, dataset.y_train)
    for what, X, y in (("validation", dataset.X_val, dataset.y_val), ("test", dataset.X_test, dataset.y_test)):
        if X is not None and len(X):  # found now, not after training
            check_data(network, X, y, what)
    optimizer = _create(registry, "optimizer", plain["optimizer"])
    schedule = _create(registry, "schedule", plain["schedule"]) if plain.get("schedule") else None
    task = dataset.task if cfg.trainer.task == "auto" else cfg.trainer.task
    return Parts(dataset, network, loss, optimizer, schedule, task,
                 _watchers(plain["trainer"], task, dataset))


def _watchers(trainer: dict, task: str, dataset):
    """The early-stopping plugin (or None); every monitored metric checked against what the
    run reports each epoch, so a typo is an error before training."""
    from nnexp.early_stopping import EarlyStopping
    from nnexp.monitor import Monitor, epoch_metrics

    reported = epoch_metrics(task == "classification", dataset.X_val is not None and len(dataset.X_val) > 0)
    es, ckpt = trainer["early_stopping"], trainer["checkpoint"]
    if ckpt.get("monitor"):
        Monitor(ckpt["monitor"], ckpt["mode"], where="trainer.checkpoint.monitor").check_available(reported)
    if not es.get("monitor"):
        return None
    stopper = EarlyStopping(es["monitor"], es["mode"], es["patience"], es["min_delta"], es["restore_best"])
    stopper.monitor.check_available(reported)
    return stopper


def _create(registry, group: str, spec: dict):
    """``registry.create`` whose option errors name the config key (``optimizer.lr``) rather
    than the component's own wording (``adam lr``), so the user sees what to override."""
    try:
        return registry.create(group, spec)
    except ConfigError as exc:
        option = str(exc.where).split()[-1]
        if option not in spec or option == "type":
            raise
        raise ConfigError(f"{group}.{option} ({spec.get('type')})", exc.given, exc.expected) from None


def _check_size(what: str, asserted, actual: int, dataset) -> None:
    if asserted is not None and asserted != actual:
        raise ShapeError(f"model.{what} is {asserted} but dataset {dataset.name!r} has {actual} "
                         f"{'features' if what == 'input_size' else 'outputs'} per sample; "
                         f"set model.{what}={actual} or null (null takes it from the dataset).")


def _check_activation(key: str, spec, registry) -> None:
    """An unknown activation named as one, not as an unknown layer."""
    from nnexp.registry import split_spec

    name, _ = split_spec("activation", spec)
    if ("activation", name) not in registry and name not in ("linear", "identity"):
        # registry.missing also names plugins that failed to load (one may provide it)
        raise registry.missing(f"activation (model.{key})", name, kinds=("activation",))


def build_network(model: dict, dataset, loss, seed: int, registry):
    """The network of ``model`` sized from the dataset: its input from the features, the MLP
    shorthand's output from the targets. An explicit ``layers`` list must end in the
    dataset's output size."""
    from nnexp.network import Network

    n_in, n_out = dataset.n_features, dataset.n_outputs
    _check_size("input_size", model.get("input_size"), n_in, dataset)
    _check_size("output_size", model.get("output_size"), n_out, dataset)
    check_network_size(model, n_in, n_out)
    common = dict(dtype=model["dtype"], seed=seed, init=model.get("init"), registry=registry)
    out_act = model.get("output_activation", "auto")
    listed = model.get("layers") is not None
    if listed:
        layers, appended = _with_output_activation(model["layers"], out_act, loss, registry)
        network = Network(layers, n_in, **common)
        network.appended_head = appended  # said when the run starts (see app.run_experiment)
    else:
        if out_act == "auto":
            out_act = loss.fuses_with or "identity"
        for key, spec in (("activation", model["activation"]), ("output_activation", out_act)):
            _check_activation(key, spec, registry)
        network = Network.mlp(n_in, model["hidden"], n_out, activation=model["activation"],
                              output_activation=out_act, dropout=model["dropout"],
                              batchnorm=model["batchnorm"], **common)
    if network.output_shape != (n_out,):
        raise ShapeError(f"the network outputs (batch, {', '.join(map(str, network.output_shape))}) "
                         f"but dataset {dataset.name!r} has targets of shape (batch, {n_out}); "
                         f"make the last layer of model.layers have {n_out} units.")
    return network


_IDENTITY = (None, "identity", "linear")


def refuse_aliases(model: dict, registry) -> None:
    """The model config's component names must be canonical, as group options are
    (``loss=focal_loss`` is refused the same way): one rule, so a sweep's runs record one
    name for one component. ``identity``/``linear`` stay the two words for no activation."""
    from nnexp.registry import split_spec

    def check(where: str, kinds: tuple[str, ...], spec) -> None:
        if spec in _IDENTITY or spec == "auto" or not isinstance(spec, (str, dict)):
            return
        try:
            name, opts = split_spec(kinds[0], spec)
        except ConfigError:
            return  # reported when the component is built
        kind = next((k for k in kinds if (k, name) in registry), None)
        if kind is None:
            return  # unknown: reported when the component is built
        comp = registry.get(kind, name)
        if name.rpartition(":")[2] != comp.registered_name:
            raise ConfigError(where, name, f"the canonical name {comp.name!r} ({name!r} is an alias; "
                                           "the command line and config files take canonical names "
                                           "only, as for loss=, optimizer=, dataset=, schedule=)")
        if kind == "layer" and "init" in opts:
            check(f"{where}.init", ("initializer",), opts["init"])

    check("model.activation", ("activation",), model.get("activation"))
    check("model.output_activation", ("activation",), model.get("output_activation"))
    check("model.init", ("initializer",), model.get("init"))
    for i, spec in enumerate(model.get("layers") or []):
        if isinstance(spec, dict) and spec.get("type") == "dense" and "activation" in spec:
            check(f"model.layers.{i}.activation", ("activation",), spec["activation"])
            spec = {k: v for k, v in spec.items() if k != "activation"}
        check(f"model.layers.{i}", ("layer", "activation"), spec)


def _with_output_activation(layers: list, out_act, loss, registry) -> tuple[list, str | None]:
    """``model.layers`` with ``model.output_activation`` applied, as for the MLP shorthand: an
    explicit activation is appended unless the list already ends in it; ``auto`` appends what
    the loss fuses with (``softmax`` for cross_entropy) when the list ends in a layer that is
    not an activation. Returns the layers and the name of an activation ``auto`` appended."""
    from nnexp.network import expand_layer_specs
    from nnexp.registry import split_spec

    specs = expand_layer_specs(layers)
    last = specs[-1] if specs else None
    last_name = None if last is None or not isinstance(last, (str, dict)) else split_spec("layer", last)[0]
    last_is_activation = last_name is not None and ("activation", last_name) in registry
    if out_act == "auto":
        if loss.fuses_with and not last_is_activation:
            return [*layers, loss.fuses_with], loss.fuses_with
        return list(layers), None
    if out_act in _IDENTITY:
        return list(layers), None
    _check_activation("output_activation", out_act, registry)
    wanted = split_spec("activation", out_act)[0]
    if last_is_activation and registry.get("activation", last_name).name == registry.get("activation", wanted).name:
        return list(layers), None
    return [*layers, out_act], None


def check_output_head(network, loss, name: str, registry, listed: bool = False) -> None:
    """Refuse a loss and a network output that cannot train together (before any run exists).

    A loss that fuses with an output activation (``fuses_with``: cross_entropy with softmax,
    binary_cross_entropy with sigmoid, kl_div with log_softmax) reads probabilities (or
    log-probabilities) and must have exactly that activation as the network's last layer;
    nnexp then trains on its logits, fused with the loss. Any other output (raw outputs of a
    dense layer, tanh, relu, a softmax for bce...) lets the loss fall below its minimum or
    learn nothing, silently: an :class:`OutputHeadError` instead.
    """
    from nnexp.errors import OutputHeadError

    want = getattr(loss, "fuses_with", None)
    if not want or network.types[-1] == want:
        return
    last, last_name = network.types[-1], network.names[-1]
    is_activation = ("activation", last) in registry
    head = f"{last} ({last_name})" if is_activation else f"raw, with no activation after {last_name}"
    if listed:
        fix = (f"End model.layers with {want}, or leave its last layer without an activation and "
               f"model.output_activation=auto (which appends {want}).")
    else:
        fix = f"Set model.output_activation=auto (or {want})."
    raise OutputHeadError(name, head, f"{want} as the network's last layer (trained fused, on "
                                      "its logits)", fix + " Or pick a loss for this output (mse, huber, ...).")


# -- the config tree without Hydra (fast `nnexp --help`) ---------------------------------------
CONF_DIR = Path(__file__).with_name("conf")


def list_groups(registry) -> dict[str, list[str]]:
    """Config groups and their options: the registry's components and the YAML files."""
    groups = {kind: registry.names(kind) for kind in REGISTRY_GROUPS}
    for folder in sorted(CONF_DIR.iterdir()):
        if folder.is_dir() and folder.name not in ("hydra", "__pycache__"):
            options = groups.setdefault(folder.name, [])
            options.extend(p.stem for p in folder.glob("*.yaml") if p.stem not in options)
    return {group: sorted(options) for group, options in sorted(groups.items())}


def quick_help(registry) -> str:
    """``nnexp --help`` rendered from the same template as Hydra's, without composing a config.

    Composing through Hydra costs ~0.3 s on top of imports; the full composed config is one
    command away (``nnexp --cfg job``, or ``nnexp --help KEY=VALUE`` for Hydra's own help).
    """
    import string

    import yaml

    help_cfg = yaml.safe_load((CONF_DIR / "hydra" / "help" / "nnexp.yaml").read_text())
    primary = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    defaults = [f"{k}={v}" for d in primary["defaults"] if isinstance(d, dict)
                for k, v in d.items() if not k.startswith("override")]
    defaults = [d.replace("=None", "=null") for d in defaults]
    groups = "\n".join(f"{g}: {', '.join(o)}" for g, o in list_groups(registry).items())
    config = ("Defaults: " + " ".join(defaults) + "\nThe composed config: nnexp --cfg job "
              "[overrides]   (or this help with it: nnexp --help [overrides])\n")
    template = help_cfg["template"].replace("${hydra.help.header}", help_cfg["header"])
    template = template.replace("${hydra.help.footer}", help_cfg["footer"])
    return string.Template(template).safe_substitute(APP_CONFIG_GROUPS=groups, CONFIG=config,
                                                     HYDRA_CONFIG_GROUPS="", FLAGS_HELP="")
