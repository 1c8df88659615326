"""The files a downloadable data set needs: checked before anything is read, fetched when allowed,
and, when they cannot be had, an error that names each file, the folder and both ways to fix it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path


class DataFilesMissing(FileNotFoundError):
    """Files of a data set are not in their folder and could not be downloaded."""


def missing_files(folder: Path, names: Sequence[str]) -> list[str]:
    return [name for name in names if not (folder / name).is_file()]


def _missing_message(
    dataset: str, folder: Path, missing: Sequence[str], root: Path, cause: str, archives: str
) -> str:
    files = "\n".join(f"  {folder / name}" for name in missing)
    return (
        f"{dataset}: {len(missing)} file(s) missing from {folder} ({cause}):\n{files}\n"
        f"Either put these files in {folder} (data.root={root} holds the folder), or run where "
        f"the network is reachable with data.download=true to fetch them. Offline, "
        f"data.download=true unpacks {archives} instead of downloading."
    )


def ensure_files(
    dataset: str,
    root: Path,
    folder: Path,
    names: Sequence[str],
    download: bool,
    fetch: Callable[[], object],
    archives: str,
) -> None:
    """Make sure ``folder`` holds every file of ``names``: download them with ``fetch`` when
    ``download`` is on; otherwise, or when fetching fails, raise ``DataFilesMissing``.
    ``archives`` names the downloads that ``fetch`` would unpack, for offline users."""
    missing = missing_files(folder, names)
    if not missing:
        return
    if not download:
        raise DataFilesMissing(
            _missing_message(dataset, folder, missing, root, "data.download=false", archives)
        )
    try:
        fetch()
    # urllib's URLError and socket errors are OSErrors; torchvision raises a RuntimeError once
    # every mirror has failed, one line per mirror.
    except (OSError, RuntimeError) as error:
        cause = "the download failed: " + (" ".join(str(error).split()) or type(error).__name__)
        raise DataFilesMissing(
            _missing_message(dataset, folder, missing, root, cause, archives)
        ) from error
    still_missing = missing_files(folder, names)
    if still_missing:
        cause = "the download did not provide them"
        raise DataFilesMissing(
            _missing_message(dataset, folder, still_missing, root, cause, archives)
        )
