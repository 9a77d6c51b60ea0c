"""Which registered components and which plugins took part in a run: its provenance.

A run is tagged ``nnexp.component.<kind>.<name> = distribution==version`` for every component it
used — layers and activations (nested ones too), their initializers, the loss, optimizer,
schedule and dataset — and ``nnexp.plugin.<plugin> = distribution==version`` for every installed
plugin whose lifecycle hooks (``on_*``) took part. Knows nothing of MLflow: the tracker logs
what :func:`provenance_tags` returns.
"""

from __future__ import annotations

from collections.abc import Iterator

from nnexp.base import Activation, Layer
from nnexp.registry import Component, Provenance, Registry, split_spec

#: Layer options that name an initializer: ``init``, ``bias_init``, ``kernel_init``, ...
INIT_SUFFIX = "init"


def component_of(registry: Registry, kind: str, obj) -> Component | None:
    """The component that built ``obj``: by the address :meth:`Registry.create` stamped on it
    (``type_name``), else by its class being a registered factory; None when neither."""
    if obj is None:
        return None
    if isinstance(obj, str):
        return registry.get(kind, obj) if (kind, obj) in registry else None
    name = getattr(obj, "type_name", None)
    if isinstance(name, str) and (kind, name) in registry:
        return registry.get(kind, name)
    return next((c for c in registry.components(kind) if c.factory is type(obj)), None)


def _layer_kind(registry: Registry, layer) -> str:
    """A network's layer is a registry layer when that kind has its name (as Network decides)."""
    name = getattr(layer, "type_name", None)
    if isinstance(name, str) and ("layer", name) in registry:
        return "layer"
    return "activation" if isinstance(layer, Activation) else "layer"


def _nested_layers(layer, seen: set[int]) -> Iterator:
    """``layer`` and every layer or activation it holds as an attribute (an activation layer's
    function, a residual block's activation), depth first, each once."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    for value in vars(layer).values():
        if isinstance(value, Layer):
            yield from _nested_layers(value, seen)


def _initializer_specs(layer, default) -> Iterator:
    """The initializer specs a layer's options name; ``None`` options use the network default."""
    config = layer.config() if hasattr(layer, "config") else {}
    for key, spec in config.items():
        if key.endswith(INIT_SUFFIX) and (spec is None or isinstance(spec, (str, dict))):
            yield default if spec is None else spec


def network_components(network) -> list[Component]:
    """Every layer, activation and initializer a network's layers were built from."""
    registry, default = network.registry, network.init or "xavier_uniform"
    found: list[Component | None] = []
    seen: set[int] = set()
    for top in network.layers:
        for layer in _nested_layers(top, seen):
            found.append(component_of(registry, _layer_kind(registry, layer), layer))
            for spec in _initializer_specs(layer, default):
                found.append(component_of(registry, "initializer", split_spec("initializer", spec)[0]))
    return [c for c in found if c is not None]


def used_components(run, dataset=None) -> list[Component]:
    """Every registered component ``run`` used, each once, in a stable order."""
    registry = run.network.registry
    found: list[Component | None] = list(network_components(run.network))
    for kind, obj in (("loss", run.loss), ("optimizer", run.optimizer), ("schedule", run.schedule),
                      ("dataset", dataset)):
        found.append(component_of(registry, kind, obj))
    unique = {(c.kind, c.name): c for c in found if c is not None}
    return list(unique.values())


def hook_plugins(registry: Registry) -> list[Provenance]:
    """Installed plugins that implement a lifecycle hook (``on_*``): they take part in every run."""
    pm = registry.pm
    if pm is None:
        return []
    names = {impl.plugin_name for hook, caller in vars(pm.hook).items() if hook.startswith("on_")
             for impl in caller.get_hookimpls()}
    return [registry.plugins[n] for n in sorted(names) if n in registry.plugins]


def provenance_tags(run, dataset=None) -> dict[str, str]:
    """``nnexp.component.<kind>.<name>`` and ``nnexp.plugin.<plugin>`` -> ``distribution==version``."""
    tags = {f"nnexp.component.{c.kind}.{c.name}": c.provenance.requirement
            for c in used_components(run, dataset)}
    tags.update({f"nnexp.plugin.{p.plugin}": p.requirement for p in hook_plugins(run.network.registry)})
    return tags
