"""Pictures (matplotlib PNGs): component galleries, per-run and per-sweep charts.

Importing this package is free: matplotlib is imported only when a picture is made, so
``nnexp --help`` and training stay fast. Figures are built with ``matplotlib.figure.Figure``
(no pyplot, no global state) in constrained layout, so labels never overlap.

- :func:`plot_activations`, :func:`plot_losses`: every registered activation / loss (with
  installed plugins') and its derivative.
- :func:`draw_run`: a run's pictures from its record (a folder laid out like its MLflow
  artifacts): loss and accuracy curves, decision boundary (2-D data), per-layer gradient norms
  as a heat map (layer x step), gradient histograms over time. :func:`plot_run` draws the
  same from in-memory parts.
- :func:`plot_sweep_curves`, :func:`plot_sweep_metrics`, :func:`plot_layer_gradients`:
  overlaid curves, final metrics by configuration (mean ± std over seeds), and per-layer
  gradient norms across configurations.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "plot_activations": "components", "plot_losses": "components",
    "activation_gallery": "components", "loss_gallery": "components",
    "draw_run": "run", "plot_run": "run", "curves_figure": "run",
    "decision_boundary_figure": "run", "grad_heatmap_figure": "run", "layer_grad_norms": "run",
    "grad_hist_figure": "histograms", "read_record": "record",
    "plot_sweep_curves": "sweep", "plot_sweep_metrics": "sweep", "plot_layer_gradients": "sweep",
    "sweep_curves_figure": "sweep", "sweep_metrics_figure": "sweep",
    "layer_gradients_figure": "sweep",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nnexp.plots.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nnexp.plots' has no attribute {name!r}")
