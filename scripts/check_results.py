#!/usr/bin/env python
"""Re-run every command behind the numbers of README.md's "Results" table and docs/results.md,
and fail (exit 1) when a number the page states has drifted from what the command gives now.

Each stated number is read from the page itself (so editing a page is checked too) and
compared with a fresh measurement:

- a result (accuracy, loss, gradient ratio) must round to the stated value: it may differ
  from it by half a unit of its last stated digit (``0.27``: 0.005; ``5e-7``: 0.5e-7;
  ``98.05 %``: 0.005 %), or by 0.1 % of it where the CLI prints only 4 significant digits; a
  whole number written ``1.0`` means exactly 1 (within that 0.1 %); counts must be equal;
- a time is a claim about its order, not its digits: CPU seconds may be up to 3x off, wall
  seconds (of training, of a whole command) up to 8x, since the machine is shared and a
  concurrent CI run or test suite slows wall time by 3-4x (measured while writing this).

A claim the checker cannot find on its page fails too (the page changed: update this script).
Every command runs with ``tracking=off`` (except the one whose stated time includes tracking)
in a temporary directory. Needs the nnexp-sklearn plugin (digits); ``--with-search`` also
re-runs the Optuna search of docs/results.md (needs optuna; about 2-3 more minutes).

    python scripts/check_results.py                # 1 m 45 s to 3 min on the 2-core machine (131 numbers)
    python scripts/check_results.py --with-search
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README, RESULTS = ROOT / "README.md", ROOT / "docs" / "results.md"
NNEXP = Path(sys.executable).with_name("nnexp")
CPU_FACTOR, WALL_FACTOR = 3.0, 8.0
CLI_RELATIVE = 1e-3  # the CLI prints metrics with 4 significant digits
RUN_LINE = re.compile(r"^nnexp: run (\S+) (\w+) in ([\d.]+) s: (.*?)(?: \(val_/test_ on.*)?$")
SWEEP_ROW = re.compile(r"^  #(\d+)\s+(\w+)\s+(.*?)\s{2,}(\S.*?)(?: \(val_/test_ on.*)?$")


class Check:
    def __init__(self):
        self.failures: list[str] = []
        self.count = 0

    def value(self, where: str, stated: str, measured: float, scale: float = 1.0) -> None:
        """``stated`` (text from the page, in units of ``scale``: 100 for a percentage)
        against ``measured``: within half a unit of the last stated digit, or 0.1 %."""
        self.count += 1
        want = float(stated) / scale
        whole = re.fullmatch(r"\d+\.0", stated) is not None
        tol = max(0 if whole else _last_digit_unit(stated) / scale / 2, abs(want) * CLI_RELATIVE)
        ok = abs(measured - want) <= tol * (1 + 1e-9)
        self._say(ok, where, f"states {stated}{'' if scale == 1 else ' %'}, measured "
                             f"{measured * scale:.6g} (tolerance ±{tol * scale:.3g})")

    def seconds(self, where: str, stated: str, measured: float, cpu: bool = False) -> None:
        self.count += 1
        want, factor = float(stated), CPU_FACTOR if cpu else WALL_FACTOR
        ok = want / factor <= measured <= want * factor
        self._say(ok, where, f"states {stated} s, measured {measured:.2f} s "
                             f"({'CPU' if cpu else 'wall'}, within {factor:g}x)")

    def equal(self, where: str, stated, measured) -> None:
        self.count += 1
        self._say(stated == measured, where, f"states {stated}, measured {measured}")

    def missing(self, where: str, pattern: str) -> None:
        self.count += 1
        self._say(False, where, f"no text matching {pattern!r}: the page changed, update "
                                "scripts/check_results.py")

    def _say(self, ok: bool, where: str, text: str) -> None:
        print(f"{'ok  ' if ok else 'DRIFT'} {where}: {text}", flush=True)
        if not ok:
            self.failures.append(f"{where}: {text}")


def _last_digit_unit(text: str) -> float:
    """``0.27`` -> 0.01, ``5e-7`` -> 1e-7, ``1.0`` -> 0.1, ``352`` -> 1."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def find(check: Check, where: str, text: str, pattern: str):
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        check.missing(where, pattern)
    return match


# -- running commands --------------------------------------------------------------------------
def nnexp(args: list[str], cwd: Path, tracking: bool = False) -> tuple[str, float]:
    """stdout and wall seconds of ``nnexp ARGS`` (tracking=off unless ``tracking``)."""
    cmd = [str(NNEXP), *args, *([] if tracking else ["tracking=off"])]
    print(f"$ nnexp {' '.join(args)}{'' if tracking else ' tracking=off'}", flush=True)
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"check_results: `{' '.join(cmd)}` failed ({out.returncode}):\n{out.stderr}")
    return out.stdout, seconds


def metrics_of(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split(" ", 1) for item in text.split(", "))}


def runs(stdout: str) -> list[dict]:
    """The ``nnexp: run NAME STATUS in S s: METRICS`` lines, in order."""
    found = []
    for line in stdout.splitlines():
        m = RUN_LINE.match(line)
        if m:
            found.append({"name": m[1], "status": m[2], "seconds": float(m[3]), **metrics_of(m[4])})
    return found


def sweep(stdout: str) -> list[dict]:
    """The sweep summary's rows: job number, overrides and metrics, in job order."""
    rows = []
    for line in stdout.splitlines():
        m = SWEEP_ROW.match(line)
        if m:
            rows.append({"job": int(m[1]), "status": m[2], "overrides": m[3], **metrics_of(m[4])})
    return sorted(rows, key=lambda r: r["job"])


# -- the claims --------------------------------------------------------------------------------
def check_xor(check: Check, tmp: Path, readme: str, results: str) -> None:
    out, _ = nnexp(["+experiment=xor"], tmp)
    (run,) = runs(out)
    m = find(check, "README Results, XOR", readme, r"^\| XOR 100 % \| `nnexp \+experiment=xor` \| "
                                                    r"training accuracy ([\d.]+)")
    if m:
        check.value("README Results, XOR training accuracy", m[1], run["accuracy"])
    m = find(check, "docs/results.md, XOR", results, r"^\| XOR: 100 % \| `nnexp \+experiment=xor` \| "
                                                      r"training accuracy \*\*([\d.]+)\*\*.*?seed=0,1,2,3,4`: "
                                                      r"([\d.]+) for every seed")
    if m:
        check.value("docs/results.md, XOR training accuracy", m[1], run["accuracy"])
        out, _ = nnexp(["-m", "+experiment=xor", "seed=0,1,2,3,4"], tmp)
        for row in sweep(out):
            check.value(f"docs/results.md, XOR seed {row['job']} training accuracy", m[2], row["accuracy"]
                        if "accuracy" in row else row["test_accuracy"])


def check_spirals(check: Check, tmp: Path, readme: str, results: str) -> None:
    out, _ = nnexp(["-m", "+experiment=spirals", "seed=0,1,2,3,4"], tmp)
    shipped = sweep(out)
    acc = [r["test_accuracy"] for r in shipped]
    m = find(check, "README Results, spirals", readme,
             r"^\| two spirals .*? \| test accuracy ([\d.]+) \(seeds 0–4: mean ([\d.]+), min ([\d.]+)\)")
    if m:
        check.value("README Results, spirals test accuracy (seed 0)", m[1], acc[0])
        check.value("README Results, spirals mean over seeds 0-4", m[2], statistics.mean(acc))
        check.value("README Results, spirals min over seeds 0-4", m[3], min(acc))
    m = find(check, "docs/results.md, spirals", results,
             r"^\| Two spirals: .*? \| test accuracy \*\*([\d.]+)\*\* \((\d+) test points\); "
             r"`nnexp -m \+experiment=spirals seed=0,1,2,3,4`: ([\d., ]+?) \(mean ([\d.]+)\)")
    if m:
        check.value("docs/results.md, spirals test accuracy", m[1], acc[0])
        for seed, stated in enumerate(m[3].split(", ")):
            check.value(f"docs/results.md, spirals seed {seed} test accuracy", stated, acc[seed])
        check.value("docs/results.md, spirals mean", m[4], statistics.mean(acc))
    m = find(check, "docs/results.md, searched spirals command", results,
             r"^    nnexp -m \+experiment=spirals seed=0,1,2,3,4 tracking=off (optimizer\.lr=\S+ .*)$")
    if not m:
        return
    out, _ = nnexp(["-m", "+experiment=spirals", "seed=0,1,2,3,4", *m[1].split()], tmp)
    searched = sweep(out)
    rows = re.findall(r"^\| (\d|mean) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", results, re.MULTILINE)
    if len(rows) != 6:
        check.missing("docs/results.md, shipped vs searched table", "| seed | ... | (6 rows)")
        return
    for seed, *stated in rows:
        if seed == "mean":
            measured = [statistics.mean(r[k] for r in table) for table, k in
                        ((shipped, "test_loss"), (searched, "test_loss"),
                         (shipped, "test_accuracy"), (searched, "test_accuracy"))]
        else:
            s = int(seed)
            measured = [shipped[s]["test_loss"], searched[s]["test_loss"],
                        shipped[s]["test_accuracy"], searched[s]["test_accuracy"]]
        for column, text, value in zip(("shipped test_loss", "searched test_loss",
                                        "shipped test_accuracy", "searched test_accuracy"), stated, measured):
            check.value(f"docs/results.md, spirals table seed {seed} {column}", text, value)


def check_digits(check: Check, tmp: Path, readme: str, results: str) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_digits.py")], cwd=tmp,
                         capture_output=True, text=True, timeout=1800)
    print("$ python benchmarks/bench_digits.py", flush=True)
    if out.returncode != 0:
        raise SystemExit(f"check_results: bench_digits.py failed:\n{out.stderr}")
    seeds = {int(s): (float(a), int(k), int(n), float(w), float(c)) for s, a, k, n, w, c in re.findall(
        r"seed (\d+): test accuracy ([\d.]+) \((\d+)/(\d+) test images\), training ([\d.]+) s wall, "
        r"([\d.]+) s CPU", out.stdout)}
    acc = [seeds[s][0] for s in sorted(seeds)]
    stated = re.findall(r"^    seed (\d+): test accuracy ([\d.]+) \((\d+)/(\d+) test images\), training "
                        r"([\d.]+) s wall, ([\d.]+) s CPU$", results, re.MULTILINE)
    if len(stated) != 8:
        check.missing("docs/results.md, digits per seed", "    seed N: test accuracy ... (8 lines)")
    for s, a, k, n, w, c in stated:
        got = seeds[int(s)]
        check.value(f"docs/results.md, digits seed {s} test accuracy", a, got[0])
        check.equal(f"docs/results.md, digits seed {s} right/test images", f"{k}/{n}", f"{got[1]}/{got[2]}")
        check.seconds(f"docs/results.md, digits seed {s} training wall", w, got[3])
        check.seconds(f"docs/results.md, digits seed {s} training CPU", c, got[4], cpu=True)
    m = find(check, "docs/results.md, digits summary", results,
             r"^    test accuracy: mean ([\d.]+) ± ([\d.]+), min ([\d.]+), max ([\d.]+)$")
    if m:
        for text, value, what in zip(m.groups(), (statistics.mean(acc), statistics.stdev(acc), min(acc), max(acc)),
                                     ("mean", "std", "min", "max")):
            check.value(f"docs/results.md, digits {what} over seeds 0-7", text, value)
    m = find(check, "README Results, digits", readme,
             r"`nnexp \+experiment=digits` \| ([\d.]+) % test accuracy in ([\d.]+) s of training "
             r"\(seeds 0–7: mean ([\d.]+) %, two splits at ([\d.]+) % and ([\d.]+) %\)")
    if m:
        check.value("README Results, digits test accuracy (seed 0)", m[1], acc[0], scale=100)
        check.seconds("README Results, digits training time (seed 0)", m[2], seeds[0][3])
        check.value("README Results, digits mean over seeds 0-7", m[3], statistics.mean(acc), scale=100)
        low = sorted(acc)[:2]
        check.value("README Results, digits lowest split", m[4], low[0], scale=100)
        check.value("README Results, digits second lowest split", m[5], low[1], scale=100)
    m = find(check, "docs/results.md, digits row", results,
             r"^\| Digits: .*? \| test accuracy \*\*([\d.]+)\*\* \((\d+)/(\d+) test images\), \*\*([\d.]+) s\*\* "
             r"of training \(([\d.]+) s for the whole command with tracking\)")
    if m:
        check.value("docs/results.md, digits test accuracy", m[1], acc[0])
        check.equal("docs/results.md, digits right/test images", f"{m[2]}/{m[3]}", f"{seeds[0][1]}/{seeds[0][2]}")
        check.seconds("docs/results.md, digits training time", m[4], seeds[0][3])
        _, seconds = nnexp(["+experiment=digits"], tmp, tracking=True)
        check.seconds("docs/results.md, digits whole command with tracking", m[5], seconds)


def check_vanishing(check: Check, tmp: Path, readme: str, results: str) -> None:
    out, _ = nnexp(["-m", "+experiment=vanishing", "model.activation=sigmoid,tanh,relu",
                    "model.init=xavier_uniform,he_normal", "seed=0,1,2,3,4"], tmp)
    by_config: dict[tuple[str, str], list[dict]] = {}
    for row in sweep(out):
        opts = dict(o.split("=", 1) for o in row["overrides"].split())
        by_config.setdefault((opts["model.activation"], opts["model.init"]), []).append(row)
    rows = re.findall(r"^\| (\w+), (\w+) \| \**([\d.e+-]+)\** \| \**([\d.]+)\** \| ([\d., ]+) \|$",
                      results, re.MULTILINE)
    if len(rows) != 6:
        check.missing("docs/results.md, vanishing table", "| act, init | ratio | acc | accs | (6 rows)")
    for act, init, ratio, acc, accs in rows:
        runs_ = by_config[(act, init)]  # seeds 0..4 in job order
        check.value(f"docs/results.md, vanishing {act}+{init} grad_ratio", ratio, runs_[0]["grad_ratio"])
        check.value(f"docs/results.md, vanishing {act}+{init} test accuracy", acc, runs_[0]["test_accuracy"])
        for seed, text in enumerate(accs.split(", ")):
            check.value(f"docs/results.md, vanishing {act}+{init} seed {seed} test accuracy", text,
                        runs_[seed]["test_accuracy"])
    m = find(check, "README Results, vanishing", readme,
             r"input/output gradient ratio ([\d.e+-]+) \(sigmoid\) vs ([\d.]+) \(relu \+ He\)")
    if m:
        check.value("README Results, vanishing sigmoid grad_ratio", m[1],
                    by_config[("sigmoid", "xavier_uniform")][0]["grad_ratio"])
        check.value("README Results, vanishing relu+He grad_ratio", m[2],
                    by_config[("relu", "he_normal")][0]["grad_ratio"])


NUMBER = re.compile(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?|[-+]?\d+e[-+]?\d+")


def _skeleton(line: str) -> tuple[str, list[float]]:
    """A line's text with its numbers taken out, and the numbers."""
    return NUMBER.sub("#", line.strip()), [float(x) for x in NUMBER.findall(line)]


def check_explain(check: Check, tmp: Path, readme: str, results: str) -> None:
    """The `nnexp explain` excerpt: each line of it is a line of the command's output, its
    numbers within 1e-9 (finite differences differ in the last printed digit across BLAS
    builds; the stated max |analytic - finite difference| within a factor of 10)."""
    m = find(check, "docs/results.md, explain excerpt", results, r"An excerpt:\n\n((?:    .*\n|\n)+?)\n\S")
    if not m:
        return
    out, _ = nnexp(["explain"], tmp, tracking=True)
    produced: dict[str, list[list[float]]] = {}
    for line in out.splitlines():
        text, numbers = _skeleton(line)
        produced.setdefault(text, []).append(numbers)

    def found(line: str) -> bool:
        text, numbers = _skeleton(line)
        for candidate in produced.get(text, []):
            if text.startswith("max |analytic"):
                if all(b / 10 <= a <= b * 10 for a, b in zip(candidate, numbers)):
                    return True
            elif all(abs(a - b) <= 1e-9 for a, b in zip(candidate, numbers)):
                return True
        return False

    excerpt = [line for line in m[1].splitlines() if line.strip() and line.strip() != "..."]
    missing = [line.strip() for line in excerpt if not found(line)]
    check.equal("docs/results.md, explain excerpt lines found in `nnexp explain`",
                f"{len(excerpt)} lines", f"{len(excerpt) - len(missing)} lines" +
                (f" (not found: {missing[0]!r})" if missing else ""))


def check_search(check: Check, tmp: Path, readme: str, results: str) -> None:
    """docs/results.md's Optuna search: its time, trial counts and best trial."""
    out, seconds = nnexp(["-m", "+experiment=spirals", "hparams_search=spirals_optuna",
                          "tracking.plot=false"], tmp, tracking=True)
    pruned = [int(e) for e in re.findall(r"^nnexp: trial #\d+ pruned at epoch (\d+)", out, re.MULTILINE)]
    trials = len(sweep(out))
    m = find(check, "docs/results.md, search time", results,
             r"It took \*\*(\d+) min (\d+) s\*\*\s+\(([\d.]+) s per trial on average.*?\): (\d+) trials\s+"
             r"completed,\s+(\d+) were pruned \(stopped at epochs (\d+)-(\d+)\)")
    if m:
        check.seconds("docs/results.md, search wall time", str(int(m[1]) * 60 + int(m[2])), seconds)
        check.equal("docs/results.md, search trials completed", int(m[4]), trials - len(pruned))
        check.equal("docs/results.md, search trials pruned", int(m[5]), len(pruned))
        check.equal("docs/results.md, search pruned at epochs", f"{m[6]}-{m[7]}",
                    f"{min(pruned, default=0)}-{max(pruned, default=0)}")
    best = find(check, "docs/results.md, search best", results,
                r"Best: trial (\d+), `val_loss` ([\d.e+-]+), with\s+`(optimizer\.lr=\S+)")
    found = re.search(r"^nnexp: best trial #(\d+): val_loss ([\d.e+-]+) with (\S+)", out, re.MULTILINE)
    if best and found is None:
        check.missing("the search's own output", "nnexp: best trial #N: val_loss V with ...")
    elif best:
        check.equal("docs/results.md, search best trial", best[1], found[1])
        check.value("docs/results.md, search best val_loss", best[2], float(found[2]))
        check.equal("docs/results.md, search best lr", best[3], found[3])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--with-search", action="store_true", help="also re-run the Optuna search (2-3 min)")
    args = p.parse_args()
    if not NNEXP.exists():
        raise SystemExit(f"check_results: no nnexp console script next to {sys.executable}")
    readme, results = README.read_text(), RESULTS.read_text()
    check, started = Check(), time.perf_counter()
    steps = [check_xor, check_spirals, check_vanishing, check_digits, check_explain]
    if args.with_search:
        steps.append(check_search)
    with tempfile.TemporaryDirectory(prefix="nnexp-check-results-") as tmp:
        for step in steps:
            step(check, Path(tmp), readme, results)
    took = time.perf_counter() - started
    print(f"\ncheck_results: {check.count} numbers checked in {took:.0f} s; "
          f"{len(check.failures)} drifted" + (":" if check.failures else "."))
    for failure in check.failures:
        print(f"  {failure}")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
