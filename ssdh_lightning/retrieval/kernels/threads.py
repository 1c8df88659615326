"""How many threads a job runs on: one query runs on the calling thread alone."""

from __future__ import annotations

from contextlib import contextmanager

import numba as nb
import torch


def _start_numba_threads() -> None:
    """Start numba's threads on import, on a thread-safe layer, and keep torch's thread count.

    numba's OpenMP layer, when it starts, sets the calling thread's OpenMP thread count to
    numba's, and torch runs its operations on that same count: a training that evaluated once
    went on training on every CPU, whatever torch.set_num_threads or OMP_NUM_THREADS said (two
    sweeps side by side at one thread each trained 2.5x slower after a first validation). Started
    here, torch gets its count back. The layer is chosen now, so it is chosen for every caller:
    a thread-safe one (TBB or OpenMP) where one loads, since the server searches on many threads
    at once; the workqueue layer (one caller at a time) otherwise, or where NUMBA_THREADING_LAYER
    names a layer."""
    torch_threads = torch.get_num_threads()
    if nb.config.THREADING_LAYER == "default":
        nb.config.THREADING_LAYER = "threadsafe"
        try:
            nb.get_num_threads()  # starts the layer
        except ValueError:  # neither TBB nor OpenMP loads here
            nb.config.THREADING_LAYER = "default"
    nb.get_num_threads()  # starts the layer where the lines above did not
    torch.set_num_threads(torch_threads)


def check_thread_safe_layer() -> None:
    """Raise, saying what to install, unless concurrent callers may run the kernels at once."""
    layer = nb.threading_layer()
    if layer not in ("tbb", "omp"):
        raise RuntimeError(
            f"numba runs its kernels on the {layer!r} threading layer, which aborts when two "
            "searches run at once, as they do in ssdh-serve; install TBB (pip install tbb) or an "
            "OpenMP runtime (libgomp), and unset NUMBA_THREADING_LAYER or set it to tbb or omp"
        )


_start_numba_threads()


@contextmanager
def calling_thread_only(active: bool = True):
    """Run the kernels called inside on the calling thread alone (when ``active``)."""
    if not active:
        yield
        return
    threads = nb.get_num_threads()
    nb.set_num_threads(1)
    try:
        yield
    finally:
        nb.set_num_threads(threads)


def query_groups(n_queries: int) -> int:
    """Queries are dealt to this many groups (a few per thread); each allocates its buffers once.

    Passed in by the caller: numba cannot cache a kernel that asks for its thread count itself.
    """
    return max(1, min(n_queries, 4 * nb.get_num_threads()))
