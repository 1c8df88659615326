"""Hydra callbacks of the commands (conf/hydra/default.yaml): what must happen before Hydra
creates a run's folder."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ssdh_lightning.config_checks import RUN_FOLDER, RUN_FOLDER_FIX, check_writable


def _exit_unless_writable(folder: str, what: str, fix: str) -> None:
    try:
        check_writable(folder, what, fix)
    except PermissionError as error:
        # Hydra turns a callback's exception into a warning and goes on to fail on the folder
        # with a raw OSError: leave at once, with the message (exit code 1)
        raise SystemExit(str(error)) from None


class CheckRunFolder(Callback):
    """Stops a command whose run folder (``hydra.run.dir``) or sweep folder
    (``hydra.sweep.dir``) cannot be written, naming it and what to set, before Hydra tries
    to create it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _exit_unless_writable(config.hydra.run.dir, RUN_FOLDER, RUN_FOLDER_FIX)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        fix = "set hydra.sweep.dir=FOLDER to a folder you can write"
        _exit_unless_writable(config.hydra.sweep.dir, "the sweep folder", fix)
