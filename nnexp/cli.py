"""The ``nnexp`` command: subcommands by name, anything else is a Hydra experiment run.

Subcommand modules are imported only when used, so ``nnexp --help`` stays fast
(mlflow alone takes ~1.5 s to import).
"""

from __future__ import annotations

import importlib
import sys

from nnexp.errors import NnexpError

#: subcommand -> "module:function"; the function takes the remaining argv and returns an exit code.
SUBCOMMANDS = {
    "plugins": "nnexp.commands.plugins:main",
    "check": "nnexp.commands.check:main",
    "compare": "nnexp.commands.compare:main",
    "plot": "nnexp.commands.plot:main",
    "explain": "nnexp.commands.explain:main",
}


def run_subcommand(name: str, argv: list[str]) -> int:
    module, func = SUBCOMMANDS[name].split(":")
    try:
        return int(getattr(importlib.import_module(module), func)(argv) or 0)
    except NnexpError as exc:
        print(f"nnexp {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        sys.exit(run_subcommand(argv[0], argv[1:]))
    if "--version" in argv or argv == ["-V"]:  # nnexp's, not Hydra's (its own --version)
        from nnexp.plugins import nnexp_version

        print(f"nnexp {nnexp_version()}")
        sys.exit(0)
    from nnexp.app import main as app_main  # the Hydra experiment app

    sys.exit(app_main(argv))


if __name__ == "__main__":
    main()
