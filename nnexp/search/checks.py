"""A search's config, checked in the launching process before its parent run exists.

A sweeper other than the basic one only knows its jobs as it runs them, so
:func:`nnexp.sweep.validate_jobs` cannot see them in advance. For nnexp's Optuna sweeper
this builds a few probe jobs instead: every choice of every categorical parameter, the
others at their low end; and checks that ``optimized_metric`` is one the runs report.
"""

from __future__ import annotations

from nnexp.search.objective import KEY, check_metric
from nnexp.search.space import search_space, trial_overrides


def check_search(config) -> None:
    """Raise a user error (one message, exit 2) for a search that cannot run."""
    from hydra.core.global_hydra import GlobalHydra

    from nnexp.search.sweeper import TARGET
    from nnexp.sweep import validate_jobs

    sweeper = config.hydra.sweeper
    ours = sweeper.get("_target_") == TARGET
    if not ours and not config.get(KEY):
        return
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()] if ours else []
    space, fixed = search_space(params + list(config.hydra.overrides.task),
                                GlobalHydra.instance().config_loader())
    jobs = probe_jobs(space, fixed)
    validate_jobs(config, jobs)
    check_metric(config.get(KEY), _parts(config, jobs[0]), required=ours)


def probe_jobs(space: dict, fixed: dict[str, str]) -> list[list[str]]:
    """Overrides of jobs that between them use every categorical choice (others at the
    first choice / the low end of their range)."""
    base = {key: _first(dist) for key, dist in space.items()}
    jobs = [trial_overrides(base, fixed)]
    for key, dist in space.items():
        for choice in getattr(dist, "choices", ())[1:]:
            jobs.append(trial_overrides({**base, key: choice}, fixed))
    return jobs


def _first(dist):
    choices = getattr(dist, "choices", None)
    return choices[0] if choices else dist.low


def _parts(config, overrides: list[str]):
    """The built parts of one job's config (the config already passed validate_jobs)."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from nnexp.config import build_parts
    from nnexp.plugins import get_registry

    job_cfg = GlobalHydra.instance().config_loader().load_sweep_config(config, list(overrides))
    with open_dict(job_cfg):
        del job_cfg["hydra"]
    return build_parts(job_cfg, get_registry())
