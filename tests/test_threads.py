"""BLAS thread limits used by the experiment app while training."""

import subprocess
import sys
from pathlib import Path

from threadpoolctl import threadpool_info

from nnexp.threads import blas_threads

NNEXP = str(Path(sys.executable).with_name("nnexp"))


def blas_pools():
    return [p for p in threadpool_info() if p["user_api"] == "blas"]


def test_limit_reaches_every_blas_library_including_scipys_and_is_restored():
    before = [p["num_threads"] for p in blas_pools()]
    with blas_threads(1):
        pools = blas_pools()
        assert len(pools) >= 2  # numpy's and scipy's OpenBLAS (the optimizers' axpy)
        assert all(p["num_threads"] == 1 for p in pools)
    assert [p["num_threads"] for p in blas_pools()][:len(before)] == before


def test_zero_means_no_limit():
    before = [p["num_threads"] for p in blas_pools()]
    with blas_threads(0):
        assert [p["num_threads"] for p in blas_pools()] == before


def test_negative_blas_threads_is_a_user_error(tmp_path):
    out = subprocess.run([NNEXP, "+experiment=xor", "trainer.blas_threads=-1", "tracking=off"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "trainer.blas_threads" in out.stderr and "Traceback" not in out.stderr
