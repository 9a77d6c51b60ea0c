"""``nnexp plot activations|losses [names...]``: galleries of every registered component;
``nnexp plot gradients``: per-layer gradient norms across the runs of a sweep;
``nnexp plot run RUN_ID``: a tracked run's pictures, drawn from its artifacts and logged to
its ``plots/``.

Installed plugins' components are included; naming a component that does not exist gets
the registry's "did you mean" (exit code 2), as does a run id the store does not hold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from nnexp.commands.stores import open_store
from nnexp.errors import NnexpError, UnknownComponentError

SUBJECTS = {"activations": "plot_activations", "losses": "plot_losses", "gradients": None,
            "run": None}

EXAMPLES = """examples:
  nnexp plot activations                      every registered activation -> activations.png
  nnexp plot activations relu tanh --out a.png
  nnexp plot losses --out losses.png
  nnexp plot gradients --sweep --out vanishing.png   per-layer gradient norms of the latest sweep
  nnexp plot run 674ef1c2                     a run's pictures (a unique prefix of its id is
                                              enough) -> its plots/ artifacts
  nnexp plot run 674ef1c2 --out pics/         ... and copies in pics/
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnexp plot", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw every registered activation (with its derivative) or loss (with its "
                    "gradient against the prediction, for fixed targets) into one PNG; or "
                    "'gradients': each layer's gradient norm across the runs of a tracked sweep.")
    p.add_argument("subject", help="what to draw: " + ", ".join(SUBJECTS))
    p.add_argument("names", nargs="*", help="only these components (default: all registered); "
                                            "for run: the run's id")
    p.add_argument("--out", help="PNG file to write (default: <subject>.png); for run: a "
                                 "directory to keep copies of the pictures in")
    g = p.add_argument_group("gradients and run (runs read from the MLflow store)")
    g.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
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
    if args.subject == "run":
        return run_pictures(args)
    import nnexp.plots as plots
    from nnexp.plugins import get_registry

    name = SUBJECTS[args.subject]
    assert name is not None  # the subjects without a function are handled above
    draw = getattr(plots, name)
    path = draw(args.out or f"{args.subject}.png", args.names or None, get_registry())
    print(f"wrote {path}")
    return 0


def sweep_layer_gradients(mc, frame, config, epoch: int):
    """One row per (run, layer): the layer's gradient norm averaged over ``epoch``'s steps,
    read from each finished run's ``stats/steps.csv`` artifact, labelled by its config."""
    import pandas as pd

    from nnexp.plots import layer_grad_norms

    keys = [k for k in config if k != "seed"]
    accuracy = next((m for m in ("test_accuracy", "val_accuracy") if m in frame.columns), None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        finished = frame[frame["status"] == "FINISHED"]
        for _, run in (finished.sort_values(keys) if keys else finished).iterrows():
            steps = download_steps(mc, run["run_id"], Path(tmp))
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
    _, mc = open_store(args.uri)
    runs, title = compare.load_runs(mc, args.experiment, args.sweep)
    frame, config, _, _ = runs_frame([compare.record(r) for r in runs])
    table = sweep_layer_gradients(mc, frame, config, args.epoch)
    out = Path(args.out or "gradients.png")
    plot_layer_gradients(table, out=out,
                         title=f"Gradient norm per layer, mean over epoch {args.epoch}\n{title}",
                         ylabel=f"mean ‖∂L/∂θ‖₂ of the layer over epoch {args.epoch} (log scale)")
    print(f"wrote {out}")
    return 0


def download_steps(mc, run_id: str, folder: Path):
    """A run's per-step table (``stats/steps.parquet``, else ``stats/steps.csv``), its epoch
    and gradient-norm columns only."""
    from nnexp.plots.record import STEPS_FILES, read_table

    present = {a.path for a in mc.list_artifacts(run_id, "stats")}
    name = next((f for f in STEPS_FILES if f in present), None)
    if name is None:
        raise NnexpError(f"Run {run_id} has no per-step table ({' or '.join(STEPS_FILES)}).")
    return read_table(mc.download_artifacts(run_id, name, str(folder / run_id)))


# -- nnexp plot run ---------------------------------------------------------------------------
def run_pictures(args) -> int:
    """Download a run's record, draw its pictures, log them to its ``plots/`` artifacts."""
    from nnexp.plots import draw_run
    from nnexp.tracking import store

    if len(args.names) != 1:
        raise NnexpError(f"nnexp plot run takes one run id, got {len(args.names)}"
                         + (f": {' '.join(args.names)}" if args.names else "")
                         + ". Example: nnexp plot run 674ef1c2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri, mc = open_store(args.uri)
    run = find_run(mc, args.names[0], uri)
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory(prefix="nnexp-plot-") as tmp:
        folder = download_record(mc, run, Path(tmp) / "record")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            paths = draw_run(folder, Path(tmp) / "plots", title=run.info.run_name)
        for w in caught:
            print(f"nnexp plot: warning: {w.message}", file=sys.stderr)
        if not paths:
            raise NnexpError(f"Run {run_id} ({run.info.run_name}) has nothing to draw: its artifacts "
                             "hold no stats/ (epochs, steps, grad_hist) or model.npz yet.")
        store.retry(mc.log_artifacts, run_id, str(Path(tmp) / "plots"), "plots")
        copies = _copy(paths, Path(args.out)) if args.out else []
    print(f"run {run_id} ({run.info.run_name}): {len(paths)} picture(s) logged to its plots/")
    for p in paths:
        print(f"  {run.info.artifact_uri}/plots/{p.name}")
    for p in copies:
        print(f"wrote {p}")
    return 0


def _copy(paths, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, out / p.name)) for p in paths]


def find_run(mc, run_id: str, uri: str):
    """The run with id ``run_id``, or the only one whose id starts with it (picture titles
    show 8 digits); anything else is one clear error."""
    from mlflow.exceptions import MlflowException

    try:
        return mc.get_run(run_id)
    except MlflowException:
        pass
    matches = []
    if run_id.isalnum():
        from nnexp.commands.compare import search_all

        ids = [e.experiment_id for e in mc.search_experiments()]
        matches = search_all(mc, ids, f"attributes.run_id LIKE '{run_id}%'") if ids else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        listing = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in matches[:5])
        raise NnexpError(f"Run id {run_id!r} is ambiguous in {uri}: {listing}"
                         f"{' …' if len(matches) > 5 else ''}. Give more of the id.")
    raise NnexpError(f"No run with id {run_id!r} in {uri}. `nnexp runs` lists the store's recent "
                     "runs with their ids (so does the MLflow UI); pass --uri for another store.")


def download_record(mc, run, folder: Path) -> Path:
    """The run's artifacts that pictures are drawn from (:data:`nnexp.plots.record.ARTIFACTS`)
    into ``folder``; without ``stats/epochs.parquet``, the epoch metrics logged to MLflow are
    written there instead (runs recorded before the record had one)."""
    from nnexp.plots.record import ARTIFACTS, EPOCHS_FILE

    run_id = run.info.run_id
    folder.mkdir(parents=True)
    present = {a.path for a in mc.list_artifacts(run_id)}
    for name in ARTIFACTS:
        if name in present:
            mc.download_artifacts(run_id, name, str(folder))
    if not (folder / EPOCHS_FILE).exists():
        frame = epoch_metrics(mc, run)
        if frame is not None:
            (folder / EPOCHS_FILE).parent.mkdir(exist_ok=True)
            frame.to_parquet(folder / EPOCHS_FILE)
    return folder


def epoch_metrics(mc, run):
    """The run's per-epoch metrics from MLflow (keys with no ``/``; not ``step_loss`` or the
    final ``test_*``) as a frame indexed by epoch, or None when it logged none."""
    import pandas as pd

    keys = [k for k in run.data.metrics if "/" not in k and k != "step_loss"
            and not k.startswith("test_")]
    columns = {k: {m.step: m.value for m in mc.get_metric_history(run.info.run_id, k)} for k in keys}
    if not any(columns.values()):
        return None
    frame = pd.DataFrame(columns).sort_index()
    frame.index.name = "epoch"
    return frame
