"""Checkpoints: written atomically, read back as plain data only, with checks and errors that say
what to do. Every checkpoint the project reads (ssdh-eval, ssdh-index, ssdh-search, the resume of
ssdh-train through Lightning's own loader) is read here."""

from __future__ import annotations

import inspect
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ssdh_lightning.data import RetrievalDataModule
from ssdh_lightning.io import atomic_write
from ssdh_lightning.methods import named_options
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.untrusted_configs import check_image_sizes, check_plain, shown

MISSING_HINT = (
    "pass ckpt_path=PATH to a .ckpt file written by ssdh-train (each run keeps them in "
    "<run folder>/checkpoints/)"
)
MAX_LISTED = 10  # checkpoints named when ckpt_path is a folder
# How torch's weights-only unpickler names a refused class or function: "GLOBAL posix.system".
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# The lines of torch's weights-only message that say nothing of this checkpoint.
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")
CHECKPOINT_FIX = "use a checkpoint that ssdh-train wrote"
# The tensors whose shapes confirm hash_bits and num_classes before any model is built.
LATENT_WEIGHT, CLASSIFIER_WEIGHT = "head.latent.weight", "head.classifier.weight"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file and a rename: a run stopped while
    saving never leaves a truncated checkpoint where a good one was. Lightning's resume reads
    through ``read_checkpoint`` too, so it loads plain data only, whatever it asks for."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"AtomicCheckpointIO takes no storage_options, got {storage_options!r}")
        atomic_write(path, lambda stream: torch.save(checkpoint, stream))

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        # weights_only is ignored on purpose: a checkpoint never gets to run code.
        return read_checkpoint(path, map_location=map_location or "cpu")


def _folder_given(path: Path) -> IsADirectoryError:
    # Where runs keep checkpoints: the folder itself, or its checkpoints/ (a run folder).
    found = sorted(map(str, (*path.glob("*.ckpt"), *path.glob("checkpoints/*.ckpt"))))
    if not found:
        listed = "it holds no .ckpt file, nor does its checkpoints/"
    else:
        listed = "it holds " + ", ".join(found[:MAX_LISTED])
        if len(found) > MAX_LISTED:
            listed += f" and {len(found) - MAX_LISTED} more"
    return IsADirectoryError(
        f"checkpoint {path} is a folder, not a checkpoint file; {listed}. "
        "Pass ckpt_path=PATH to one .ckpt file"
    )


def checkpoint_file(path: str | Path, missing_hint: str = MISSING_HINT) -> Path:
    """``path``, checked to be a file; a folder gets the checkpoints it holds listed."""
    path = Path(path)
    if path.is_dir():
        raise _folder_given(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; {missing_hint}")
    return path


def _torch_reason(error: Exception) -> str:
    """What torch says of the file, without its advice to load it unsafely."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line for line in lines if line and not line.startswith(_TORCH_BOILERPLATE)]
    return "; ".join(kept) or type(error).__name__


def _unreadable(path: Path, error: Exception) -> ValueError:
    reason = _torch_reason(error)
    refused = _REFUSED_GLOBAL.findall(reason)
    if refused:
        return ValueError(
            f"checkpoint {path} holds objects that are not plain data ({', '.join(refused)}): "
            "it was not loaded and nothing in it ran. ssdh-train writes only tensors, numbers, "
            "strings, lists and dicts; use a checkpoint that it wrote"
        )
    return ValueError(
        f"checkpoint {path} cannot be read ({reason}); it is truncated or not a checkpoint"
    )


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, checked to be one that ssdh-train wrote. Loaded as plain data
    (``weights_only=True``): what Lightning 2.x and ssdh-train write needs no allow-listed class
    (hyper-parameters and callback states are saved as dicts), so none is allowed. Its
    hyper-parameters are configs from a file (``untrusted_configs``): plain values, no
    interpolation; its state dict maps names to tensors."""
    path = checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from None
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if (
        not isinstance(hparams, dict)
        or "hash_bits" not in hparams
        or "state_dict" not in checkpoint
    ):
        raise ValueError(
            f"{path} is not a checkpoint of ssdh-train: it has no model hyper-parameters "
            "(hash_bits, preprocessing, ...)"
        )
    check_plain(hparams, "hyper_parameters", f"checkpoint {path}", CHECKPOINT_FIX)
    state = checkpoint["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(name, str) and isinstance(tensor, torch.Tensor) for name, tensor in state.items()
    ):
        raise _inconsistent(path, "its state_dict is not a mapping of names to tensors")
    return checkpoint


def _inconsistent(path: str | Path, what: str) -> ValueError:
    return ValueError(
        f"checkpoint {path}: {what}; the file is damaged or crafted, so no model was built; "
        f"{CHECKPOINT_FIX}"
    )


def check_hash_bits(path: str | Path, checkpoint: dict[str, Any], hash_bits: int) -> None:
    found = checkpoint["hyper_parameters"]["hash_bits"]
    if found != hash_bits:
        raise ValueError(
            f"checkpoint {path} holds a model of {found} bits, but {hash_bits} were asked for; "
            f"use a checkpoint trained with model.hash_bits={hash_bits}, or set "
            f"model.hash_bits={found}"
        )


def check_same_method(path: str | Path, checkpoint: dict[str, Any], method: dict | None) -> None:
    """A run resumes the objective its checkpoint trained: the same method, and each option the
    checkpoint recorded at the same value (a default changed since, idhn's scale, included); an
    option it did not record takes the method's default, as when the checkpoint is evaluated."""
    recorded = checkpoint["hyper_parameters"].get("method")
    if recorded is not None and not isinstance(recorded, Mapping):
        raise _inconsistent(path, f"hyper_parameters.method is {shown(recorded)}, not options")
    found_name, found = named_options(recorded)
    name, options = named_options(method)
    if found_name != name:
        raise ValueError(
            f"checkpoint {path} was trained with method={found_name}, but method={name} was "
            f"asked for; resume with method={found_name}, or train anew without ckpt_path"
        )
    changed = sorted(key for key, value in found.items() if options.get(key, value) != value)
    if changed:
        trained = " ".join(f"{key}={shown(found[key])}" for key in changed)
        asked = ", ".join(f"{key}={shown(options[key])}" for key in changed)
        fix = " ".join(f"method.{key}={shown(found[key])}" for key in changed)
        raise ValueError(
            f"checkpoint {path} was trained with method={name} {trained}, but this run composes "
            f"{asked}; resume with {fix}, or train anew without ckpt_path"
        )


def _data_shape(num_classes: int, channels: int, image_size) -> tuple[int, int, tuple[int, ...]]:
    return num_classes, channels, tuple(image_size)


def _describe_shape(shape: tuple[int, int, tuple[int, ...]]) -> str:
    num_classes, channels, (height, width) = shape
    return f"{num_classes} classes and {channels}-channel {height}x{width} images"


def check_same_data(
    path: str | Path, checkpoint: dict[str, Any], datamodule: RetrievalDataModule, fix: str
) -> None:
    """Raise unless ``datamodule`` has the classes, channels and image size that the model of
    the checkpoint was built for (other data would fail later, in ``load_state_dict``, with raw
    tensor sizes). ``fix``: what the user can do instead."""
    hparams = checkpoint["hyper_parameters"]
    trained = hparams["preprocessing"]
    expected = _data_shape(hparams["num_classes"], trained["channels"], trained["image_size"])
    data = datamodule.preprocessing
    # a model trained without labels (0 classes) has no classes to match
    classes = datamodule.num_classes if hparams["num_classes"] else 0
    found = _data_shape(classes, data.channels, data.image_size)
    if found != expected:
        raise ValueError(
            f"checkpoint {path} holds a model of {_describe_shape(expected)}, but the data has "
            f"{_describe_shape(found)}; {fix}"
        )


def load_module(path: str | Path) -> SSDHModule:
    """The trained module of the checkpoint at ``path``, in evaluation mode, on the CPU."""
    return trained_module(read_checkpoint(path), path)


def for_loading(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` rebuilding a trained network: without fetching pretrained weights (the
    checkpoint's trained weights replace them) and without compiling it (inference needs no
    compiler, which a machine that only serves may lack; the weights are the same either way)."""
    backbone = dict(hparams.get("backbone") or {})
    if "weights" in backbone:
        backbone["weights"] = None
    return {**hparams, "backbone": backbone, "weights_path": None, "compile": False}


def module_options(checkpoint: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The hyper-parameters of a checkpoint already read, checked before anything is built:
    only the keys ``SSDHModule`` takes; ``hash_bits`` and ``num_classes`` against the rows of
    the latent layer, the classifier and ``class_names``; image sizes bounded; then every tensor
    shape they imply (feature dims, widths, channels, a method's state) against the state
    dict's, on a model built on the meta device, which holds shapes and allocates nothing."""
    hparams, state = dict(checkpoint["hyper_parameters"]), checkpoint["state_dict"]
    unknown = sorted(set(hparams) - set(inspect.signature(SSDHModule).parameters))
    if unknown:
        raise _inconsistent(path, f"hyper_parameters holds {unknown}, not settings of the model")
    latent = state.get(LATENT_WEIGHT)
    if latent is None or latent.ndim != 2:
        raise _inconsistent(path, f"its state dict has no 2-D {LATENT_WEIGHT}")
    if hparams["hash_bits"] != latent.shape[0]:
        raise _inconsistent(
            path,
            f"hyper_parameters.hash_bits is {shown(hparams['hash_bits'])}, but its latent layer "
            f"{LATENT_WEIGHT} has {latent.shape[0]} rows",
        )
    num_classes = hparams.get("num_classes")
    classifier = state.get(CLASSIFIER_WEIGHT)
    if classifier is not None and num_classes != classifier.shape[0]:
        raise _inconsistent(
            path,
            f"hyper_parameters.num_classes is {shown(num_classes)}, but its classifier "
            f"{CLASSIFIER_WEIGHT} has {classifier.shape[0]} rows",
        )
    class_names = hparams.get("class_names")
    if class_names is not None and (
        not isinstance(class_names, list) or len(class_names) != num_classes
    ):
        raise _inconsistent(
            path,
            f"hyper_parameters.num_classes is {shown(num_classes)}, but class_names is not a "
            "list of as many names",
        )
    preprocessing = hparams.get("preprocessing")
    if isinstance(preprocessing, Mapping):
        key = "hyper_parameters.preprocessing"
        check_image_sizes(preprocessing, key, f"checkpoint {path}", CHECKPOINT_FIX)
    _check_shapes(hparams, state, path)
    return hparams


def _check_shapes(hparams: dict[str, Any], state: Mapping[str, torch.Tensor], path) -> None:
    try:
        with torch.device("meta"):
            skeleton = SSDHModule(**for_loading(hparams))
    except (TypeError, ValueError, KeyError) as error:
        raise _inconsistent(path, f"its hyper-parameters are refused ({error})") from None
    expected = {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in state.items()}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise _inconsistent(path, f"its state dict lacks {missing[:5]} ({len(missing)} in all)")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise _inconsistent(path, f"its state dict holds {extra[:5]}, which the model has not")
    for name, shape in expected.items():
        if found[name] != shape:
            raise _inconsistent(
                path,
                f"{name} has shape {list(found[name])}, but its hyper-parameters build "
                f"{list(shape)}",
            )


def trained_module(checkpoint: dict[str, Any], path: str | Path) -> SSDHModule:
    """The trained module of a checkpoint already read from ``path``, in evaluation mode, on
    the CPU; built only once ``module_options`` has checked it."""
    module = SSDHModule(**for_loading(module_options(checkpoint, path)))
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()
