"""Which model an index was built with, and whether a checkpoint is that model: codes of two
models cannot be compared, so an index is grown and queried with its own model only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ssdh_lightning.checkpoints import checkpoint_file, read_checkpoint
from ssdh_lightning.io import file_sha256
from ssdh_lightning.retrieval.index import Index

# The hyper-parameters that say what the model is, kept in the index's manifest.
IDENTITY_HPARAMS = ("hash_bits", "num_classes", "backbone", "class_names")


def model_identity(path: Path, hparams: Mapping[str, Any], sha256: str) -> dict[str, Any]:
    """What the manifest records of the model: its checkpoint, by path and by content."""
    return {
        "checkpoint": str(path.resolve()),
        "sha256": sha256,
        "hparams": {key: hparams.get(key) for key in IDENTITY_HPARAMS},
    }


def check_checkpoint(index: Index, path: Path, sha256: str | None = None) -> None:
    """Raise unless the checkpoint at ``path`` is the one ``index`` was built with (by content:
    the file may have moved). ``sha256``: the checkpoint's, when already computed."""
    recorded = index.manifest["model"]
    checkpoint_file(
        path,
        missing_hint=f"the index at {index.folder} was built with {recorded['checkpoint']}: "
        "pass ckpt_path=PATH to that checkpoint where it is now",
    )
    if (sha256 or file_sha256(path)) == recorded["sha256"]:
        return
    # Read as plain data like any checkpoint (read_checkpoint), only to say how it differs.
    found_bits = read_checkpoint(path)["hyper_parameters"]["hash_bits"]
    if found_bits != index.hash_bits:
        raise ValueError(
            f"checkpoint {path} holds a model of {found_bits} bits, but the index at "
            f"{index.folder} holds {index.hash_bits}-bit codes; use the checkpoint the index was "
            f"built with ({recorded['checkpoint']}), or build a new index with this one "
            "(ssdh-index ... out=NEW_FOLDER)"
        )
    raise ValueError(
        f"checkpoint {path} is not the model the index at {index.folder} was built with "
        f"({recorded['checkpoint']}, sha256 {recorded['sha256'][:12]}...), and codes of two "
        "models cannot be compared; use that checkpoint, or build a new index with this one "
        "(ssdh-index ... out=NEW_FOLDER)"
    )
