"""A Hydra sweep's overrides as an Optuna search space (no optuna import until called).

The syntax is Hydra's override grammar, as the hydra-optuna-sweeper plugin reads it, so an
``hparams_search`` config written for it works here:

- ``choice(a, b, c)`` -> categorical (lists such as ``[64,64]`` become their override text),
  and so is ``glob(*)`` over a config group's options;
- ``interval(lo, hi)`` -> uniform float, ``int(interval(lo, hi))`` -> uniform int,
  ``tag(log, interval(lo, hi))`` -> log-uniform;
- ``range(lo, hi, step)`` -> int (float with float bounds), stepped; ``shuffle(...)`` -> categorical;
- anything else (``seed=3``) is fixed: the same override for every trial.
"""

from __future__ import annotations

from collections.abc import Iterable

from nnexp.errors import ConfigError


def search_space(overrides: Iterable[str], config_loader=None) -> tuple[dict, dict[str, str]]:
    """``(distributions by key, fixed overrides by key)`` of ``KEY=VALUE`` override strings.
    A key given twice keeps its last value, as on Hydra's command line. ``glob(...)`` over a
    config group's options needs Hydra's ``config_loader``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space: dict = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create(config_loader).parse_overrides(list(overrides)):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return space, fixed


def distribution(override):
    """The Optuna distribution of one sweep override (see the module docstring)."""
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            return FloatDistribution(value.start, value.stop - value.step, step=value.step)
        return IntDistribution(int(value.start), int(value.stop) - int(value.step), step=int(value.step))
    if override.is_interval_sweep():
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(f"search parameter {override.get_key_element()}", override.input_line,
                      "choice(...), interval(a, b), tag(log, interval(a, b)) or range(a, b, step)")


def trial_overrides(params: dict, fixed: dict[str, str]) -> list[str]:
    """A trial's command-line overrides: its sampled values, then the fixed ones."""
    return [f"{key}={value}" for key, value in {**params, **fixed}.items()]
