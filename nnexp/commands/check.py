"""``nnexp check``: run the conformance kit over installed components.

    nnexp check                      # every component of every kind, built-in or installed
    nnexp check relu dense lion      # by name (aliases and distribution:name work; typos get "did you mean")
    nnexp check --kind optimizer --distribution nnexp-extras --json
    nnexp check --distribution nnexp-sklearn

Prints PASS/FAIL per component with its distribution==version, the failing checks with the
worst analytic-vs-numeric error; exits 1 when any component fails or a plugin failed to load
(checking everything, or that plugin's distribution), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from nnexp.registry import normalize_distribution
from nnexp.testing.kit import CHECKED_KINDS, run_checks, select_components


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnexp check", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="components to check (default: all)")
    p.add_argument("--kind", action="append", choices=CHECKED_KINDS,
                   help="only this kind (repeatable)")
    p.add_argument("--distribution", help="only components from this distribution")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    return p


def _component_line(comp, results) -> list[str]:
    failed = [r for r in results if not r.passed]
    status = "FAIL" if failed else "PASS"
    lines = [f"{status}  {comp.kind:<11} {comp.name:<22} {comp.provenance.requirement:<24} "
             f"{len(results) - len(failed)}/{len(results)} checks"]
    for r in failed:
        lines.append(f"      {r.check}: " + r.message.replace("\n", "\n        "))
    return lines


def _as_json(outcomes, failures) -> dict:
    comps = [{"kind": c.kind, "name": c.name, "plugin": c.provenance.plugin,
              "distribution": c.provenance.distribution, "version": c.provenance.version,
              "passed": all(r.passed for r in results), "checks": [r.to_dict() for r in results]}
             for c, results in outcomes]
    return {"passed": all(c["passed"] for c in comps) and not failures, "components": comps,
            "load_failures": [f.describe() for f in failures]}


def main(argv=None, registry=None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    registry, comps = select_components(registry, kinds=args.kind, names=args.names,
                                        distribution=args.distribution)
    everything = not (args.names or args.kind or args.distribution)
    failures = [f for f in registry.failures if everything or args.distribution and not args.names
                and normalize_distribution(f.distribution) == normalize_distribution(args.distribution)]
    outcomes = [(c, run_checks(c, registry)) for c in comps]
    n_failed = sum(not all(r.passed for r in results) for _, results in outcomes)
    if args.json:
        print(json.dumps(_as_json(outcomes, failures), indent=2))
    else:
        for comp, results in outcomes:
            print("\n".join(_component_line(comp, results)))
        for f in failures:
            print(f"LOAD FAILED  {f.describe()} (run `nnexp plugins`)")
        print(f"{len(outcomes)} component(s) checked: {len(outcomes) - n_failed} passed, "
              f"{n_failed} failed" + (f"; {len(failures)} plugin(s) failed to load." if failures else "."))
    return 1 if n_failed or failures else 0
