"""Train-step speed: nnexp's ``Trainer.train_step`` against an identical PyTorch CPU model.

Cases (issue 2, "Speed"):

- ``mlp``: 784-256-256-10 ReLU MLP, softmax cross-entropy, SGD, batch 128, float32.
  Target: nnexp step time <= 0.9x PyTorch's. The same maths hand-written in numpy is timed
  too, the reference the engine's overhead is read against.
- ``tutorial-b1``, ``tutorial-b32``: the tutorial's 4-2-3 network (ReLU, sigmoid, half squared
  error), SGD, batch 1 and 32, where per-call overhead dominates. Target: >= 5x PyTorch's steps/s.

Everything runs on ONE BLAS/OpenMP thread (threadpoolctl, ``torch.set_num_threads(1)``):
two-thread timings swing 2-5x with outside load on a shared machine. nnexp and torch blocks
alternate, repetition after repetition, and the medians are compared, so drifting load hits
both sides alike. Run (the command RESULTS.md records)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_step.py
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import nnexp
from nnexp.data import one_hot

TARGETS = {"mlp": ("<=", 0.9), "tutorial-b1": (">=", 5.0), "tutorial-b32": (">=", 5.0)}


# -- the cases -------------------------------------------------------------------------------------
def mlp_case(batch: int = 128, seed: int = 0):
    """nnexp trainer, its data, and the identical torch model builder for the MLP case."""
    net = nnexp.Network.mlp(784, [256, 256], 10, activation="relu", output_activation="softmax",
                            seed=seed)
    trainer = nnexp.Trainer(net, loss="cross_entropy", optimizer={"type": "sgd", "lr": 0.01})
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, 784)).astype(np.float32)
    labels = rng.integers(0, 10, size=batch)
    return trainer, X, one_hot(labels, 10).astype(np.float32), labels


def tutorial_case(batch: int, seed: int = 0):
    net = nnexp.Network.mlp(4, [2], 3, activation="relu", output_activation="sigmoid", seed=seed)
    trainer = nnexp.Trainer(net, loss="half_squared_error", optimizer={"type": "sgd", "lr": 0.01})
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, 4)).astype(np.float32)
    Y = rng.uniform(size=(batch, 3)).astype(np.float32)
    return trainer, X, Y


def nnexp_step(trainer, X, Y) -> Callable[[], object]:
    return lambda: trainer.train_step(X, Y)


def torch_model(torch, net: nnexp.Network):
    """The same layers and weights in PyTorch (softmax is left to CrossEntropyLoss, as nnexp
    fuses it into the loss)."""
    mods = []
    for t, layer in zip(net.types, net.layers):
        if t == "dense":
            lin = torch.nn.Linear(*reversed(layer.params["W"].shape))
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["W"]))
                lin.bias.copy_(torch.from_numpy(layer.params["b"]))
            mods.append(lin)
        elif t in ("relu", "sigmoid"):
            mods.append(torch.nn.ReLU() if t == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*mods)


def torch_step(torch, net: nnexp.Network, X, Y, loss: str, labels=None) -> Callable[[], object]:
    """One SGD step of the identical PyTorch model, written as a user would write it."""
    model = torch_model(torch, net)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.from_numpy(X)
    if loss == "cross_entropy":
        target, loss_fn = torch.from_numpy(labels), torch.nn.CrossEntropyLoss()
    else:  # the tutorial's half squared error: 0.5 * sum over outputs, mean over the batch
        target = torch.from_numpy(Y)
        loss_fn = lambda out, y: 0.5 * ((out - y) ** 2).sum() / len(y)  # noqa: E731

    def step():
        opt.zero_grad()
        value = loss_fn(model(x), target)
        value.backward()
        opt.step()
        return value

    return step


def numpy_mlp_step(net: nnexp.Network, X, Y, lr: float = 0.01) -> Callable[[], object]:
    """The MLP step as one would hand-write it in numpy: same maths, no framework."""
    Ws = [net.params[f"dense_{i}.W"].copy() for i in range(3)]  # C order, as one writes it
    bs = [net.params[f"dense_{i}.b"].copy() for i in range(3)]

    def step():
        acts = [X]
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = acts[-1] @ W.T
            z += b
            acts.append(np.maximum(z, 0, out=z) if i < 2 else z)
        d = _softmax_cross_entropy_grad(acts[-1], Y)
        for i in (2, 1, 0):  # dL/dW = dᵀ a, dL/db = Σ d, dL/da = d W (masked by relu')
            gW, gb = d.T @ acts[i], d.sum(axis=0)
            if i:
                d = d @ Ws[i]
                d *= acts[i] > 0
            Ws[i] -= lr * gW
            bs[i] -= lr * gb

    return step


def _softmax_cross_entropy_grad(z, Y):
    """dL/dz of the output under softmax cross-entropy: ``(softmax(z) - y) / n``."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return (z - Y) * (1.0 / len(z))


# -- timing --------------------------------------------------------------------------------------
def calibrate(fn, min_time: float) -> int:
    """Steps per timed block, so that one block lasts about ``min_time`` seconds."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t >= min_time / 4:
            return max(1, int(n * min_time / (time.perf_counter() - t)))
        n *= 2


def interleaved(fns: dict[str, Callable], repeats: int, min_time: float) -> dict[str, list[float]]:
    """Seconds per step for each function, blocks alternating over ``repeats`` rounds."""
    for fn in fns.values():  # warm caches, allocators and lazy init
        for _ in range(3):
            fn()
    counts = {name: calibrate(fn, min_time) for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            n = counts[name]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t) / n)
    return times


# -- report --------------------------------------------------------------------------------------
def environment(torch) -> list[str]:
    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
            f"threads={i.get('num_threads')}" for i in threadpool_info()]
    env = {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return [
        f"python {platform.python_version()}  numpy {np.__version__}  nnexp {nnexp.__version__}  "
        f"torch {torch.__version__ if torch else '(not installed)'}",
        f"cpu: {cpu_name()}  ({os.cpu_count()} logical cores)",
        "thread pools: " + "; ".join(blas),
        "env: " + "  ".join(f"{k}={v}" for k, v in env.items())
        + "  load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def summarize(case: str, times: dict[str, list[float]]) -> list[str]:
    """Per-side medians, and the target checked on the median of the per-round ratios
    (each round's blocks ran back to back, so a ratio within a round shares its load)."""
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [f"  {name:<6} {med[name] * 1e3:8.4f} ms/step {1 / med[name]:9.1f} steps/s  (best "
             f"{min(v) * 1e3:.4f}, quartiles {_q(v, 0) * 1e3:.4f}-{_q(v, 2) * 1e3:.4f} ms, "
             f"{len(v)} blocks)" for name, v in times.items()]
    if "torch" in med:
        op, target = TARGETS[case]
        paired = [a / b if op == "<=" else b / a for a, b in zip(times["nnexp"], times["torch"])]
        value = statistics.median(paired)
        ok = value <= target if op == "<=" else value >= target
        what = "step time nnexp/torch" if op == "<=" else "speed nnexp/torch"
        lines.append(f"  {what} = {value:.3f}x (quartiles {_q(paired, 0):.3f}-{_q(paired, 2):.3f}; "
                     f"target {op} {target}x: {'MET' if ok else 'MISSED'})")
    if "numpy" in med:
        lines.append(f"  nnexp step time over hand-written numpy = {med['nnexp'] / med['numpy']:.3f}x")
    return lines


def _q(values, i: int) -> float:
    return statistics.quantiles(values, n=4)[i] if len(values) > 1 else values[0]


def run_case(case: str, torch, repeats: int, min_time: float) -> list[str]:
    if case == "mlp":
        trainer, X, Y, labels = mlp_case()
        fns = {"nnexp": nnexp_step(trainer, X, Y), "numpy": numpy_mlp_step(trainer.network, X, Y)}
        loss = "cross_entropy"
        header = "784-256-256-10 relu MLP, softmax cross-entropy, sgd, batch 128, float32"
    else:
        batch = int(case.rsplit("b", 1)[1])
        trainer, X, Y = tutorial_case(batch)
        fns, labels, loss = {"nnexp": nnexp_step(trainer, X, Y)}, None, "half_squared_error"
        header = f"tutorial 4-2-3 (relu, sigmoid, half squared error), sgd, batch {batch}, float32"
    if torch is not None:
        fns["torch"] = torch_step(torch, trainer.network, X, Y, loss, labels)
        ours, theirs = fns["nnexp"](), fns["torch"]().item()
        if not math.isclose(ours, theirs, rel_tol=1e-4):  # same weights: same first loss
            raise SystemExit(f"{case}: the models differ: first loss {ours} (nnexp), {theirs} (torch)")
    return [f"[{case}] {header}", *summarize(case, interleaved(fns, repeats, min_time))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--repeats", type=int, default=15, help="alternating blocks per side")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timed block")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
    # threadpoolctl limits only libraries already loaded: load scipy's OpenBLAS (the
    # optimizers' axpy) now, or it would run its own threads inside the limited block.
    import scipy.linalg.blas  # noqa: F401

    with threadpool_limits(limits=1):
        print("\n".join(environment(torch)), flush=True)
        for case in args.cases:
            print("\n".join(run_case(case, torch, args.repeats, args.min_time)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
