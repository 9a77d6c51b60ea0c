"""A training run's whole state as one nested mapping, and back: what a checkpoint holds.

:func:`capture` takes everything :func:`nnexp.fit` needs to continue a run so that the rest of
it is bit-identical to an uninterrupted run; :func:`restore` puts it back into a freshly built
run. Files are not this module's business (see :mod:`nnexp.record.checkpoints`). The mapping::

    format        1
    step, epoch   global step and current epoch (epoch done when len(history) == epoch)
    progress      mid-epoch position {order, start, total, correct}, or None between epochs
    history       {"epochs": [...], "offset": n} (see History.state)
    params        {"dense_0.W": array, ...}      buffers  {"batchnorm_0.running_mean": ...}
    grads         the last step's gradients (what an epoch's end records of them)
    rngs          {"init": bit-generator state, "shuffle": ..., "dropout": ...}
    optimizer     {"t", "lr", "initial_lr", "state": {param: {key: array or scalar}}}
                  (or the optimizer's own ``state_dict()`` when it defines one)
    schedule      the schedule's ``state_dict()`` when it defines one, else {}
    plugins       {name: state} from the ``on_checkpoint`` hook

A plugin optimizer keeps its state in ``self.state`` (per-parameter dicts), ``t`` and ``lr``,
or defines ``state_dict()`` / ``load_state_dict(state)``; layers keep theirs in ``params`` and
``buffers`` and draw only from the context's random streams. Then a checkpoint covers them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nnexp.errors import NnexpError

FORMAT = 1


class CheckpointError(NnexpError):
    """A checkpoint that cannot continue this run (another network, a newer format)."""


def capture(run, plugins: bool = True) -> dict:
    """The state of ``run`` now (arrays copied), with the plugins' parts unless ``plugins=False``."""
    net, progress = run.network, run.progress
    state = {
        "format": FORMAT, "step": run.step, "epoch": run.epoch,
        "progress": None if progress is None else {
            "order": None if progress.order is None else progress.order.copy(),
            "start": progress.start, "total": progress.total, "correct": progress.correct},
        "history": run.history.state(),
        "params": {k: v.copy() for k, v in net.params.items()},
        "grads": {k: v.copy() for k, v in net.grads.items()},
        "buffers": {k: v.copy() for k, v in net.buffers.items()},
        "rngs": {k: rng.bit_generator.state for k, rng in net.rngs.items()},
        "optimizer": _optimizer_state(run.optimizer),
        "schedule": _own_state(run.schedule),
        "plugins": {},
    }
    if plugins and run.hook is not None:
        run.hook.on_checkpoint(run=run, state=state["plugins"])
    return state


def restore(run, state: Mapping) -> None:
    """Put ``state`` back into ``run`` (network, optimizer, random streams, loop position)."""
    from nnexp.train import EpochProgress, History

    if state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint format {state.get('format')!r} is not one this nnexp "
                              f"reads ({FORMAT}); resume it with the nnexp version that wrote it.")
    net = run.network
    _check_fits("parameter", net.params, state["params"])
    _check_fits("buffer", net.buffers, state["buffers"])
    net.set_params(state["params"])
    for key, value in state["buffers"].items():
        net.buffers[key][...] = value
    grads = net.grads
    for key, value in state.get("grads", {}).items():
        if key in grads and np.shape(value) == grads[key].shape:
            grads[key][...] = value
    for key, saved in state["rngs"].items():
        net.rngs[key].bit_generator.state = saved  # in place: layers hold these generators
    _load_optimizer(run.optimizer, state["optimizer"])
    if state.get("schedule") and hasattr(run.schedule, "load_state_dict"):
        run.schedule.load_state_dict(state["schedule"])
    run.step, run.epoch = int(state["step"]), int(state["epoch"])
    run.history = History.from_state(state["history"])
    p = state["progress"]
    run.progress = None if p is None else EpochProgress(
        None if p["order"] is None else np.asarray(p["order"]), int(p["start"]),
        float(p["total"]), float(p["correct"]))
    run.resume_state = dict(state)


def _check_fits(what: str, live: Mapping, saved: Mapping) -> None:
    if set(live) != set(saved):
        missing, extra = sorted(set(live) - set(saved)), sorted(set(saved) - set(live))
        raise CheckpointError(f"the checkpoint does not fit this network: {what}s missing from it: "
                              f"{missing or 'none'}; {what}s the network lacks: {extra or 'none'}. "
                              "A resumed run keeps its model; change training options only.")
    for key, value in saved.items():
        if np.shape(value) != live[key].shape:
            raise CheckpointError(f"the checkpoint does not fit this network: {what} {key} has "
                                  f"shape {np.shape(value)} there and {live[key].shape} here.")


def _own_state(component) -> dict:
    return dict(component.state_dict()) if hasattr(component, "state_dict") else {}


def _optimizer_state(opt) -> dict:
    if hasattr(opt, "state_dict"):
        return {"custom": _own_state(opt)}
    return {"t": opt.t, "lr": float(opt.lr), "initial_lr": float(getattr(opt, "initial_lr", opt.lr)),
            "state": {name: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for name, s in opt.state.items()}}


def _load_optimizer(opt, saved: Mapping) -> None:
    if "custom" in saved:
        opt.load_state_dict(saved["custom"])
        return
    opt.t, opt.lr, opt.initial_lr = int(saved["t"]), float(saved["lr"]), float(saved["initial_lr"])
    params = {name: layer.params[key] for name, layer, key in getattr(opt, "_refs", ())}
    for name, entries in saved["state"].items():
        if name not in opt.state:
            raise CheckpointError(f"the checkpoint's optimizer state names parameter {name!r}, "
                                  "which this network does not have.")
        target = opt.state[name]
        target.clear()
        for key, value in entries.items():
            target[key] = _like(value, params.get(name)) if isinstance(value, np.ndarray) else value


def _like(value: np.ndarray, param: np.ndarray | None) -> np.ndarray:
    """A copy of ``value`` laid out in memory as ``param`` is (as the optimizer made its
    buffers): BLAS axpy, and so the exact rounding of an update, depends on the layout."""
    if param is None or value.shape != param.shape:
        return np.array(value, copy=True)
    out = np.empty_like(param, dtype=value.dtype)
    np.copyto(out, value)
    return out
