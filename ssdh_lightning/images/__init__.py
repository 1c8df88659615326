"""Image files, for data modules and indexes alike: folder scans and their cache, decoding,
and the lists of files that were skipped."""

from ssdh_lightning.images.files import UnreadableImage, load_image
from ssdh_lightning.images.folder_scan import Manifest, scan

__all__ = ["Manifest", "UnreadableImage", "load_image", "scan"]
