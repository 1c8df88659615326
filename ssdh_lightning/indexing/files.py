"""The image files an index holds, as it sees them: relative paths, labels, and the size and
modification time that tell whether a file changed since it was encoded. The files are every
image under a folder (labelled by their folders), or those of a list file (labelled by its
vectors)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from ssdh_lightning.data.list_files import (
    ListFileError,
    is_one_hot,
    list_class_names,
    read_list,
    training_labels,
)
from ssdh_lightning.images.files import IMAGE_EXTENSIONS, Skipped
from ssdh_lightning.images.folder_scan import scan
from ssdh_lightning.strings import PackedStrings

FileKey = tuple[str, int, int]  # (relative path, size in bytes, mtime in ns)


def resolve_under(images_root: Path, relative: str) -> Path:
    """The file ``images_root / relative``, resolved (symlinks followed), for whatever opens a
    file on behalf of an index. Raises ValueError for a path that is empty, absolute, holds a
    NUL byte or ``..``, or resolves outside ``images_root`` (a symlink that points out)."""
    if not relative or "\0" in relative:
        raise ValueError(f"the index names the path {relative!r}, which is empty or holds NUL")
    if PurePath(relative).is_absolute() or ".." in PurePath(relative).parts:
        raise ValueError(
            f"the index names the path {relative!r}, which is not relative to its images folder "
            f"{images_root}: an index names only relative paths without '..'"
        )
    root = Path(images_root).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(
            f"the index's path {relative!r} leads to {path}, outside its images folder {root} "
            "(a symbolic link points out of it): only files under the images folder are read"
        )
    return path


def file_keys(
    paths: list[str], file_sizes: np.ndarray, file_mtimes_ns: np.ndarray
) -> list[FileKey]:
    """What identifies each file's content: the same path, size and mtime mean the same file."""
    return list(zip(paths, file_sizes.tolist(), file_mtimes_ns.tolist(), strict=True))


@dataclass(frozen=True)
class ImageList:
    """Files ``root / paths[i]``; ``labels[i]`` indexes ``class_names`` (the folders directly
    under ``root``, or a list file's classes), -1 for a file that lies in none; or, from a
    multi-label list file, ``labels`` is (N, classes) uint8. Plain arrays, so that loader
    workers share them without copying."""

    root: Path
    class_names: list[str]
    paths: PackedStrings
    labels: np.ndarray
    file_sizes: np.ndarray
    file_mtimes_ns: np.ndarray
    skipped: tuple[Skipped, ...] = ()  # what the scan could not look into; not kept by subset

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, position: int) -> Path:
        return self.root / self.paths[position]

    def keys(self) -> list[FileKey]:
        return file_keys(self.paths.tolist(), self.file_sizes, self.file_mtimes_ns)

    def subset(self, positions: np.ndarray) -> ImageList:
        return ImageList(
            root=self.root,
            class_names=self.class_names,
            paths=PackedStrings.pack([self.paths[i] for i in positions]),
            labels=self.labels[positions],
            file_sizes=self.file_sizes[positions],
            file_mtimes_ns=self.file_mtimes_ns[positions],
        )


def scan_images(root: str | Path) -> ImageList:
    """Every image file under ``root`` at any depth, sorted by folder then name; labelled by the
    folder directly under ``root`` that holds it. Raises when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(
            f"images={root} is not a folder; pass the folder of images to index"
        )
    manifest = scan(root)
    if len(manifest) == 0:
        raise ValueError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}: nothing to index; "
            "point images= at a folder that holds images (at any depth)"
        )
    class_names, labels = manifest.categories()
    return ImageList(
        root=root,
        class_names=class_names,
        paths=PackedStrings.pack([manifest.relative_path(i) for i in range(len(manifest))]),
        labels=labels,
        file_sizes=manifest.sizes,
        file_mtimes_ns=manifest.mtimes_ns,
        skipped=manifest.skipped,
    )


def list_images(root: str | Path, list_file: str | Path) -> ImageList:
    """The image files of ``list_file`` (``path 0 1 0 ...`` lines, read as ``data=list`` reads
    them: paths relative to ``root`` or absolute under it), in its order. One-hot vectors give
    class ids, any other vector multi-hot labels; an empty vector is an unlabelled image."""
    root, list_file = Path(root), Path(list_file)
    if not root.is_dir():
        raise NotADirectoryError(f"images={root} is not a folder; pass the list's image root")
    list_file = list_file if list_file.is_absolute() else root / list_file
    if not list_file.is_file():
        raise FileNotFoundError(
            f"no list file {list_file}; pass list_file=PATH, relative to images={root} or absolute"
        )
    images = read_list(list_file, root, allow_empty=True)
    paths = [Path(os.path.relpath(path, root)).as_posix() for path in images.paths]
    outside = [path for path in paths if path.split("/")[0] == ".."]
    if outside:
        raise ListFileError(
            f"{list_file} names {len(outside)} image(s) outside images={root} (e.g. "
            f"{root / outside[0]}): an index holds only files under its images folder; give "
            "the folder that holds them all"
        )
    repeated = sorted(path for path, times in Counter(paths).items() if times > 1)
    if repeated:
        raise ListFileError(
            f"{list_file} names {len(repeated)} image(s) more than once (e.g. {repeated[0]}); an "
            "index holds each file once: remove the repeated lines"
        )
    stats = [path.stat() for path in images.paths]
    return ImageList(
        root=root,
        class_names=list_class_names(images.labels.shape[1]),
        paths=PackedStrings.pack(paths),
        labels=training_labels(images, is_one_hot([images])),
        file_sizes=np.array([stat.st_size for stat in stats], dtype=np.int64),
        file_mtimes_ns=np.array([stat.st_mtime_ns for stat in stats], dtype=np.int64),
    )
