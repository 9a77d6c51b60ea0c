"""nnexp's Hydra sweeper over current Optuna (``hydra/sweeper=nnexp_optuna``).

Hydra imports every module under ``hydra_plugins`` to find plugins, and instantiates only
classes defined there; so this module names the sweeper and registers its config, and the
work is in :mod:`nnexp.search.sweeper`.
"""

from hydra.core.config_store import ConfigStore

from nnexp.search import sweeper as _impl  # the module, so Hydra's scan sees one sweeper class


class NnexpOptunaSweeper(_impl.OptunaSearch):
    """Optuna samples, Hydra's launcher runs the trials: see :mod:`nnexp.search.sweeper`."""


ConfigStore.instance().store(group="hydra/sweeper", name="nnexp_optuna", node=_impl.OptunaConf,
                             provider="nnexp")
