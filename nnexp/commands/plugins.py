"""``nnexp plugins``: which plugins are installed, what each contributes, and which failed.

Reads the same registry a run uses (built-ins + the ``nnexp`` entry-point group, minus
``NNEXP_BLOCK_PLUGINS``), so what it lists is exactly what a run can use. Plugins that failed to
load are listed with the stage (import, validate, hook, register) and the exception. Name conflicts
are listed with the qualified names that reach each provider. The exit code is 0 even then,
unless ``--strict`` (or ``NNEXP_STRICT_PLUGINS=1``) is set: then the listing is printed and
the failure or conflict is reported as an error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from importlib import metadata

from nnexp.errors import PluginLoadError
from nnexp.plugins import ENTRY_POINT_GROUP, STRICT_ENV, env_blocked, env_strict, load_registry, nnexp_version
from nnexp.registry import KINDS, Provenance

WIDTH = 100
MIN_COL = 16


def is_builtin(provenance) -> bool:
    """Built-in plugins are nnexp's own modules (``nnexp.activations``, ...)."""
    return provenance.builtin


def _failure_dict(failure) -> dict:
    return {"plugin": failure.plugin, "distribution": failure.distribution,
            "version": failure.version, "stage": failure.stage,
            "error_type": type(failure.error).__name__, "error": str(failure.error),
            "traceback": failure.traceback}


def _components(registry) -> dict[str, dict[str, list]]:
    """plugin name -> kind -> [(name, aliases)] in KINDS order."""
    out: dict[str, dict[str, list]] = {}
    for kind in KINDS:
        for comp in registry.components(kind):
            by_kind = out.setdefault(comp.provenance.plugin, {})
            by_kind.setdefault(kind, []).append((comp.name, list(comp.aliases)))
    return out


def _hooks(registry, plugin_name: str) -> list[str]:
    """Lifecycle hooks (``on_*``) a plugin implements: trackers contribute no components."""
    pm = registry.pm
    plugin = pm.get_plugin(plugin_name) if pm is not None else None
    if plugin is None:
        return []
    return sorted(h.name for h in pm.get_hookcallers(plugin) or () if h.name.startswith("on_"))


def _entry(name, prov, components, hooks, errors) -> dict:
    # A refused duplicate ("register") leaves the plugin's other components usable.
    status = "ok" if not errors else "partial"
    if any(e["stage"] != "register" for e in errors):
        status = "failed"
    return {"name": name, "distribution": prov.distribution, "version": prov.version,
            "builtin": is_builtin(prov), "status": status,
            "components": {k: [n for n, _ in v] for k, v in components.items()},
            "aliases": {n: a for v in components.values() for n, a in v if a},
            "hooks": hooks, "errors": errors}


def collect(registry, include_builtins: bool = False) -> dict:
    """Everything ``nnexp plugins`` shows, as JSON-able data."""
    comps = _components(registry)
    errors: dict[str, list] = {}
    for failure in registry.failures:
        errors.setdefault(failure.plugin, []).append(_failure_dict(failure))
    provs = dict(registry.plugins)
    for failure in registry.failures:
        provs.setdefault(failure.plugin,
                         Provenance(failure.plugin, failure.distribution, failure.version))
    entries = [_entry(name, prov, comps.get(name, {}), _hooks(registry, name), errors.get(name, []))
               for name, prov in provs.items() if include_builtins or not is_builtin(prov)]
    entries.sort(key=lambda e: (not e["builtin"], e["name"]))
    conflicts = [{"kind": k, "name": n, "providers": [str(c.provenance) for c in conflict.claimants],
                  "kept": None if conflict.kept is None else str(conflict.kept.provenance),
                  "qualified": conflict.qualified}
                 for (k, n), conflict in sorted(registry.conflicts.items())]
    return {"nnexp": nnexp_version(), "plugins": entries,
            "failures": [_failure_dict(f) for f in registry.failures],
            "conflicts": conflicts, "blocked": blocked_plugins()}


def blocked_plugins() -> list[dict]:
    """Installed entry points that ``NNEXP_BLOCK_PLUGINS`` keeps from loading."""
    blocked = env_blocked()
    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked:
            dist = getattr(ep, "dist", None)
            out.append({"plugin": ep.name,
                        "distribution": dist.metadata["Name"] if dist else "unknown",
                        "version": dist.version if dist else "unknown"})
    return sorted(out, key=lambda d: d["plugin"])


def _wrap(label: str, text: str, col: int) -> str:
    """``  label   text`` with ``text`` wrapped and aligned at column ``col``."""
    # Keep "name (alias)" on one line: a NUL is not whitespace to textwrap.
    out = textwrap.fill(text.replace(" (", "\0("), WIDTH, initial_indent=f"  {label:<{col - 2}}",
                        subsequent_indent=" " * col, break_on_hyphens=False)
    return out.replace("\0", " ")


def _format_entry(entry: dict, col: int) -> list[str]:
    head = f"{entry['name']:<{col}}{entry['distribution']} {entry['version']}"
    if entry["status"] != "ok":
        head += "  FAILED" if entry["status"] == "failed" else "  (some names refused)"
    lines = [head]
    for kind, names in entry["components"].items():
        shown = [f"{n} ({', '.join(entry['aliases'][n])})" if n in entry["aliases"] else n
                 for n in names]
        lines.append(_wrap(kind, ", ".join(shown), col))
    if entry["hooks"]:
        lines.append(_wrap("hooks", ", ".join(entry["hooks"]), col))
    for err in entry["errors"]:
        lines.append(_wrap("error", f"{err['stage']}: {err['error_type']}: {err['error']}", col))
    if not entry["components"] and not entry["hooks"] and not entry["errors"]:
        lines.append(_wrap("", "(contributes nothing)", col))
    return lines


def _conflict_text(conflict: dict) -> str:
    kept = (f"{conflict['kept']} keeps it" if conflict["kept"] else
            f"ambiguous between {' and '.join(conflict['providers'])}")
    return f"{conflict['name']!r}: {kept}; use {', '.join(conflict['qualified'])}"


def format_text(report: dict, include_builtins: bool) -> str:
    """The aligned, human-readable listing."""
    entries = report["plugins"]
    installed = [e for e in entries if not e["builtin"]]
    failed = sum(e["status"] == "failed" for e in entries)
    partial = sum(e["status"] == "partial" for e in entries)
    col = max([MIN_COL] + [len(e["name"]) + 2 for e in entries])
    summary = f"{len(installed)} installed plugin(s)"
    summary += f", {failed} failed to load" if failed else ""
    summary += f", {partial} with names refused" if partial else ""
    n_conflicts = len(report["conflicts"])
    summary += f", {n_conflicts} name conflict(s)" if n_conflicts else ""
    if include_builtins:
        summary = f"{len(entries) - len(installed)} built-in and " + summary
    lines = [summary + ("." if include_builtins else " (built-ins: nnexp plugins --all)."), ""]
    for entry in entries:
        lines += _format_entry(entry, col) + [""]
    if report["conflicts"]:
        lines.append("Name conflicts (a qualified name reaches each provider):")
        lines += [_wrap(c["kind"], _conflict_text(c), col) for c in report["conflicts"]] + [""]
    if report["blocked"]:
        lines.append("Blocked by NNEXP_BLOCK_PLUGINS:")
        lines += [_wrap(b["plugin"], f"{b['distribution']} {b['version']}", col)
                  for b in report["blocked"]] + [""]
    if report["failures"]:
        lines.append(textwrap.fill("Tracebacks: nnexp plugins --json. Skip a plugin: "
                                   "NNEXP_BLOCK_PLUGINS=<plugin>; make load failures fatal: "
                                   "NNEXP_STRICT_PLUGINS=1.", WIDTH, break_on_hyphens=False))
    if not installed and not report["blocked"]:
        lines.insert(1, "Packages with an 'nnexp' entry point add components: see "
                        "docs/plugin-guide.md.")
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="nnexp plugins",
        description="List installed nnexp plugins, their distributions and components.",
        epilog="nnexp plugins new NAME [--kinds K,...] [--dir DIR] writes a new plugin package.")
    parser.add_argument("--all", action="store_true", help="include nnexp's built-in plugins")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--strict", action="store_true",
                        help=f"exit with an error when any plugin failed to load ({STRICT_ENV}=1)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["new"]:  # nnexp plugins new NAME: a package skeleton
        from nnexp.commands.plugin_new import main as new

        return new(argv[1:])
    args = parse_args(argv)
    registry = load_registry(strict=False)  # list first, judge after
    report = collect(registry, include_builtins=args.all)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        sys.stdout.write(format_text(report, args.all))
    if registry.problems() and (args.strict or env_strict()):
        sys.stdout.flush()
        raise PluginLoadError(registry.problems())
    return 0
