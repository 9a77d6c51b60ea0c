"""What a run writes besides metrics: component provenance and tensor dumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.registry import split_spec


def registry_name(registry, kind: str, obj) -> str | None:
    """The registered name whose factory built ``obj`` (a class factory), else None."""
    if obj is None:
        return None
    for comp in registry.components(kind):
        if comp.factory is type(obj):
            return comp.name
    return None


def component_tags(run, dataset=None) -> dict[str, str]:
    """``nnexp.component.<kind>.<name>`` -> ``distribution==version`` for every component used."""
    reg = run.network.registry
    used: list[tuple[str, str]] = []
    for type_name in dict.fromkeys(run.network.types):
        used.append(("layer" if ("layer", type_name) in reg else "activation", type_name))
    for kind, obj in (("loss", run.loss), ("optimizer", run.optimizer), ("schedule", run.schedule)):
        name = registry_name(reg, kind, obj)
        if name:
            used.append((kind, name))
    init = run.network.init or "xavier_uniform"
    if isinstance(init, (str, dict)):
        used.append(("initializer", split_spec("initializer", init)[0]))
    if isinstance(dataset, str):
        used.append(("dataset", dataset))
    elif dataset is not None and registry_name(reg, "dataset", dataset):
        used.append(("dataset", registry_name(reg, "dataset", dataset)))
    tags = {}
    for kind, name in used:
        if (kind, name) in reg:
            comp = reg.get(kind, name)
            tags[f"nnexp.component.{kind}.{comp.name}"] = comp.provenance.requirement
    return tags


def dump_tensors(network, folder: Path) -> None:
    """``grads.npz`` (∂L/∂p of the last step) and ``params.npz``, keyed ``dense_0.W`` etc."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "grads.npz", **network.grads)
    np.savez(folder / "params.npz", **network.params)
