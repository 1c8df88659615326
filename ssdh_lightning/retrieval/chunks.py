"""How many rows a step may take so that its buffers stay within a memory budget."""

from __future__ import annotations

DEFAULT_MEMORY_BUDGET = 512 * 2**20


def rows_per_chunk(bytes_per_row: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """At least one row; otherwise as many rows as ``memory_budget`` bytes hold."""
    if memory_budget <= 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget}")
    return max(1, memory_budget // max(1, bytes_per_row))
