"""``nnexp plugins new NAME``: write a plugin package that installs and passes its own tests.

    nnexp plugins new demo                              # ./nnexp-demo, one component of every kind
    nnexp plugins new demo --kinds activation,optimizer # only those
    nnexp plugins new my-acts --dir ~/code --kinds activation,hook

The package: ``pyproject.toml`` with the ``nnexp`` entry point, ``src/nnexp_<name>/`` with one
module per kind (each a small, correct component: an activation, a loss, a layer, an optimizer,
a schedule, an initializer, a dataset, a lifecycle hook) and ``plugin.py`` re-exporting their
hooks, and ``tests/`` running nnexp's conformance kit over everything it registers plus one
behaviour test per component. Component names start with the package's name (``demo_isru``).
"""

from __future__ import annotations

import argparse
import re
import string
from pathlib import Path

from nnexp.commands.plugin_templates import INIT, KINDS, PLUGIN, PYPROJECT, README, TEST_HEAD, Kind
from nnexp.errors import ConfigError, UnknownComponentError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*([-_][a-z0-9]+)*$")
ARTICLE = {"activation": "an", "initializer": "an", "optimizer": "an"}


def identifiers(name: str) -> dict[str, str]:
    """``demo`` or ``nnexp-demo`` -> the distribution, import, plugin and name-prefix forms."""
    slug = re.sub(r"^nnexp[-_]", "", name.strip().lower())
    if not NAME_RE.match(slug):
        raise ConfigError("plugins new NAME", name, "lower-case letters and digits, words joined by "
                                                    "'-' or '_', starting with a letter (e.g. 'demo', 'my-acts')")
    prefix = slug.replace("-", "_")
    return {"dist": f"nnexp-{slug.replace('_', '-')}", "module": f"nnexp_{prefix}", "plugin": prefix,
            "p": prefix}


def parse_kinds(text: str | None) -> list[str]:
    """``activation,loss`` -> the kinds, in template order; None -> every kind."""
    if not text:
        return list(KINDS)
    asked = [k.strip() for k in text.split(",") if k.strip()]
    for kind in asked:
        if kind not in KINDS:
            raise UnknownComponentError("plugin template kind", kind, KINDS, hint="")
    return [k for k in KINDS if k in asked]


def _summary(kinds: list[str], names: dict[str, str]) -> str:
    parts = []
    for kind in kinds:
        spec = KINDS[kind]
        if kind == "hook":
            parts.append("a lifecycle hook")
        else:
            registered = ", ".join(string.Template(n).substitute(names) for n in spec.names)
            parts.append(f"{ARTICLE.get(kind, 'a')} {kind} ({registered})")
    return ", ".join(parts)


def render(name: str, kinds: list[str], nnexp_requirement: str) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    ids = identifiers(name)
    specs: dict[str, Kind] = {k: KINDS[k] for k in kinds}
    registered = sorted((k, string.Template(n).substitute(ids)) for k, s in specs.items() for n in s.names)
    values = {**ids, "nnexp": nnexp_requirement, "summary": _summary(kinds, ids),
              "registered": _set_literal(registered),
              "usage": "".join(f"\n    {s.usage}" for s in specs.values()) + "\n",
              "imports": "\n".join(f"from {ids['module']}.{s.module} import {s.hook}  # noqa: F401"
                                   for s in specs.values())}
    fill = lambda text: string.Template(text).substitute(values)  # noqa: E731
    src = f"src/{ids['module']}"
    files = {"pyproject.toml": fill(PYPROJECT), "README.md": fill(README),
             f"{src}/__init__.py": fill(INIT), f"{src}/plugin.py": fill(PLUGIN),
             f"tests/test_{ids['p']}.py": fill(TEST_HEAD) + "".join(fill(s.tests) for s in specs.values())}
    files.update({f"{src}/{s.module}.py": fill(s.source) for s in specs.values()})
    return files


def _set_literal(pairs) -> str:
    """``{("activation", "demo_isru"), ...}`` one pair a line, or ``set()``."""
    if not pairs:
        return "set()"
    return "{\n" + "".join(f"        ({k!r}, {n!r}),\n" for k, n in pairs).replace("'", '"') + "    }"


def write(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``root``, which must not exist yet."""
    if root.exists():
        raise ConfigError("plugins new", str(root), "a directory that does not exist yet "
                                                    "(choose another NAME or --dir)")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _requirement() -> str:
    from nnexp.plugins import nnexp_version

    major_minor = re.match(r"^(\d+)\.(\d+)", nnexp_version())
    return f"nnexp>={major_minor.group(1)}.{major_minor.group(2)}" if major_minor else "nnexp"


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="nnexp plugins new", description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the plugin's name: 'demo' makes the distribution nnexp-demo")
    parser.add_argument("--kinds", help=f"comma-separated, of: {', '.join(KINDS)} (default: all)")
    parser.add_argument("--dir", default=".", help="where to create the package folder (default: here)")
    args = parser.parse_args(argv)
    kinds = parse_kinds(args.kinds)
    ids = identifiers(args.name)
    root = Path(args.dir).expanduser() / ids["dist"]
    files = render(args.name, kinds, _requirement())
    write(root, files)
    print(f"Wrote {root}/ ({_summary(kinds, ids)}):")
    print("\n".join(f"  {rel}" for rel in sorted(files)))
    print(f"\nNext:\n  cd {root}\n  pip install -e \".[test]\"\n  pytest\n"
          f"  nnexp check --distribution {ids['dist']}")
    return 0
