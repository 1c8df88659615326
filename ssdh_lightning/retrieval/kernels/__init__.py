"""Compiled inner loops of the engine (numba), parallel over queries.

Every ranking here is stable: ties go to the lower database position, as PROTOCOL.md requires.
Hamming rankings are never sorted. Distances are small integers, so the rank of an item is the
number of items in lower distance buckets plus its place in its own bucket; a pass in database
order counts both, and a second visits only the relevant items (and the HDS pool's candidates)
to score them. Float rankings (ES, the HDS pool) use a stable LSD radix sort. The figures over
the orders inside ties come from the counts per distance alone (ties.py).

Database codes come as uint64 words laid out by column, (words, n), so that the distance loop
over the database is contiguous and vectorises (AVX-512 VPOPCNTQ where the CPU has it).

Scores are accumulated per query a into ``stats[a]`` (see STATS_* below: the sum of
relrank/rank over relevant items, their number, and per cut-off of ``cutoffs`` the same sum and
count within it) and ``hits[a, r - 1] = 1`` for each relevant rank r up to ``hits.shape[1]``.
(Separate arrays, not a tuple: numba's parallel loops lose writes into arrays held in tuples.)
The callers allocate every output, so they own the memory budget.
"""

from ssdh_lightning.retrieval.kernels.pool_distances import (
    pool_group_size,
    pool_squared_distances,
)
from ssdh_lightning.retrieval.kernels.scoring import (
    STATS_AP_SUM,
    STATS_CUTOFFS,
    STATS_RELEVANT,
    distance_scores,
    hamming_histograms,
    hamming_scores,
    pool_scores,
)
from ssdh_lightning.retrieval.kernels.sorting import stable_argsort
from ssdh_lightning.retrieval.kernels.threads import calling_thread_only, query_groups
from ssdh_lightning.retrieval.kernels.ties import harmonic_numbers, tie_scores
from ssdh_lightning.retrieval.kernels.top_k import (
    collect_within,
    count_within,
    database_parts,
    hamming_matrix,
    hamming_top_k,
    merge_top_k,
)

__all__ = [
    "STATS_AP_SUM",
    "STATS_CUTOFFS",
    "STATS_RELEVANT",
    "calling_thread_only",
    "collect_within",
    "count_within",
    "database_parts",
    "distance_scores",
    "hamming_histograms",
    "hamming_matrix",
    "hamming_scores",
    "hamming_top_k",
    "harmonic_numbers",
    "merge_top_k",
    "pool_group_size",
    "pool_scores",
    "pool_squared_distances",
    "query_groups",
    "stable_argsort",
    "tie_scores",
]
