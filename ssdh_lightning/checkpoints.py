"""Checkpoints: written atomically, read back with checks and errors that say what to do."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ssdh_lightning.io import atomic_write
from ssdh_lightning.module import SSDHModule


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file and a rename: a run stopped while
    saving never leaves a truncated checkpoint where a good one was."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}")
        atomic_write(path, lambda stream: torch.save(checkpoint, stream))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, checked to be one that ssdh-train wrote."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; pass ckpt_path=PATH to a .ckpt file written by "
            "ssdh-train (each run keeps them in <run folder>/checkpoints/)"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"checkpoint {path} cannot be read ({error}); it is truncated or not a checkpoint"
        ) from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "hash_bits" not in hparams or "state_dict" not in checkpoint:
        raise ValueError(
            f"{path} is not a checkpoint of ssdh-train: it has no model hyper-parameters "
            "(hash_bits, preprocessing, ...)"
        )
    return checkpoint


def check_hash_bits(path: str | Path, checkpoint: dict[str, Any], hash_bits: int) -> None:
    found = checkpoint["hyper_parameters"]["hash_bits"]
    if found != hash_bits:
        raise ValueError(
            f"checkpoint {path} holds a model of {found} bits, but {hash_bits} were asked for; "
            f"use a checkpoint trained with model.hash_bits={hash_bits}, or set "
            f"model.hash_bits={found}"
        )


def load_module(path: str | Path) -> SSDHModule:
    """The trained module of the checkpoint at ``path``, in evaluation mode, on the CPU."""
    return trained_module(read_checkpoint(path))


def trained_module(checkpoint: dict[str, Any]) -> SSDHModule:
    """The trained module of a checkpoint already read, in evaluation mode, on the CPU."""
    hparams = dict(checkpoint["hyper_parameters"])
    # The trained weights replace any pretrained ones: build without fetching those.
    backbone = dict(hparams.get("backbone") or {})
    if "weights" in backbone:
        backbone["weights"] = None
    hparams["backbone"], hparams["weights_path"] = backbone, None
    module = SSDHModule(**hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()
