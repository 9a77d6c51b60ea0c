"""BLAS thread limits for training runs.

For the small matrices of most nnexp experiments a second BLAS thread buys nothing, and on a
busy machine OpenBLAS's spinning threads made runs up to ~100x slower (docs/results.md). The
experiment app therefore trains with one BLAS thread unless ``trainer.blas_threads`` says
otherwise; the Python API leaves the choice to the caller.
"""

from __future__ import annotations

import contextlib


def blas_threads(n: int | None):
    """A context manager limiting every loaded BLAS library to ``n`` threads (None or 0: no
    limit). scipy's own OpenBLAS (used by the optimizers) is loaded first, since threadpoolctl
    limits only libraries already loaded."""
    if not n:
        return contextlib.nullcontext()
    import scipy.linalg.blas  # noqa: F401 - load it so the limit reaches it
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n), user_api="blas")
