"""Deliberately broken plugin packages, and a helper that really installs packages for tests.

Each sub-directory is a complete one-module distribution with an ``nnexp`` entry point:

- ``broken_import``: importing it fails (a missing dependency);
- ``hook_raises``: its ``register_activations`` registers one activation, then raises;
- ``duplicate``: registers ``relu`` and ``mse`` (built-ins' names), ``fixture_twin`` (which
  ``twin`` registers too) and ``fixture_cube``: name conflicts, resolved by qualified names;
- ``wrong_backward``: ``bad_tanh`` claims ``f'(z) = 1 - tanh(z)``;
- ``misspelled``: implements ``register_activation`` (no such hook);

two healthy plugins: ``listener``, with lifecycle hooks only (it prints to stderr), and
``twin`` (``fixture_twin``, ``twin_only``); and ``crash``, whose run with seed 13 SIGKILLs its
own process (a job dying as if out of memory).

:func:`pip_install` installs projects with ``pip install --target`` into a directory that a
subprocess then gets on ``PYTHONPATH``: nnexp discovers them through the real
``*.dist-info/entry_points.txt`` metadata, exactly as after a ``pip install``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
BROKEN = ("broken_import", "hook_raises", "duplicate", "wrong_backward", "misspelled")
LISTENER = "listener"
TWIN = "twin"
CRASH = "crash"
BIN = Path(sys.executable).parent
NNEXP = str(BIN / "nnexp")


def pip_install(projects, target: Path, work: Path) -> Path:
    """Install project directories into ``target`` (copied to ``work`` first, so build
    artifacts never land in the source tree); return ``target``."""
    copies = []
    for project in map(Path, projects):
        copy = work / project.name
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        copies.append(str(copy))
    # No build isolation and no index: the venv's setuptools builds them, offline and fast.
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
           "--no-build-isolation", "--target", str(target), *copies]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return target


def run(args, site: Path | None = None, timeout: float = 120, cwd: Path | None = None,
        **env) -> subprocess.CompletedProcess:
    """Run a command (in ``cwd``, default a fresh temporary directory) with ``site`` on PYTHONPATH and extra environment variables;
    the plugin block and strict switches of the calling shell are dropped."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("NNEXP_BLOCK_PLUGINS", "NNEXP_STRICT_PLUGINS")}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    full_env.update(env)
    if cwd is None:  # never the checkout: a run leaves Hydra's outputs/ in its launch directory
        cwd = Path(tempfile.mkdtemp(prefix="nnexp-test-"))
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def python(code: str, site: Path | None = None, **env) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter of this venv."""
    return run([sys.executable, "-c", code], site, **env)
