"""The index a server answers from, and its model.

``ssdh-index`` replaces an index's ``manifest.json`` atomically when it writes a new generation,
and the files of the old one stay readable by whoever mapped them. So the server keeps answering
from the generation it holds while it loads the new one beside it, and swaps it in once loaded,
checked and warmed up: no request waits for the load or fails. A new generation that cannot be
loaded, or that was built by another model, is refused with a line in the log and in
``refused``, and the served one is kept. With a backend other than the engine, a new generation
is swapped in once its backend is there too (``ssdh-index`` builds it after the manifest).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ssdh_lightning.indexing.encoding import encode_files
from ssdh_lightning.indexing.query import Queries, query_model
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval import MODES, Index, PackedCodes, search
from ssdh_lightning.retrieval.index import MANIFEST_FILE

log = logging.getLogger(__name__)
Signature = tuple[int, int, int] | None  # the manifest's inode, size and mtime


@dataclass(frozen=True)
class Generation:
    """One loaded generation of the index and the time of its first search (the warm-up, which
    lays the codes out for the kernels)."""

    index: Index
    first_search_seconds: float


def _signature(folder: Path) -> Signature:
    try:
        stat = (folder / MANIFEST_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _warmed_up(index: Index) -> Generation:
    """``index`` searched once in every mode: the first search of a mode in a process loads its
    compiled kernels (seconds), so that no request pays for it."""
    few = slice(0, min(len(index), 16))
    for mode in MODES:
        search(
            index.codes[:1],
            index.codes[few],
            1,
            mode,
            query_features=index.features[:1],
            database_features=index.features[few],
        )
    started = time.perf_counter()
    index.search(index.codes[:1], 1, "bcs")  # lays the codes out for the kernels, once
    return Generation(index, time.perf_counter() - started)


def _model_sha256(index: Index) -> str | None:
    return index.manifest.get("model", {}).get("sha256")


class ServedIndex:
    """The current generation of the index at ``folder`` (``current``), the model that encodes
    uploads (None when the manifest names none, as for synthetic indexes), and where the indexed
    images lie (``images_root``)."""

    def __init__(
        self,
        index: Index,
        model: SSDHModule | None,
        images_root: Path | None,
        checkpoint: Path | None = None,
    ) -> None:
        self.folder = index.folder
        self.model = model
        self.checkpoint = checkpoint  # where the model was read from
        self.images_root = images_root
        self.refused: str | None = None  # why the last new generation was not served
        self.backend = "engine"  # answers bcs and hds's pool (use_backend)
        self._signature = _signature(self.folder)
        self._current = _warmed_up(index)
        self._pending: Index | None = None  # a new generation that waits for its backend
        # torch modules are not safe to run from two threads at once
        self._encode_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        folder: str | Path,
        ckpt_path: str | Path | None = None,
        images: str | Path | None = None,
    ) -> ServedIndex:
        """Load the index and its model (the checkpoint its manifest names, or ``ckpt_path``,
        checked to be the same file); ``images``: where the indexed folder lies now."""
        index = Index.load(folder)
        has_model = "model" in index.manifest
        if ckpt_path is not None and not has_model:
            raise ValueError(
                f"the index at {index.folder} names no model (it was not built by ssdh-index), "
                f"so ckpt_path={ckpt_path} cannot be checked against it; leave ckpt_path unset"
            )
        model = query_model(index, ckpt_path) if has_model else None
        checkpoint = Path(ckpt_path or index.manifest["model"]["checkpoint"]) if has_model else None
        root = images or index.manifest.get("images_root")
        return cls(index, model, Path(root) if root is not None else None, checkpoint)

    @property
    def current(self) -> Generation:
        return self._current

    def encode(self, path: Path, name: str) -> Queries | str:
        """The codes and features of the image file at ``path``, shown as ``name``; or why it
        cannot be decoded."""
        if self.model is None:
            raise RuntimeError("encode needs a model; check ServedIndex.model first")
        with self._encode_lock:
            started = time.perf_counter()
            encoded = encode_files(self.model, [path], batch_size=1)
            seconds = time.perf_counter() - started
        if encoded.skipped:
            return encoded.skipped[0].reason
        return Queries(
            paths=[Path(name)],
            codes=PackedCodes(encoded.codes, self.model.hash_bits),
            features=encoded.features,
            seconds=seconds,
        )

    def use_backend(self, name: str) -> None:
        """Answer bcs and hds's pool with the backend ``name`` (``retrieval.backends``), loaded
        and checked now: a backend that is missing or damaged stops the server from starting
        (raising the loader's message and its fix) rather than failing every search."""
        if name != "engine":
            self._current.index.hamming_backend(name)
        self.backend = name

    def refresh(self) -> bool:
        """Serve the index's new generation if its manifest changed; True when it was swapped in."""
        signature = _signature(self.folder)
        if signature != self._signature:
            self._signature = signature
            self._pending = None
            try:
                candidate = Index.load(self.folder)
                self._check_same_model(candidate)
            # whatever refuses a generation (a damaged manifest raised TypeError once), the
            # served one is kept and /api/health says why
            except Exception as error:
                self._refuse(error)
                return False
            self._pending = candidate
        if self._pending is None:
            return False
        candidate = self._pending
        if self.backend != "engine":
            try:
                candidate.hamming_backend(self.backend)
            except FileNotFoundError as error:  # not built yet: looked for again next time
                self._refuse(error, f"generation {candidate.generation} waits for its backend")
                return False
            except Exception as error:
                self._pending = None
                self._refuse(error)
                return False
        self._pending = None
        served = self._current.index
        self._current = _warmed_up(candidate)
        self.refused = None
        log.info(
            "now serving generation %d of the index at %s (%d items; was generation %d)",
            candidate.generation,
            self.folder,
            len(candidate),
            served.generation,
        )
        return True

    def _refuse(self, error: Exception, what: str = "refused the new manifest") -> None:
        reason = str(error) or type(error).__name__
        if reason != self.refused:  # once, not at every look
            log.warning(
                "%s of the index at %s, still serving generation %d: %s",
                what,
                self.folder,
                self._current.index.generation,
                reason,
                exc_info=not isinstance(error, OSError | ValueError),
            )
        self.refused = reason

    def _check_same_model(self, candidate: Index) -> None:
        served = self._current.index
        if _model_sha256(candidate) != _model_sha256(served) or (
            candidate.hash_bits,
            candidate.feature_dim,
        ) != (served.hash_bits, served.feature_dim):
            raise ValueError(
                f"generation {candidate.generation} was built by another model (checkpoint "
                f"{candidate.manifest.get('model', {}).get('checkpoint')}), whose codes the "
                "model served here cannot query; restart ssdh-serve to serve it"
            )

    def watch(self, interval_s: float, stop: threading.Event) -> None:
        """Look for a new generation every ``interval_s`` seconds until ``stop`` is set."""
        while not stop.wait(interval_s):
            try:
                self.refresh()
            # the watcher must outlive any failure, or rebuilds would silently stop showing
            except Exception:
                log.exception("looking for a new generation of the index at %s", self.folder)
