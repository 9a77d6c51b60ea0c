"""``nnexp explain``: every factor of the chain rule for one sample, beside finite differences.

With no options it explains the tutorial's network with SPEC.md's weights, ``x`` and ``y``.
Any architecture option (or ``--seed``) builds that network from registered components with
seeded random weights and a seeded random sample instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nnexp.errors import ConfigError

EXAMPLES = """examples:
  nnexp explain                          the tutorial's network, SPEC.md numbers
  nnexp explain --hidden 3,2 --activation tanh --output-activation softmax \\
                --loss cross_entropy --seed 1
  nnexp explain --json --out explain.json
  nnexp explain --model model.npz --loss cross_entropy   a run's saved network
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnexp explain", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run one forward and backward pass of a small network on one sample and print "
                    "every factor of the chain rule (z1, a1, ..., L, dL/da2, da2/dz2, delta2, "
                    "dL/dW2, ...) beside its central finite difference, in float64.")
    p.add_argument("--inputs", type=int, help="input size (default 4)")
    p.add_argument("--hidden", help="hidden layer sizes, comma-separated (default 2)")
    p.add_argument("--outputs", type=int, help="output size (default 3)")
    p.add_argument("--activation", help="hidden activation, any registered name (default relu)")
    p.add_argument("--output-activation", help="output activation (default sigmoid)")
    p.add_argument("--init", help="weight initializer for random weights (default xavier_uniform)")
    p.add_argument("--model", type=Path,
                   help="explain a saved network instead (a run's model.npz artifact)")
    p.add_argument("--loss", help="loss, any registered name (default half_squared_error)")
    p.add_argument("--seed", type=int, help="draw weights, x and y from this seed instead of SPEC.md's")
    p.add_argument("--x", help="the sample, comma-separated")
    p.add_argument("--y", help="the target, comma-separated")
    p.add_argument("--decimals", type=int, default=10, help="decimals printed (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--out", type=Path, help="also write the output to this file")
    return p


def _numbers(where: str, text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ConfigError(where, text, "comma-separated numbers, e.g. 0.5,-1,2,0.25") from None


def _sizes(text: str | None) -> list[int]:
    values = _numbers("--hidden", text) or []
    if not all(v == int(v) and v >= 1 for v in values):
        raise ConfigError("--hidden", text, "comma-separated layer sizes >= 1, e.g. 3,2")
    return [int(v) for v in values]


def build(args):
    """(network, x, y, loss) for the arguments: the tutorial unless anything was changed."""
    from nnexp import explain as ex
    from nnexp.network import Network
    from nnexp.plugins import get_registry

    registry = get_registry()
    loss = args.loss or ex.SPEC_LOSS
    arch = (args.inputs, args.hidden, args.outputs, args.activation, args.output_activation,
            args.init, args.seed)
    if args.model is not None:
        net = _load(args.model, registry)
        x, y = ex.sample_for(net, registry.create("loss", loss), args.seed or 0)
    elif all(v is None for v in arch):
        net, x, y = ex.tutorial_network(registry), ex.SPEC_X, ex.SPEC_Y
    else:
        net = Network.mlp(args.inputs or 4, _sizes(args.hidden or "2"), args.outputs or 3,
                          activation=args.activation or "relu",
                          output_activation=args.output_activation or "sigmoid",
                          init=args.init, seed=args.seed or 0, dtype="float64", registry=registry)
        x, y = ex.sample_for(net, registry.create("loss", loss), args.seed or 0)
    x = _numbers("--x", args.x) or x
    y = _numbers("--y", args.y) or y
    return net, x, y, loss


def _load(path: Path, registry):
    from nnexp.errors import DataError
    from nnexp.network import Network

    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"--model {str(path)!r} {what}; expected a network saved by "
                        "Network.save (a run's model.npz artifact).")
    try:
        return Network.load(path, registry=registry)
    except DataError as exc:
        exc.args = (f"--model {exc}",)
        raise


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from nnexp.explain import explain
    from nnexp.optim import check_int, check_seed

    check_int("--decimals", args.decimals, 0, "a whole number of decimals >= 0")
    if args.seed is not None:
        check_seed("--seed", args.seed)

    net, x, y, loss = build(args)
    result = explain(net, x, y, loss)
    text = (json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n" if args.json
            else result.to_text(args.decimals))
    sys.stdout.write(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0
