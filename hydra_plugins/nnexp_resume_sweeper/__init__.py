"""nnexp's sweeper for resuming a sweep (``hydra/sweeper=nnexp_resume``, set by ``nnexp resume``).

Hydra imports every module under ``hydra_plugins`` to find plugins and instantiates only
classes defined there: this module names the sweeper and registers its config; the work is in
:mod:`nnexp.sweep_resume`.
"""

from hydra.core.config_store import ConfigStore

from nnexp import sweep_resume as _impl


class NnexpResumeSweeper(_impl.ResumeSweep):
    """Launches the jobs a sweep's resume plan names: see :mod:`nnexp.sweep_resume`."""


ConfigStore.instance().store(group="hydra/sweeper", name="nnexp_resume", node=_impl.ResumeConf,
                             provider="nnexp")
