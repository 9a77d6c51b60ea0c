"""``hydra/launcher=basic`` (Hydra's default: one job after another in this process) with each
job numbered as the sweep numbers it (:func:`nnexp.launchers.job_numbers`)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins import basic_launcher
from hydra.core.utils import JobReturn

from nnexp.launchers import job_numbers


class BasicLauncher(basic_launcher.BasicLauncher):
    """Hydra's basic launcher. A resumed sweep's jobs are not numbered one after another, so
    each is launched on its own with its number (it runs its jobs one at a time anyway)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        nums = job_numbers(self.config, initial_job_idx, len(job_overrides))
        if nums == list(range(initial_job_idx, initial_job_idx + len(job_overrides))):
            return super().launch(job_overrides, initial_job_idx)
        returns: list[JobReturn] = []
        for num, overrides in zip(nums, job_overrides):  # (super() works in no comprehension)
            returns.extend(super().launch([overrides], num))
        return returns
