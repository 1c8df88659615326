"""The wall time of each training epoch, its validation left out: what a reader compares
methods' training cost by."""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Seconds of each completed training epoch. Lightning validates inside the training epoch
    (before ``on_train_epoch_end``), so the time spent validating is taken out."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started: float | None = None
        self._validating_since: float | None = None
        self._validation = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started, self._validation = time.perf_counter(), 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validating_since = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._validating_since is not None and self._started is not None:
            self._validation += time.perf_counter() - self._validating_since
        self._validating_since = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None:
            self.seconds.append(time.perf_counter() - self._started - self._validation)
        self._started = None

    @property
    def seconds_per_epoch(self) -> float | None:
        """The mean over the epochs this process trained (None before the first ends)."""
        return sum(self.seconds) / len(self.seconds) if self.seconds else None
