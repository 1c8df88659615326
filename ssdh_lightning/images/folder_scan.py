"""The list of image files under a folder, scanned once and cached while the folder is unchanged.

A million files are listed with ``os.scandir`` (one ``stat`` each, for size and mtime) and the
result is kept in a ``.npz`` cache: packed names and integer arrays, no pickle, read in well under
a second. The cache records every folder's mtime, taken before the folder was listed; adding,
removing or renaming a file changes its folder's mtime, so comparing those few hundred folder
mtimes tells whether the cache still holds. A folder changed just before the scan might change
again within the same timestamp tick, unseen: a cache whose folders were changed less than
``RACY_NS`` before its scan is not trusted, and the next load scans again. A file rewritten in
place keeps its folder's mtime: delete the cache to rescan after such an edit.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssdh_lightning.images.files import Skipped, is_image_name
from ssdh_lightning.io import atomic_write
from ssdh_lightning.strings import PackedStrings

log = logging.getLogger(__name__)
MANIFEST_VERSION = 2  # bump when what a scan records, or which files it takes, changes
RACY_NS = 2_000_000_000  # coarser than any file system's timestamps (FAT: 2 s)
CACHE_SUFFIX = ".ssdh-manifest.npz"


@dataclass(frozen=True)
class Manifest:
    """The image files under ``root``, sorted by folder then name. File ``i`` is
    ``folders[file_folders[i]] / names[i]``; folders are relative to ``root`` ('' is the root)."""

    root: Path
    folders: list[str]
    folder_mtimes_ns: np.ndarray  # int64, each taken before the folder was listed
    file_folders: np.ndarray  # int32
    names: PackedStrings
    sizes: np.ndarray  # int64 bytes
    mtimes_ns: np.ndarray  # int64
    scanned_at_ns: int  # the wall clock when the scan began
    # entries the scan could not look into (a symbolic link loop, an unreadable folder): they
    # are not cached, so the next scan looks at them again
    skipped: tuple[Skipped, ...] = ()

    def __len__(self) -> int:
        return len(self.file_folders)

    def relative_path(self, index: int) -> str:
        folder = self.folders[self.file_folders[index]]
        return f"{folder}/{self.names[index]}" if folder else self.names[index]

    def path(self, index: int) -> Path:
        return self.root / self.relative_path(index)

    def categories(self, under: str = "") -> tuple[list[str], np.ndarray]:
        """(names, codes): the sorted names of the folders directly in ``under`` ('' is the root)
        and, for each file, the index of the one it lies in at any depth, or -1 for files that
        lie in none of them."""
        prefix = f"{under}/" if under else ""
        children = [
            folder[len(prefix) :].split("/")[0]
            if folder.startswith(prefix) and len(folder) > len(prefix)
            else None
            for folder in self.folders
        ]
        names = sorted({child for child in children if child is not None})
        index = {name: i for i, name in enumerate(names)}
        codes = np.array([index.get(child, -1) for child in children], dtype=np.int64)
        return names, codes[self.file_folders]


def scan(root: str | Path) -> Manifest:
    """Every image file (by extension) under ``root``, at any depth, with its size and mtime.
    Hidden files and folders (a leading dot) are left out; symbolic links are followed once,
    and only where they lead to a file or folder under ``root``. An entry that cannot be looked
    into (a symbolic link loop or a broken link, a folder that cannot be listed) or that leads
    out of ``root`` is left out and listed in ``skipped`` with the reason."""
    root = Path(root)
    real_root = root.resolve()
    scanned_at_ns = time.time_ns()
    listed: list[tuple[str, int, list[tuple[str, int, int]]]] = []  # (folder, mtime, files)
    skipped: list[Skipped] = []
    seen: set[tuple[int, int]] = set()
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = root / relative
        try:
            state = os.stat(folder)
            if (state.st_dev, state.st_ino) in seen:  # a link back up the tree
                continue
            seen.add((state.st_dev, state.st_ino))
            files = _list_folder(folder, relative, real_root, pending, skipped)
        except OSError as error:
            skipped.append(_unreadable(folder, error))
            continue
        listed.append((relative, state.st_mtime_ns, files))
    listed.sort(key=lambda item: item[0])
    files = [file for _, _, folder_files in listed for file in folder_files]
    return Manifest(
        root=root,
        folders=[relative for relative, _, _ in listed],
        folder_mtimes_ns=np.array([mtime for _, mtime, _ in listed], dtype=np.int64),
        file_folders=np.repeat(
            np.arange(len(listed), dtype=np.int32), [len(f) for _, _, f in listed]
        ),
        names=PackedStrings.pack([name for name, _, _ in files]),
        sizes=np.array([size for _, size, _ in files], dtype=np.int64),
        mtimes_ns=np.array([mtime for _, _, mtime in files], dtype=np.int64),
        scanned_at_ns=scanned_at_ns,
        skipped=tuple(sorted(skipped)),
    )


def _list_folder(
    folder: Path, relative: str, real_root: Path, pending: list[str], skipped: list[Skipped]
) -> list[tuple[str, int, int]]:
    """The image files of one folder, sorted by name; its sub-folders go to ``pending`` and the
    entries that cannot be looked into, or lead out of ``real_root``, to ``skipped``. Raises when
    the folder cannot be listed."""
    files = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if not _outside(entry, real_root, skipped):
                        pending.append(f"{relative}/{entry.name}" if relative else entry.name)
                elif is_image_name(entry.name):
                    stat = entry.stat()  # raises for a broken link
                    if entry.is_file() and not _outside(entry, real_root, skipped):
                        files.append((entry.name, stat.st_size, stat.st_mtime_ns))
            except (OSError, RuntimeError) as error:  # resolve() raises RuntimeError on a loop
                skipped.append(_unreadable(Path(entry.path), error))
    files.sort()
    return files


def _outside(entry: os.DirEntry, real_root: Path, skipped: list[Skipped]) -> bool:
    """Whether ``entry`` is a symbolic link that leads out of ``real_root``; such an entry is
    added to ``skipped``, and neither it nor what lies below it is read."""
    if not entry.is_symlink():
        return False
    target = Path(entry.path).resolve()
    if target.is_relative_to(real_root):
        return False
    reason = f"a symbolic link to {target}, outside the images folder {real_root}: not read"
    skipped.append(Skipped(entry.path, reason))
    return True


def _unreadable(path: Path, error: OSError | RuntimeError) -> Skipped:
    link = " (a symbolic link)" if path.is_symlink() else ""
    reason = getattr(error, "strerror", None) or str(error)
    return Skipped(str(path), f"{type(error).__name__}: {reason}{link}")


def default_cache_path(root: str | Path) -> Path:
    """Next to the data: ``<parent>/<root name>.ssdh-manifest.npz``, outside the root so that
    writing it changes no folder the manifest records."""
    root = Path(root).resolve()
    return root.with_name(root.name + CACHE_SUFFIX)


def save(manifest: Manifest, path: str | Path) -> Path:
    folders = PackedStrings.pack(manifest.folders)
    arrays = {
        "version": np.array(MANIFEST_VERSION),
        "root": np.array(str(manifest.root.resolve())),
        "folders_buffer": folders.buffer,
        "folders_offsets": folders.offsets,
        "folder_mtimes_ns": manifest.folder_mtimes_ns,
        "file_folders": manifest.file_folders,
        "names_buffer": manifest.names.buffer,
        "names_offsets": manifest.names.offsets,
        "sizes": manifest.sizes,
        "mtimes_ns": manifest.mtimes_ns,
        "scanned_at_ns": np.array(manifest.scanned_at_ns, dtype=np.int64),
    }
    return atomic_write(path, lambda stream: np.savez(stream, **arrays))


def load(path: str | Path, root: str | Path) -> Manifest | None:
    """The cached manifest of ``root`` at ``path``, or None when there is none, it is of another
    root or version, a folder of it has changed since (its mtime differs), or one had changed
    just before the scan (see ``RACY_NS``)."""
    root = Path(root)
    try:
        with np.load(path, allow_pickle=False) as cached:
            arrays = {name: cached[name] for name in cached.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # missing, truncated, foreign
        return None
    if arrays.get("version") != MANIFEST_VERSION or str(arrays.get("root")) != str(root.resolve()):
        return None
    folders = PackedStrings(arrays["folders_buffer"], arrays["folders_offsets"]).tolist()
    scanned_at_ns = int(arrays["scanned_at_ns"])
    if (arrays["folder_mtimes_ns"] > scanned_at_ns - RACY_NS).any():
        return None
    for folder, mtime in zip(folders, arrays["folder_mtimes_ns"], strict=True):
        try:
            if os.stat(root / folder).st_mtime_ns != mtime:
                return None
        except OSError:  # the folder is gone
            return None
    return Manifest(
        root=root,
        folders=folders,
        folder_mtimes_ns=arrays["folder_mtimes_ns"],
        file_folders=arrays["file_folders"],
        names=PackedStrings(arrays["names_buffer"], arrays["names_offsets"]),
        sizes=arrays["sizes"],
        mtimes_ns=arrays["mtimes_ns"],
        scanned_at_ns=scanned_at_ns,
    )


def cached_scan(root: str | Path, cache_paths: Sequence[Path]) -> Manifest:
    """The manifest of ``root``: from the first of ``cache_paths`` that still holds, or else
    scanned afresh and saved to the first of them that can be written."""
    root = Path(root)
    for path in cache_paths:
        cached = load(path, root)
        if cached is not None:
            log.info("%d image files under %s, from the cache %s", len(cached), root, path)
            return cached
    started = time.perf_counter()
    scanned = scan(root)
    seconds = time.perf_counter() - started
    log.info("scanned %s: %d image files in %.1f s", root, len(scanned), seconds)
    if scanned.skipped:
        log.info(
            "not caching the scan of %s: %d entries could not be read", root, len(scanned.skipped)
        )
        return scanned
    for path in cache_paths:
        try:
            save(scanned, path)
        except OSError as error:
            log.info("cannot keep the manifest cache at %s (%s)", path, error)
            continue
        log.info("manifest cached in %s; it is reused while the folders are unchanged", path)
        break
    return scanned
