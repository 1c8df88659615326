"""Files left out because they cannot be read: counted, listed in the run folder, and reported in
one message at the end of a scan or an epoch, never one message per file."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import lightning as L

from ssdh_lightning.images.files import Skipped
from ssdh_lightning.io import write_text

SKIPPED_FILES = "skipped_files.tsv"
log = logging.getLogger(__name__)


class SkippedFiles:
    """Every skipped file with its reason; ``report`` writes ``<report_dir>/skipped_files.tsv``
    (path, tab, reason) and logs the count, when files were added since the last report."""

    def __init__(self, report_dir: str | Path | None) -> None:
        self.report_file = Path(report_dir) / SKIPPED_FILES if report_dir is not None else None
        self.reasons: dict[str, str] = {}
        self.reported = 0

    def __len__(self) -> int:
        return len(self.reasons)

    def add(self, skipped: Iterable[Skipped]) -> None:
        for path, reason in skipped:
            self.reasons.setdefault(path, reason)

    def report(self, when: str) -> None:
        """Write the list and log one line, if files were added; ``when`` names the moment, as
        in "the scan of data/yahoo" or "training epoch 3"."""
        new = len(self.reasons) - self.reported
        if new == 0:
            return
        where = "no report folder was given to keep their list"
        if self.report_file is not None:
            lines = (f"{path}\t{reason}\n" for path, reason in sorted(self.reasons.items()))
            write_text(self.report_file, "path\treason\n" + "".join(lines))
            where = f"listed in {self.report_file}"
        log.warning(
            "%d more file(s) could not be read and were skipped by the end of %s (%d in all); %s",
            new,
            when,
            len(self.reasons),
            where,
        )
        self.reported = len(self.reasons)


class SkippedFilesReport(L.Callback):
    """Reports the files skipped during each training epoch and each validation."""

    def __init__(self, skipped: SkippedFiles) -> None:
        self.skipped = skipped

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.skipped.report(f"training epoch {trainer.current_epoch}")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.skipped.report("validation")
