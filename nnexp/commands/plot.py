"""``nnexp plot activations|losses [names...]``: galleries of every registered component.

Installed plugins' components are included; naming a component that does not exist gets
the registry's "did you mean" (exit code 2).
"""

from __future__ import annotations

import argparse

from nnexp.errors import UnknownComponentError

SUBJECTS = {"activations": "plot_activations", "losses": "plot_losses"}

EXAMPLES = """examples:
  nnexp plot activations                      every registered activation -> activations.png
  nnexp plot activations relu tanh --out a.png
  nnexp plot losses --out losses.png
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnexp plot", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw every registered activation (with its derivative) or loss (with its "
                    "gradient against the prediction, for fixed targets) into one PNG.")
    p.add_argument("subject", help="what to draw: " + " or ".join(SUBJECTS))
    p.add_argument("names", nargs="*", help="only these components (default: all registered)")
    p.add_argument("--out", help="PNG file to write (default: <subject>.png)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.subject not in SUBJECTS:
        raise UnknownComponentError("plot subject", args.subject, SUBJECTS, hint="")
    import nnexp.plots as plots
    from nnexp.plugins import get_registry

    draw = getattr(plots, SUBJECTS[args.subject])
    path = draw(args.out or f"{args.subject}.png", args.names or None, get_registry())
    print(f"wrote {path}")
    return 0
