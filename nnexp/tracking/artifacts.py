"""What a run writes besides metrics: component provenance and tensor dumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnexp.provenance import provenance_tags


def component_tags(run, dataset=None) -> dict[str, str]:
    """``nnexp.component.<kind>.<name>`` -> ``distribution==version`` for every component the
    run used (its dataset included), and ``nnexp.plugin.<plugin>`` -> ``distribution==version``
    for every installed plugin whose lifecycle hooks took part (:mod:`nnexp.provenance`)."""
    return provenance_tags(run, dataset)


def dump_tensors(network, folder: Path) -> None:
    """``grads.npz`` (∂L/∂p of the last step) and ``params.npz``, keyed ``dense_0.W`` etc."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "grads.npz", **network.grads)
    np.savez(folder / "params.npz", **network.params)
