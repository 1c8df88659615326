"""What the commands keep off the console: lines that Lightning or torch print on every run and
that a user cannot act on. Only the entry points install this (``quiet_console``); library code,
Python callers and tests see every message."""

from __future__ import annotations

import logging
import warnings

# Lightning's info lines of every run: its advertisement of a cloud logger (printed whatever
# logger is configured), the device summary (a GPU left unused gets a warning of its own, which
# stays) and the seed just set (the run's config and run.json hold it).
LIGHTNING_LINES = ("💡 Tip:", "GPU available:", "TPU available:", "Seed set to")
# MLflow setting up the run folder's new store, and Lightning saying it made the experiment.
MLFLOW_LINES = ("MLflow database tables", "not found. Creating it.")
# torch.compile on a machine without CUDA, saying which CUDA_HOME it did not need.
TORCH_LINES = ("No CUDA runtime is found",)
FILTERS = {
    "lightning.pytorch.utilities.rank_zero": LIGHTNING_LINES,
    "lightning.fabric.utilities.seed": LIGHTNING_LINES,
    "lightning.pytorch.loggers.mlflow": MLFLOW_LINES,
    "mlflow.store.db.utils": MLFLOW_LINES,
    "torch.utils.cpp_extension": TORCH_LINES,
}
# Lightning 2.6 calling a pytree API that torch deprecated: nothing a user can change.
WARNINGS = (r"`isinstance\(treespec, LeafSpec\)` is deprecated",)


class _DropLines(logging.Filter):
    """Drops the records whose message contains one of ``parts``."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        super().__init__()
        self.parts = parts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in self.parts)


def quiet_console() -> None:
    """Filter Lightning's and torch's lines that are not the user's business; call it first in a
    command's main function (in each job process of a sweep too). Calling it again adds nothing."""
    for name, lines in FILTERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) for f in logger.filters):
            logger.addFilter(_DropLines(lines))
    for message in WARNINGS:
        warnings.filterwarnings("ignore", message=message)
