"""Config -> MLflow params and tags, within MLflow's limits (no mlflow import).

Values are written as a user types them in YAML or on the command line (``null``, ``true``,
``0.1``, ``[64, 64]``), not as Python reprs (``None``, ``True``), so a param can be pasted
back as an override. The ``tracking`` group says how a run is recorded, not what was
trained: :func:`params_and_tags` makes it tags (``nnexp.tracking.*``), not params.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence

#: MLflow truncates longer param values with only a warning; we cap them ourselves.
PARAM_MAX = 6000
TAG_MAX = 8000
KEY_MAX = 250
TRUNCATED = "...[truncated; full value in config.yaml]"
#: MLflow's own rule (``mlflow.utils.validation``): ``:`` too, except on Windows. Qualified
#: component names (``nnexp-extras:mish``) keep their colon in tag keys.
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]" if os.name == "nt" else r"[^A-Za-z0-9_\-. /:]")


def clean_key(key: str) -> str:
    """A key MLflow accepts: letters, digits and ``_-. /`` (and ``:`` but on Windows); others
    become ``_``."""
    return _BAD_KEY_CHARS.sub("_", str(key))[:KEY_MAX]


def cap(value, limit: int = PARAM_MAX) -> str:
    """``str(value)`` cut to ``limit`` characters, saying so."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - len(TRUNCATED)] + TRUNCATED


def as_typed(value) -> str:
    """A scalar as YAML writes it: ``None`` -> ``null``, ``True`` -> ``true``, ``inf`` ->
    ``.inf``, ``0.1`` -> ``0.1``; strings unchanged; a list of scalars as ``[a, b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if _is_seq(value):
        return "[" + ", ".join(map(as_typed, value)) + "]"
    return str(value)


def _scalar(value) -> bool:
    return not isinstance(value, (Mapping, list, tuple)) and not _is_seq(value)


def _is_seq(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def flatten_config(cfg: Mapping, prefix: str = "") -> dict[str, str]:
    """``{"model": {"hidden": [64, 64]}}`` -> ``{"model.hidden": "[64, 64]"}``.

    Mappings nest with dots; a list of scalars stays one value (a sweep over ``[64],[128]``
    varies one param); a list holding mappings is indexed (``model.layers.0.type``).
    Values are capped at :data:`PARAM_MAX` characters (the full config is an artifact).
    """
    out: dict[str, str] = {}
    for key, value in cfg.items():
        name = clean_key(f"{prefix}{key}")
        if isinstance(value, Mapping) and value:
            out.update(flatten_config(value, name + "."))
        elif _is_seq(value) and value and not all(_scalar(v) for v in value):
            out.update(flatten_config({str(i): v for i, v in enumerate(value)}, name + "."))
        else:
            out[name] = cap(as_typed(value))
    return out


#: Top-level config keys that say how a run is recorded or searched, not what is trained.
AS_TAGS = ("tracking", "optimized_metric")


def params_and_tags(cfg: Mapping, as_tags: Sequence[str] = AS_TAGS) -> tuple[dict[str, str], dict[str, str]]:
    """The composed config as ``(params, tags)``: every key flattened (:func:`flatten_config`)
    as a param, except the keys ``as_tags`` (the ``tracking`` settings, ``optimized_metric``),
    which become tags ``nnexp.<key>`` (``nnexp.tracking.log_every``): how a run was recorded
    is not a hyperparameter, and the params table keeps to what varies the model."""
    params = flatten_config({k: v for k, v in cfg.items() if k not in as_tags})
    chosen = {k: cfg[k] for k in as_tags if k in cfg}
    tags = {f"nnexp.{k}": cap(v, TAG_MAX) for k, v in flatten_config(chosen).items()}
    return params, tags


def finite_items(metrics: Mapping) -> tuple[dict[str, float], list[str]]:
    """``(finite metrics as floats, keys skipped)``: MLflow stores ±inf as ±1.8e308."""
    good, skipped = {}, []
    for key, value in metrics.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            skipped.append(key)
            continue
        if math.isfinite(v):
            good[clean_key(key)] = v
        else:
            skipped.append(key)
    return good, skipped
