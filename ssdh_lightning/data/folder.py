"""Folders of images, one per category (Yahoo-1M style), split by the ``paper`` protocol.

Layouts of ``root``: one folder per category, images at any depth below it; or ``train/`` and
``test/`` each holding the same category folders (``test/`` optional); or images directly in
``root`` and no folder: data without labels, for the methods that use none (every image trains
and is in the database; retrieval is not scored). The test split gives the
queries, the training split the database and the training set; without ``test/`` a seeded,
stratified ``query_fraction`` of every category are the queries. Class names are the category
folders' names, indexed in sorted order.

Decoding, views and skipped files: ``ImageFileDataModule``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ssdh_lightning.data.base import Splits
from ssdh_lightning.data.image_file_module import ImageFileDataModule
from ssdh_lightning.data.splits import check_query_fraction, stratified_split
from ssdh_lightning.images import folder_scan as manifests
from ssdh_lightning.images.files import IMAGE_EXTENSIONS, Skipped

TRAIN, TEST = "train", "test"
RUN_MANIFEST = "manifest.npz"  # the cache's name in the run folder
log = logging.getLogger(__name__)


def _categories(manifest: manifests.Manifest, under: str, usable: np.ndarray):
    """(names, labels) of the category folders directly under ``under``: each file's category
    index, -1 for files outside them. Raises for a category without a usable image."""
    names, labels = manifest.categories(under)
    counts = np.bincount(labels[(labels >= 0) & usable], minlength=len(names))
    empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
    folder = manifest.root / under
    if not names:
        raise ValueError(
            f"no category folders in {folder}: data.root must hold one folder per category "
            f"(data.root/<category>/<image>), or train/ and test/ holding them"
        )
    if empty:
        raise ValueError(
            f"{len(empty)} category folder(s) in {folder} hold no image file "
            f"({', '.join(IMAGE_EXTENSIONS)}) of more than 0 bytes: {', '.join(empty)}; "
            "add images to them or remove them"
        )
    return names, labels


class ImageFolderDataModule(ImageFileDataModule):
    """An image folder tree; see the module's docstring for the layouts.

    ``manifest_cache``: ``auto`` keeps the scan next to the data (``<root>.ssdh-manifest.npz``),
    or in ``report_dir`` where that folder is not writable; a path puts it there; null keeps none.
    ``report_dir`` (the run folder) receives the list of skipped files.
    """

    name = "folder"

    def __init__(
        self,
        root: str | Path = "data",
        query_fraction: float = 0.1,
        manifest_cache: str | None = "auto",
        **options,
    ) -> None:
        super().__init__(**options)
        self.root = Path(root)
        self.query_fraction = check_query_fraction(query_fraction)
        self.manifest_cache = manifest_cache

    def _cache_paths(self) -> list[Path]:
        """Where the manifest cache is looked for, in order; it is written to the first that
        can be written."""
        if self.manifest_cache is None:
            return []
        if self.manifest_cache != "auto":
            return [Path(self.manifest_cache)]
        paths = [manifests.default_cache_path(self.root)]
        if self.report_dir is not None:
            paths.append(self.report_dir / RUN_MANIFEST)
        return paths

    def manifest(self) -> manifests.Manifest:
        """The scan of ``root``, from the cache while no folder of it has changed."""
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root={self.root} is not a folder; point data.root at the folder that "
                "holds one folder of images per category"
            )
        return manifests.cached_scan(self.root, self._cache_paths())

    def _labels(self, manifest: manifests.Manifest, usable: np.ndarray):
        """(class names, training labels, test labels or None): each file's category index in
        the training split (and the test split, when ``test/`` exists), -1 outside it."""
        top_folders, _ = manifest.categories("")
        if TRAIN not in top_folders or not set(top_folders) <= {TRAIN, TEST}:
            class_names, train_labels = _categories(manifest, "", usable)
            return class_names, train_labels, None
        class_names, train_labels = _categories(manifest, TRAIN, usable)
        if TEST not in top_folders:
            return class_names, train_labels, None
        test_names, test_labels = _categories(manifest, TEST, usable)
        if test_names != class_names:
            raise ValueError(
                f"{self.root / TRAIN} and {self.root / TEST} must hold the same category "
                f"folders; only in train/: {sorted(set(class_names) - set(test_names))}, "
                f"only in test/: {sorted(set(test_names) - set(class_names))}"
            )
        return class_names, train_labels, test_labels

    def _without_labels(self, manifest: manifests.Manifest, usable: np.ndarray) -> Splits:
        """Images directly in ``root``, no category folder: data without labels. Every image
        is a training and database item; there are no queries."""
        self.skipped.report(f"the scan of {self.root}")
        images = np.flatnonzero(usable)
        files = self.image_files(manifest.path, images, np.full(len(images), -1))
        return Splits(
            train=files,
            query=self.image_files(manifest.path, images[:0], np.full(0, -1)),
            database=files,
            class_names=[],
            preprocessing=self._preprocessing,
        )

    def load_splits(self) -> Splits:
        manifest = self.manifest()
        if len(manifest) == 0:
            raise ValueError(
                f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {self.root}; data.root "
                "must hold one folder of images per category, or train/ and test/ holding them"
            )
        usable = manifest.sizes > 0
        self.skipped.add(manifest.skipped)
        self.skipped.add(
            Skipped(str(manifest.path(i)), "empty file (0 bytes)") for i in np.flatnonzero(~usable)
        )
        if not manifest.categories("")[0]:
            return self._without_labels(manifest, usable)
        class_names, train_labels, test_labels = self._labels(manifest, usable)
        in_a_category = (
            train_labels >= 0 if test_labels is None else (train_labels >= 0) | (test_labels >= 0)
        )
        if not in_a_category.all():
            log.warning(
                "%d image files under %s lie outside the category folders and are left out",
                int((~in_a_category).sum()),
                self.root,
            )
        database = np.flatnonzero((train_labels >= 0) & usable)
        if test_labels is not None:
            query = np.flatnonzero((test_labels >= 0) & usable)
            query_labels = test_labels[query]
        else:
            query_rows, database_rows = stratified_split(
                train_labels[database], self.query_fraction, self.seed
            )
            query, database = database[query_rows], database[database_rows]
            query_labels = train_labels[query]
        self.skipped.report(f"the scan of {self.root}")

        database_files = self.image_files(manifest.path, database, train_labels[database])
        return Splits(
            train=database_files,
            query=self.image_files(manifest.path, query, query_labels),
            database=database_files,
            class_names=class_names,
            preprocessing=self._preprocessing,
        )
