"""The image files under a folder, as an index sees them: relative paths, labels, and the size
and modification time that tell whether a file changed since it was encoded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

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
    under ``root``), -1 for a file that lies in none. Plain arrays, so that loader workers share
    them without copying."""

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
