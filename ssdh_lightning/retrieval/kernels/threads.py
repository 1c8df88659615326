"""How many threads a job runs on: one query runs on the calling thread alone."""

from __future__ import annotations

from contextlib import contextmanager

import numba as nb


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
