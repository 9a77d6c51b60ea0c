"""nnexp's subclasses of Hydra's launchers (see :mod:`nnexp.launchers`).

Hydra instantiates launchers only from the ``hydra_plugins`` namespace, so they live here;
nnexp's sweep callback points ``hydra.launcher._target_`` at them. A module whose Hydra
launcher is not installed (``nnexp[ray]``, ``nnexp[slurm]``) defines nothing.
"""
