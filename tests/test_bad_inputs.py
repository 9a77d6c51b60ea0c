"""The bad-input corpus: each input through the real ``nnexp`` CLI in a subprocess.

Every case asserts what :mod:`nnexp.failures` promises: its exit code (2 for the user's input,
3 for the environment's fault), exactly one ``nnexp[ CMD]: error:`` message (its first line
names the problem; lines under it are its advice), no traceback, and afterwards no MLflow run
RUNNING, no run at all where the input is refused before tracking, and a store that exists
still opens and lists its runs, with what it held before kept.

Cases are grouped by class: names, types, ranges, sizes, stores, filesystem, launchers, model
files, subcommand arguments. Read-only and full disks are tmpfs mounts (skipped, saying why,
where mounting is not permitted).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import numpy as np
import pytest

from conftest import FAST, store_runs

XOR = ["+experiment=xor", "trainer.epochs=1", *FAST]
ERROR_LINE = re.compile(r"^nnexp(?: [a-z]+)?: error: ", re.MULTILINE)


@dataclass
class Case:
    """One bad input: the arguments (``{tmp}`` is the test's directory), the exit code, text the
    message must hold, and what the directory holds first (``setup(tmp_path)``)."""

    id: str
    args: list[str]
    code: int
    expected: list[str] = field(default_factory=list)
    setup: Callable[[Path], None] | None = None
    store: str = "mlflow.db"     # the store the case could touch, relative to tmp_path
    created: bool = False        # whether the store may exist afterwards (it existed, or it
    #                              was made before the problem was found)
    cwd: str = "."
    mount: dict | None = None    # a tmpfs at tmp_path / mount["at"]: size, readonly, files


# -- setups ------------------------------------------------------------------------------------
def _file(name: str, data: bytes | str = b""):
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return setup


def _random(name: str, size: int = 4096):
    return _file(name, np.random.default_rng(0).bytes(size))


def _sqlite(path: Path, rows: int = 400) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)")
    con.executemany("INSERT INTO t (blob) VALUES (?)", [(b"x" * 1000,) for _ in range(rows)])
    con.commit()
    con.close()


def _truncated(name: str):
    def setup(tmp: Path) -> None:
        whole = tmp / "whole.db"
        _sqlite(whole)
        (tmp / name).write_bytes(whole.read_bytes()[:20_000])
        whole.unlink()
    return setup


def _zeroed(name: str):
    def setup(tmp: Path) -> None:
        whole = tmp / "whole.db"
        _sqlite(whole)
        data = bytearray(whole.read_bytes())
        data[4096 * 3:4096 * 3 + 3000] = bytes(3000)
        (tmp / name).write_bytes(bytes(data))
        whole.unlink()
    return setup


def _dir(name: str):
    return lambda tmp: (tmp / name).mkdir(parents=True)


def _npz(name: str, **arrays):
    def setup(tmp: Path) -> None:
        np.savez(tmp / name, **arrays)
    return setup


def _both(*setups):
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return setup


def _good_store(tmp: Path) -> None:
    """A store holding one FINISHED run (copied: made once per session)."""
    shutil.copy(GOOD_STORE[0], tmp / "mlflow.db")


GOOD_STORE: list[Path] = []
LONG_NAME = "x" * 501
SPEC = json.dumps({"input_size": [2], "layers": [{"type": "dense", "units": 1}]})

# -- the corpus --------------------------------------------------------------------------------
NAMES = [
    Case("optimizer-typo", [*XOR, "optimizer=sgdd"], 2, ["optimizer/sgdd", "Did you mean 'sgd'?"]),
    Case("dataset-typo", [*XOR, "dataset=spiral"], 2, ["Did you mean 'spirals'?"]),
    Case("schedule-typo", [*XOR, "schedule=cosin"], 2, ["Did you mean 'cosine'?"]),
    Case("experiment-typo", ["+experiment=xorr", *FAST], 2, ["experiment/xorr", "Did you mean 'xor'?"]),
    Case("output-activation-typo", [*XOR, "model.output_activation=sigmod"], 2,
         ["Unknown activation", "Did you mean 'sigmoid'?"]),
    Case("initializer-typo", [*XOR, "model.init=xavier"], 2, ["Unknown initializer 'xavier'", "Did you mean"]),
    Case("monitor-typo", [*XOR, "trainer.early_stopping.monitor=val_los"], 2, ["did you mean 'val_loss'?"]),
    Case("tracking-option-typo", [*XOR, "tracking=of"], 2, ["Did you mean 'off'?"]),
    Case("launcher-typo", ["-m", *XOR, "seed=1,2", "hydra/launcher=joblb"], 2, ["Did you mean 'joblib'?"]),
    Case("layer-type-typo", [*XOR, "model.layers=[{type:dnse,units:2}]"], 2, ["Unknown layer 'dnse'", "Did you mean 'dense'?"]),
    Case("model-option-unknown", [*XOR, "model=layer"], 2, ["model/layer"]),
    Case("unknown-trainer-key", [*XOR, "trainer.epoch=3"], 2, ["Key 'epoch' not in 'TrainerConfig'"]),
]

TYPES = [
    Case("epochs-text", [*XOR, "trainer.epochs=abc"], 2, ["trainer.epochs", "could not be converted to Integer"]),
    Case("batch-size-float", [*XOR, "trainer.batch_size=1.5"], 2, ["trainer.batch_size"]),
    Case("seed-text", [*XOR, "seed=abc"], 2, ["seed", "could not be converted to Integer"]),
    Case("seed-float", [*XOR, "seed=1.5"], 2, ["full_key: seed"]),
    Case("hidden-text", [*XOR, "model.hidden=abc"], 2, ["model.hidden"]),
    Case("shuffle-not-bool", [*XOR, "trainer.shuffle=maybe"], 2, ["trainer.shuffle"]),
    Case("dtype-unknown", [*XOR, "model.dtype=float8"], 2, ["network dtype: got 'float8'", "float32 or float64"]),
    Case("seed-deleted", [*XOR, "~seed"], 2, ["seed"]),
    Case("override-unparsable", [*XOR, "model.hidden=]"], 2, ["cannot parse the override 'model.hidden=]'"]),
    Case("override-no-key", [*XOR, "=3"], 2, ["a bad override", "Got int"]),
]

RANGES = [
    Case("lr-inf", [*XOR, "optimizer.lr=inf"], 2, ["optimizer.lr (adam): got inf", "a finite number with 0 < value"]),
    Case("lr-minus-inf", [*XOR, "optimizer.lr=-inf"], 2, ["optimizer.lr (adam): got -inf"]),
    Case("lr-nan", [*XOR, "optimizer.lr=nan"], 2, ["optimizer.lr (adam): got nan"]),
    Case("lr-zero", [*XOR, "optimizer.lr=0"], 2, ["optimizer.lr (adam): got 0"]),
    Case("sgd-lr-inf", [*XOR, "optimizer=sgd", "optimizer.lr=inf"], 2, ["optimizer.lr (sgd): got inf"]),
    Case("weight-decay-negative", [*XOR, "optimizer.weight_decay=-1"], 2, ["optimizer.weight_decay"]),
    Case("batch-size-zero", [*XOR, "trainer.batch_size=0"], 2, ["trainer.batch_size", "1 <= value"]),
    Case("epochs-negative", [*XOR, "trainer.epochs=-1"], 2, ["trainer.epochs", "1 <= value"]),
    Case("dropout-negative", [*XOR, "model.dropout=-0.1"], 2, ["model.dropout", "0 <= value < 1"]),
    Case("hidden-zero", [*XOR, "model.hidden=[0]"], 2, ["model.hidden[0]", "1 <= value"]),
    Case("seed-negative", [*XOR, "seed=-1"], 2, ["seed: got -1", "0 <= value <= 2**64-1"]),
    Case("seed-too-large", [*XOR, f"seed={2**64}"], 2, [f"seed: got {2**64}", "0 <= value <= 2**64-1"]),
    Case("dataset-seed-negative", [*XOR, "dataset=spirals", "dataset.seed=-5"], 2, ["dataset.seed: got -5"]),
    Case("noise-inf", [*XOR, "dataset=spirals", "dataset.noise=inf"], 2, ["dataset.noise (spirals): got inf", "a finite number"]),
    Case("blas-threads-negative", [*XOR, "trainer.blas_threads=-1"], 2, ["trainer.blas_threads"]),
]

SIZES = [
    Case("hidden-too-large", [*XOR, "model.hidden=[100000,100000]"], 2,
         ["model.hidden: got [100000, 100000]", "parameters need about", "make the layers smaller"]),
    Case("hidden-one-huge-layer", [*XOR, "model.hidden=[10000000000]"], 2, ["model.hidden", "is available"]),
    Case("float64-too-large", [*XOR, "model.dtype=float64", "model.hidden=[60000,60000]"], 2,
         ["parameters need about", "(float64)"]),
    Case("layers-too-large", [*XOR, "model.layers=[{type:dense,units:10000000},{type:dense,units:10000000}]"],
         2, ["model.layers: got [10000000, 10000000]"]),
    Case("dataset-too-large", [*XOR, "dataset=spirals", "dataset.n=10000000000000"], 2,
         ["too large to allocate", "TiB for an array of shape", "Make it smaller"]),
]

STORES = [
    Case("store-random-bytes", [*XOR, "tracking.uri=sqlite:///bad.db"], 3,
         ["bad.db is not a usable SQLite database (file is not a database)"],
         setup=_random("bad.db"), store="bad.db", created=True),
    Case("store-truncated", [*XOR, "tracking.uri=sqlite:///cut.db"], 3,
         ["(database disk image is malformed)", "corrupt or truncated"],
         setup=_truncated("cut.db"), store="cut.db", created=True),
    Case("store-pages-zeroed", [*XOR, "tracking.uri=sqlite:///zero.db"], 3, ["database disk image is malformed"],
         setup=_zeroed("zero.db"), store="zero.db", created=True),
    Case("store-under-a-file", [*XOR, "tracking.uri=sqlite:///afile/x/mlflow.db"], 2, ["Not a directory"],
         setup=_file("afile"), store="afile/x/mlflow.db"),
    Case("store-is-a-directory", [*XOR, "tracking.uri=sub"], 2, ["sub is a directory"], setup=_dir("sub")),
    Case("store-mysql-no-driver", [*XOR, "tracking.uri=mysql://u@127.0.0.1/db"], 3,
         ["needs the database driver MySQLdb", "pip install mysqlclient"]),
    Case("store-pymysql-no-driver", [*XOR, "tracking.uri=mysql+pymysql://u@127.0.0.1/db"], 3,
         ["needs the database driver pymysql"]),
    Case("store-mssql-no-driver", [*XOR, "tracking.uri=mssql://u@127.0.0.1/db"], 3, ["driver pyodbc"]),
    Case("store-psycopg2-no-driver", [*XOR, "tracking.uri=postgresql+psycopg2://u@127.0.0.1/db"], 3,
         ["psycopg2 is not installed", "nnexp[server]"]),
    Case("store-scheme-unsupported", [*XOR, "tracking.uri=ftp://host/db"], 2, ["is not supported"]),
    Case("experiment-name-too-long", [*XOR, f"tracking.experiment={LONG_NAME}"], 2,
         ["501 characters long", "at most 500"]),
    Case("good-store-experiment-name-too-long", [*XOR, f"tracking.experiment={LONG_NAME}"], 2,
         ["at most 500"], setup=_good_store, created=True),
    Case("good-store-bad-override", [*XOR, "optimizer.lr=inf"], 2, ["got inf"], setup=_good_store, created=True),
    Case("store-read-only", [*XOR, "tracking.uri=sqlite:///ro/mlflow.db"], 3,
         ["ro cannot be written (the file system is read-only)"], store="ro/mlflow.db",
         mount={"at": "ro", "readonly": True}),
    Case("store-file-read-only", [*XOR, "tracking.uri=sqlite:///ro/mlflow.db"], 3,
         ["mlflow.db cannot be written (the file system is read-only)"], store="ro/mlflow.db", created=True,
         mount={"at": "ro", "readonly": True, "files": {"mlflow.db": "good"}}),
    Case("store-disk-full", [*XOR, "tracking.uri=sqlite:///full/mlflow.db"], 3, ["is full (0 bytes free)"],
         store="full/mlflow.db", mount={"at": "full", "fill": True}),
]

FILESYSTEM = [
    Case("run-dir-under-a-file", [*XOR, "hydra.run.dir=afile/out"], 2, ["afile", "a part of the path is a file"],
         setup=_file("afile")),
    Case("read-only-working-directory", list(XOR), 3, ["the file system is read-only", "Run from a directory"],
         cwd="ro", store="ro/mlflow.db", mount={"at": "ro", "readonly": True}),
    Case("run-dir-read-only", [*XOR, "hydra.run.dir=ro/out"], 3, ["ro/out: the file system is read-only"],
         mount={"at": "ro", "readonly": True}),
    Case("run-dir-disk-full", [*XOR, "tracking=off", "hydra.run.dir=full/out"], 3, ["the disk is full"],
         mount={"at": "full", "fill": True}),
    Case("csv-missing", [*XOR, "dataset=csv", "dataset.path=nope.csv"], 2, ["'nope.csv' does not exist"]),
    Case("csv-is-a-directory", [*XOR, "dataset=csv", "dataset.path=sub"], 2, ["sub"], setup=_dir("sub")),
    Case("csv-random-bytes", [*XOR, "dataset=csv", "dataset.path=data.csv"], 2, ["data.csv"],
         setup=_random("data.csv")),
]

LAUNCHERS = [
    Case("joblib-n-jobs-zero", ["-m", *XOR, "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], 2,
         ["hydra.launcher.n_jobs: got 0", "positive whole number, or -1"]),
    Case("joblib-n-jobs-zero-good-store", ["-m", *XOR, "seed=1,2", "hydra/launcher=joblib",
                                           "hydra.launcher.n_jobs=0"], 2, ["hydra.launcher.n_jobs"],
         setup=_good_store, created=True),
    Case("joblib-n-jobs-text", ["-m", *XOR, "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=abc"], 2,
         ["hydra.launcher.n_jobs"]),
    Case("joblib-unknown-key", ["-m", *XOR, "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.foo=1"], 2,
         ["Key 'foo' not in 'JobLibLauncherConf'"]),
    Case("sweep-one-bad-job", ["-m", *XOR, "seed=0,-1"], 2, ["1 of 2 jobs have an invalid config", "job #1 (seed=-1)"]),
    Case("sweep-corrupt-store", ["-m", *XOR, "seed=0,1", "tracking.uri=sqlite:///bad.db"], 3,
         ["not a usable SQLite database"], setup=_random("bad.db"), store="bad.db", created=True),
    Case("sweep-experiment-name-too-long", ["-m", *XOR, "seed=0,1", f"tracking.experiment={LONG_NAME}"], 2,
         ["at most 500"]),
]

MODEL_FILES = [
    Case(f"model-{name}", ["explain", "--model", file], 2, [f"--model '{file}'", *texts], setup=setup)
    for name, file, texts, setup in [
        ("random-bytes", "rand.bin", ["not a NumPy .npz archive"], _random("rand.bin")),
        ("pickle", "model.npz", ["it is a pickle, which nnexp never loads"],
         _file("model.npz", pickle.dumps({"W": [1.0, 2.0]}))),
        ("pickled-npz", "obj.npz", ["no __spec__"], _npz("obj.npz", a=np.array([{"x": 1}], dtype=object))),
        ("pickled-spec", "pspec.npz", ["its __spec__ does not describe a network"],
         _npz("pspec.npz", __spec__=np.array([{"x": 1}], dtype=object))),
        ("plain-npz", "plain.npz", ["no __spec__", "it holds a"], _npz("plain.npz", a=np.zeros(3))),
        ("npy", "one.npy", ["a single array (.npy)"], lambda tmp: np.save(tmp / "one.npy", np.zeros(3))),
        ("empty", "empty.npz", ["not a NumPy .npz archive"], _file("empty.npz")),
        ("truncated", "cut.npz", ["truncated or damaged"],
         lambda tmp: (_npz("w.npz", __spec__=np.array(SPEC), a=np.zeros(1000))(tmp),
                      (tmp / "cut.npz").write_bytes((tmp / "w.npz").read_bytes()[:300]))),
        ("spec-not-json", "nj.npz", ["JSONDecodeError"], _npz("nj.npz", __spec__=np.array("zzz"))),
        ("spec-no-layers", "nl.npz", ["KeyError: 'layers'"], _npz("nl.npz", __spec__=np.array('{"a": 1}'))),
        ("directory", "sub", ["is a directory"], _dir("sub")),
        ("missing", "gone.npz", ["does not exist"], None),
    ]
]

SUBCOMMANDS = [
    Case("explain-seed-negative", ["explain", "--seed", "-1"], 2, ["--seed: got -1", "0 <= value"]),
    Case("explain-decimals-negative", ["explain", "--decimals", "-3"], 2, ["--decimals: got -3"]),
    Case("explain-hidden-zero", ["explain", "--hidden", "0"], 2, ["--hidden: got '0'"]),
    Case("explain-activation-typo", ["explain", "--activation", "rleu"], 2, ["Did you mean 'relu'?"]),
    Case("explain-x-wrong-size", ["explain", "--x", "1,2"], 2, ["x has 2 values"]),
    Case("explain-huge", ["explain", "--hidden", "100000000,100000000"], 2, ["too large to allocate"]),
    Case("runs-last-text", ["runs", "--last", "x"], 2, ["invalid int value: 'x'"]),
    Case("runs-corrupt-store", ["runs", "--uri", "sqlite:///bad.db"], 3, ["not a usable SQLite database"],
         setup=_random("bad.db"), store="bad.db", created=True),
    Case("compare-corrupt-store", ["compare", "--uri", "sqlite:///bad.db"], 3, ["not a usable SQLite database"],
         setup=_random("bad.db"), store="bad.db", created=True),
    Case("resume-no-store", ["resume", "abc123"], 2, ["No MLflow store at"]),
    Case("resume-unknown-run", ["resume", "abc123"], 2, ["abc123"], setup=_good_store, created=True),
    Case("plot-unknown-subject", ["plot", "nope"], 2, ["Unknown plot subject 'nope'"]),
    Case("check-unknown-kind", ["check", "--kind", "nope"], 2, ["invalid choice: 'nope'"]),
]

CORPUS = NAMES + TYPES + RANGES + SIZES + STORES + FILESYSTEM + LAUNCHERS + MODEL_FILES + SUBCOMMANDS


def test_the_corpus_is_large_and_named_once():
    assert len(CORPUS) >= 60
    assert len({c.id for c in CORPUS}) == len(CORPUS)


# -- the fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def good_store(tmp_path_factory, request):
    """A real store with one FINISHED run, made once by the CLI."""
    from conftest import run_nnexp

    folder = tmp_path_factory.mktemp("good")
    out = run_nnexp([*XOR], folder)
    assert out.returncode == 0, out.stderr
    GOOD_STORE[:] = [folder / "mlflow.db"]
    return folder / "mlflow.db"


@pytest.fixture
def mounted(tmp_path):
    """``mounted(at, readonly=False, fill=False, files={})``: a 1 MiB tmpfs at
    ``tmp_path / at`` (unmounted after the test); skips where mounting is not permitted."""
    points = []

    def mount(at, readonly=False, fill=False, files=None):
        where = tmp_path / at
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"a tmpfs cannot be mounted here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
        points.append(where)
        for name, what in (files or {}).items():
            shutil.copy(GOOD_STORE[0] if what == "good" else what, where / name)
        if fill:
            with open(where / "filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(bytes(4096))
                except OSError:  # full
                    pass
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        return where

    yield mount
    for where in reversed(points):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


# -- the test ----------------------------------------------------------------------------------
def _uses_good_store(case: Case) -> bool:
    return case.setup is _good_store or "good" in ((case.mount or {}).get("files") or {}).values()


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_bad_input(case: Case, nnexp_cli, tmp_path, request, mounted):
    if _uses_good_store(case):
        request.getfixturevalue("good_store")
    if case.setup is not None:
        case.setup(tmp_path)
    if case.mount is not None:
        mounted(**case.mount)
    store = tmp_path / case.store
    before = store.read_bytes() if store.is_file() else None
    kept = _runs(store) if _uses_good_store(case) and case.code != 3 else []

    out = nnexp_cli(*case.args, cwd=tmp_path / case.cwd)

    said = out.stdout + out.stderr
    assert out.returncode == case.code, said
    assert "Traceback" not in out.stderr, out.stderr
    assert len(ERROR_LINE.findall(out.stderr)) == 1, out.stderr  # one message
    message = out.stderr[ERROR_LINE.search(out.stderr).start():]
    assert "FINISHED" not in out.stdout, said
    for text in case.expected:
        assert text in message, message
    if not case.created:  # refused before the store was opened: nothing was made
        assert not store.exists(), said
    elif before is not None and case.code == 3:
        assert store.read_bytes() == before  # a store nnexp cannot use is left as it was
    if case.code == 3 and _uses_good_store(case):  # a good store it could not write: still read
        with sqlite3.connect(f"{store.as_uri()}?mode=ro&immutable=1", uri=True) as con:
            assert con.execute("SELECT status FROM runs").fetchall() == [("FINISHED",)]
    if store.is_file() and case.code != 3:  # it still opens, lists its runs, none RUNNING
        runs = _runs(store)
        assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
        assert sorted(r.info.run_id for r in runs) == sorted(r.info.run_id for r in kept)


def _runs(db: Path) -> list:
    return store_runs(db)


# -- the mechanism itself ----------------------------------------------------------------------
def test_a_bug_is_not_explained_and_keeps_its_traceback():
    from nnexp import failures

    assert failures.explain(KeyError("x")) is None
    try:
        try:
            open("/nonexistent/dir/file")
        except OSError:
            {}["missing"]  # a bug while handling an error stays a bug
    except KeyError as bug:
        assert failures.explain(bug) is None
        with pytest.raises(KeyError):
            failures.report(bug)


def test_each_kind_gives_its_code_through_what_caused_it():
    import errno

    from nnexp import failures
    from nnexp.errors import ConfigError

    def caused(outer, inner):
        try:
            try:
                raise inner
            except BaseException as exc:
                raise outer from exc
        except BaseException as exc:
            return exc

    assert failures.explain(ConfigError("x", 1, "2")).code == failures.USER
    full = failures.explain(caused(RuntimeError("wrapped"), OSError(errno.ENOSPC, "No space left", "/d/f")))
    assert (full.code, full.kind) == (failures.ENVIRONMENT, "filesystem") and "/d/f" in full.message
    corrupt = failures.explain(caused(RuntimeError("x"), __import__("sqlite3").DatabaseError("file is not a database")))
    assert (corrupt.code, corrupt.kind) == (failures.ENVIRONMENT, "store-corrupt")
    driver = failures.explain(ModuleNotFoundError("No module named 'pymysql'", name="pymysql"))
    assert driver.code == failures.ENVIRONMENT and "pip install pymysql" in driver.message
    assert failures.explain(MemoryError()).code == failures.USER
