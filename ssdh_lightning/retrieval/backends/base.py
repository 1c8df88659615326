"""The one interface of a search backend, its per-search settings, and the registry of backends.

A backend answers the Hamming side of a search for packed query codes: the ``k`` nearest
(``top_k``) and the items within a threshold (``within``, the HDS pool). It declares what else it
does: the search settings it takes (``parameters``), whether it holds the features HDS re-ranks
by (``holds_features``), whether ``ssdh-index backends=[...]`` builds it (``built_by_index``) and
the files it keeps beside an index (``file_stem``). ``load(index)`` opens it for an index; each
registers under the name ``backend=`` takes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ssdh_lightning.registry import Registry
from ssdh_lightning.retrieval.chunks import DEFAULT_MEMORY_BUDGET
from ssdh_lightning.retrieval.codes import PackedCodes
from ssdh_lightning.retrieval.result import SearchResult

if TYPE_CHECKING:
    from ssdh_lightning.retrieval.index import Index

HAMMING_MODES = ("bcs", "hds")
ENGINE = "engine"  # the engine's exact scan: the default, and the only backend of ES


def _is_count(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class SearchParameters:
    """The settings of one search, as FAISS's own ``SearchParameters`` go with each call:
    ``nflip`` (multihash: bits flipped in each substring of a query) and ``nprobe`` (ivf: lists
    scanned), None for the value the backend was built with; ``memory_budget``: the bytes a
    chunk of the engine's scan may hold. Nothing a search sets changes the backend."""

    nflip: int | None = None
    nprobe: int | None = None
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    def __post_init__(self) -> None:
        for name, minimum in (("nflip", 0), ("nprobe", 1)):
            value = getattr(self, name)
            if value is not None and not (_is_count(value) and value >= minimum):
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if not (_is_count(self.memory_budget) and self.memory_budget > 0):
            raise ValueError(
                f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}"
            )

    def given(self) -> list[str]:
        """The backend settings this search sets (``nflip``, ``nprobe``)."""
        return [
            field.name
            for field in fields(self)
            if field.name != "memory_budget" and getattr(self, field.name) is not None
        ]


DEFAULT_PARAMETERS = SearchParameters()


class HammingBackend(ABC):
    """A search backend: see the module's docstring. Items it does not reach are padded with
    position -1 and distance ``hash_bits + 1``."""

    parameters: ClassVar[tuple[str, ...]] = ()  # the fields of SearchParameters it takes
    holds_features: ClassVar[bool] = False
    built_by_index: ClassVar[bool] = False
    file_stem: ClassVar[str | None] = None  # <file_stem>.<generation>.bin / .json

    @classmethod
    @abstractmethod
    def load(cls, index: Index) -> HammingBackend:
        """This backend of ``index``, opened and checked against it; a backend that is not
        built or belongs to other codes is refused with the fix."""

    @abstractmethod
    def top_k(
        self, query: PackedCodes, k: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> SearchResult:
        """(n_query, k) positions (int64, -1 where none was found) and Hamming distances
        (int32), nearest first."""

    @abstractmethod
    def within(
        self, query: PackedCodes, threshold: int, parameters: SearchParameters = DEFAULT_PARAMETERS
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sizes, items): each query's items at distance < threshold that the backend reaches,
        in ascending position, concatenated query after query."""

    @classmethod
    def build(cls, index: Index, settings) -> str:
        """Build this backend of ``index`` with ``settings`` (``conf/index.yaml``, under the
        backend's name) and say where it is; for those ``ssdh-index backends=[...]`` builds."""
        raise NotImplementedError(f"{cls.__name__} is not built by ssdh-index")

    def features(self, items: np.ndarray) -> np.ndarray:
        """(len(items), feature_dim) float32: the features of the positions ``items``, where the
        backend holds them (``holds_features``); HDS reads the index's own otherwise."""
        raise NotImplementedError(f"{type(self).__name__} holds no features")

    @classmethod
    def check_parameters(cls, parameters: SearchParameters) -> None:
        """Refuse a setting this backend does not take, naming those that do."""
        for name in parameters.given():
            if name not in cls.parameters:
                takers = [
                    f"backend={other!r}"
                    for other, kind in BACKENDS.items()
                    if name in kind.parameters
                ]
                raise ValueError(
                    f"{name} sets {' and '.join(takers)}, not backend={BACKENDS.name_of(cls)!r}"
                )


# Every search backend, registered where its class is defined; the engine's exact scan first.
BACKENDS: Registry[type[HammingBackend]] = Registry("search backend", "backend=NAME")


def check_backend(backend: str, mode: str) -> None:
    """``backend`` names a registered backend that answers ``mode``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {backend!r}")
    if backend != ENGINE and mode not in HAMMING_MODES:
        raise ValueError(
            f"backend={backend!r} answers Hamming searches ({', '.join(HAMMING_MODES)}); "
            f"mode={mode!r} ranks features only: search it with backend='engine'"
        )
