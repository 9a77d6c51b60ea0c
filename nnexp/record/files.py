"""Files of a record written atomically, and nested state (JSON + arrays) as one ``.npz``.

Every file a reader may open while the writer runs is written to a temporary name in the
same directory and renamed over the target (``os.replace`` is atomic on POSIX): a reader, or
a crash, never sees half a file. Nothing here uses pickle, and nothing loads one.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: The JSON tree of a state file, stored beside its arrays.
STATE_KEY = "__state__"
_ARRAY = "__array__"


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path`` (hidden, same suffix, so ``np.savez`` keeps the
    name); on success it replaces ``path`` at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: its files are private (0600); these get the usual umask-based mode
    tmp = path.parent / f".{path.stem}.tmp.{os.getpid()}.{secrets.token_hex(4)}{path.suffix}"
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str))


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default


def write_state(path: Path, state: Mapping) -> Path:
    """Write nested ``state`` (dicts, lists, JSON scalars, numpy arrays) to one ``.npz``:
    each array under its key path (``optimizer/state/dense_0.W/m``), the rest as JSON."""
    arrays: dict[str, np.ndarray] = {}
    tree = _split(state, "", arrays)
    with atomic_path(path) as tmp:
        # ignore: numpy's stub lets **kwds fill allow_pickle
        np.savez(tmp, **{STATE_KEY: np.array(json.dumps(tree))}, **arrays)  # type: ignore[arg-type]
    return Path(path)


def read_state(path: Path) -> dict:
    """The state written by :func:`write_state` (arrays loaded without pickle)."""
    with np.load(path, allow_pickle=False) as data:
        tree = json.loads(str(data[STATE_KEY]))
        return _join(tree, data)


def _split(value, key: str, arrays: dict):
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, Mapping):
        return {str(k): _split(v, f"{key}/{k}" if key else str(k), arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(tree, data):
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY}:
            return data[tree[_ARRAY]]
        return {k: _join(v, data) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, data) for v in tree]
    return tree
