"""``nnexp plot activations|losses [names...]``: galleries of every registered component;
``nnexp plot gradients``: per-layer gradient norms across the runs of a sweep.

Installed plugins' components are included; naming a component that does not exist gets
the registry's "did you mean" (exit code 2).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from nnexp.errors import UnknownComponentError

SUBJECTS = {"activations": "plot_activations", "losses": "plot_losses", "gradients": None}

EXAMPLES = """examples:
  nnexp plot activations                      every registered activation -> activations.png
  nnexp plot activations relu tanh --out a.png
  nnexp plot losses --out losses.png
  nnexp plot gradients --sweep --out vanishing.png   per-layer gradient norms of the latest sweep
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnexp plot", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw every registered activation (with its derivative) or loss (with its "
                    "gradient against the prediction, for fixed targets) into one PNG; or "
                    "'gradients': each layer's gradient norm across the runs of a tracked sweep.")
    p.add_argument("subject", help="what to draw: " + ", ".join(SUBJECTS))
    p.add_argument("names", nargs="*", help="only these components (default: all registered)")
    p.add_argument("--out", help="PNG file to write (default: <subject>.png)")
    g = p.add_argument_group("gradients (runs read from the MLflow store)")
    g.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI, "
                   "else sqlite:///mlflow.db here)")
    g.add_argument("--experiment", "-e", help="experiment name (default: the most recent)")
    g.add_argument("--sweep", "-s", nargs="?", const="latest",
                   help="a sweep's parent run id, or no value for the latest sweep")
    g.add_argument("--epoch", type=int, default=1,
                   help="average each layer's gradient norm over this epoch's steps (default 1)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.subject not in SUBJECTS:
        raise UnknownComponentError("plot subject", args.subject, SUBJECTS, hint="")
    if args.subject == "gradients":
        return plot_gradients(args)
    import nnexp.plots as plots
    from nnexp.plugins import get_registry

    draw = getattr(plots, SUBJECTS[args.subject])
    path = draw(args.out or f"{args.subject}.png", args.names or None, get_registry())
    print(f"wrote {path}")
    return 0


def sweep_layer_gradients(mc, frame, config, epoch: int):
    """One row per (run, layer): the layer's gradient norm averaged over ``epoch``'s steps,
    read from each finished run's ``stats/steps.csv`` artifact, labelled by its config."""
    import pandas as pd

    from nnexp.plots import layer_grad_norms
    from nnexp.plots.run import steps_frame

    keys = [k for k in config if k != "seed"]
    accuracy = next((m for m in ("test_accuracy", "val_accuracy") if m in frame.columns), None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        finished = frame[frame["status"] == "FINISHED"]
        for _, run in (finished.sort_values(keys) if keys else finished).iterrows():
            steps = steps_frame(mc.download_artifacts(run["run_id"], "stats/steps.csv", tmp))
            means = layer_grad_norms(steps)[steps["epoch"] == epoch].mean()
            label = ", ".join(f"{k.rsplit('.', 1)[-1]}={run[k]}" for k in keys) or str(run["run_name"])
            if accuracy:
                label += f"  ({accuracy.replace('_accuracy', ' acc.')} {float(run[accuracy]):.2f})"
            rows += [{"config": label, "layer": layer, "grad_norm": v} for layer, v in means.items()]
    return pd.DataFrame(rows)


def plot_gradients(args) -> int:
    """Per-layer gradient norms of every run of a sweep (or experiment) in one chart."""
    from nnexp.commands import compare
    from nnexp.plots import plot_layer_gradients
    from nnexp.tracking.summary import runs_frame

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run is noise
    _, mc = compare.open_store(args.uri)
    runs, title = compare.load_runs(mc, args.experiment, args.sweep)
    frame, config, _, _ = runs_frame([compare.record(r) for r in runs])
    table = sweep_layer_gradients(mc, frame, config, args.epoch)
    out = Path(args.out or "gradients.png")
    plot_layer_gradients(table, out=out,
                         title=f"Gradient norm per layer, mean over epoch {args.epoch}\n{title}",
                         ylabel=f"mean ‖∂L/∂θ‖₂ of the layer over epoch {args.epoch} (log scale)")
    print(f"wrote {out}")
    return 0
