"""The full Hamming distance matrix, for callers that want every distance."""

from __future__ import annotations

import numpy as np

from ssdh_lightning.retrieval import kernels
from ssdh_lightning.retrieval.codes import check_pair, pack_codes


def hamming_distances(query, database) -> np.ndarray:
    """(n_query, n_database) Hamming distances; uint8 up to 255 bits, uint16 above.

    For rankings and metrics use ``search`` or ``evaluate_retrieval``, which never hold this
    matrix whole.
    """
    query, database = pack_codes(query), pack_codes(database)
    check_pair(query, database)
    out = np.empty(
        (len(query), len(database)), dtype=np.uint8 if query.hash_bits < 256 else np.uint16
    )
    kernels.hamming_matrix(query.words(), database.columns, out)
    return out
