"""Checks of a composed config's plain values, run before any data is loaded.

A value typed on the command line arrives as whatever YAML made of it (``seed=foo`` is the
string 'foo'); Lightning and torch would fail on it late, deep in a traceback, or not at all
(``trainer.max_epochs=-1`` trains forever). Every check raises a ``ValueError`` that names
``key=value``, what the key takes, and an example of a good value.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_SEED = 2**32 - 1  # numpy's seeds are uint32
RUN_FOLDER = "the run folder"
RUN_FOLDER_FIX = (
    "set hydra.run.dir=FOLDER (output_dir=FOLDER from Python) to a folder you can write"
)

# trainer keys that count steps, epochs or batches between two events
_TRAINER_COUNTS = ("check_val_every_n_epoch", "log_every_n_steps")


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _refuse(key: str, value: Any, expected: str, example: Any) -> ValueError:
    return ValueError(f"{key}={_shown(value)}: must be {expected}; e.g. {key}={example}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def integer(key: str, value: Any, example: Any, minimum: int, maximum: int | None = None) -> None:
    """An integer from ``minimum`` to ``maximum`` (inclusive; no upper bound if None)."""
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        between = f"between {minimum}{upper}" if upper else f">= {minimum}"
        raise _refuse(key, value, f"an integer {between}", example)


def positive_integer(key: str, value: Any, example: Any) -> None:
    if not _is_int(value) or value < 1:
        raise _refuse(key, value, "a positive integer", example)


def positive_number(key: str, value: Any, example: Any) -> None:
    if not _is_number(value) or value <= 0:
        raise _refuse(key, value, "a finite number > 0", example)


def non_negative_number(key: str, value: Any, example: Any) -> None:
    if not _is_number(value) or value < 0:
        raise _refuse(key, value, "a finite number >= 0", example)


def fraction(key: str, value: Any, example: Any) -> None:
    """A number in [0, 1): a momentum or a dropout rate (1 would keep nothing new)."""
    if not _is_number(value) or not 0 <= value < 1:
        raise _refuse(key, value, "a number from 0 up to (not including) 1", example)


def boolean(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _refuse(key, value, "true or false", "true")


def choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        names = " or ".join(repr(name) for name in allowed)
        raise _refuse(key, value, names, allowed[0])


# model.optimizer.name: the optimisers the module builds (module.OPTIMIZERS)
OPTIMIZER_NAMES = ("sgd", "adam", "rmsprop")
# what the module trains with where model.optimizer leaves a key out (~model.optimizer.momentum)
DEFAULT_OPTIMIZER = {
    "name": "sgd",
    "lr": 0.001,
    "momentum": 0.9,
    "weight_decay": 0.0005,
    "classifier_lr_mult": 10.0,
    "latent_lr_mult": 1.0,
    "bias_lr_mult": 2.0,
    "bias_decay_mult": 0.0,
    "nesterov": False,
}
# model.optimizer keys: how each is checked, and an example for the message
_OPTIMIZER_CHECKS: dict[str, tuple[Callable[[str, Any, Any], None], Any]] = {
    "name": (lambda key, value, _: choice(key, value, OPTIMIZER_NAMES), "sgd"),
    "lr": (positive_number, 0.001),
    "momentum": (fraction, 0.9),
    "weight_decay": (non_negative_number, 0.0005),
    "classifier_lr_mult": (positive_number, 10.0),
    "latent_lr_mult": (positive_number, 10.0),
    "bias_lr_mult": (positive_number, 2.0),
    "bias_decay_mult": (non_negative_number, 1.0),
    "nesterov": (lambda key, value, _: boolean(key, value), True),
}


def check_seed(seed: Any, key: str = "seed") -> None:
    integer(key, seed, 0, minimum=0, maximum=MAX_SEED)


def check_optimizer(optimizer: Mapping[str, Any], prefix: str = "model.optimizer") -> None:
    unknown = sorted(set(optimizer) - set(_OPTIMIZER_CHECKS))
    if unknown:
        raise ValueError(
            f"unknown {prefix} keys {unknown}; allowed: {sorted(_OPTIMIZER_CHECKS)} "
            f"(remove the others, e.g. ~{prefix}.{unknown[0]})"
        )
    for name, value in optimizer.items():
        check, example = _OPTIMIZER_CHECKS[name]
        check(f"{prefix}.{name}", value, example)
    # torch's SGD alone takes Nesterov's momentum, and only with a momentum
    trained = DEFAULT_OPTIMIZER | dict(optimizer)
    if trained["nesterov"] and not (trained["name"] == "sgd" and trained["momentum"]):
        raise ValueError(
            f"{prefix}.nesterov=true: Nesterov momentum is SGD's, with a momentum above 0; "
            f"got {prefix}.name={trained['name']} and {prefix}.momentum="
            f"{trained['momentum']}; e.g. {prefix}.nesterov=false"
        )


def check_scheduler(scheduler: Mapping[str, Any], prefix: str = "model.scheduler") -> None:
    """A drop by ``gamma`` every ``step_size`` steps (or epochs), or at each of ``milestones``."""
    if scheduler.get("step_size") is not None:
        positive_integer(f"{prefix}.step_size", scheduler["step_size"], 25000)
    milestones = scheduler.get("milestones")
    if milestones is not None:
        example = "[60000,65000]"
        valid = isinstance(milestones, Sequence) and not isinstance(milestones, str)
        if not valid or not milestones or not all(_is_int(m) and m > 0 for m in milestones):
            raise _refuse(f"{prefix}.milestones", milestones, "a list of positive steps", example)
        if list(milestones) != sorted(set(milestones)):
            raise _refuse(f"{prefix}.milestones", milestones, "increasing", example)
        if scheduler.get("step_size") is not None:
            raise ValueError(
                f"{prefix}.step_size={scheduler['step_size']} and {prefix}.milestones="
                f"{list(milestones)}: give one (drops every step_size, or at the milestones); "
                f"e.g. {prefix}.step_size=null"
            )
    if "gamma" in scheduler:
        positive_number(f"{prefix}.gamma", scheduler["gamma"], 0.1)
    choice(f"{prefix}.interval", scheduler.get("interval", "step"), ("step", "epoch"))


def check_model(model: Mapping[str, Any], prefix: str = "model") -> None:
    """The model's own values (the keys of conf/model/); the data module supplies the rest."""
    if "hash_bits" in model:
        positive_integer(f"{prefix}.hash_bits", model["hash_bits"], 48)
    if "dropout" in model:
        fraction(f"{prefix}.dropout", model["dropout"], 0.5)
    if "latent_init_std" in model:  # zero would give every image the same code
        positive_number(f"{prefix}.latent_init_std", model["latent_init_std"], 0.005)
    for switch in ("channels_last", "compile"):
        if switch in model:
            boolean(f"{prefix}.{switch}", model[switch])
    check_optimizer(model.get("optimizer") or {}, f"{prefix}.optimizer")
    check_scheduler(model.get("scheduler") or {}, f"{prefix}.scheduler")


def check_devices(key: str, value: Any) -> None:
    """Lightning's ``devices``: a count (-1: all), ``auto``, a string of indices, or a list of
    indices. Lightning itself refuses 0 only once the data is loaded."""
    if isinstance(value, str):
        valid = bool(value.strip())
    elif _is_int(value):
        valid = value == -1 or value >= 1
    elif isinstance(value, Sequence):
        valid = len(value) > 0 and all(_is_int(index) and index >= 0 for index in value)
    else:
        valid = False
    if not valid:
        expected = "a number of devices >= 1, -1 (all), auto, or a list of device indices"
        raise _refuse(key, value, expected, 1)


def check_trainer(trainer: Mapping[str, Any], prefix: str = "trainer") -> None:
    """How many devices a run uses, how long it may last and how often it validates and logs."""
    if "devices" in trainer:
        check_devices(f"{prefix}.devices", trainer["devices"])
    if "num_nodes" in trainer:
        positive_integer(f"{prefix}.num_nodes", trainer["num_nodes"], 1)
    if trainer.get("max_epochs") is not None:
        integer(f"{prefix}.max_epochs", trainer["max_epochs"], 30, minimum=-1)
    integer(f"{prefix}.max_steps", trainer.get("max_steps", -1), 50000, minimum=-1)
    for name in _TRAINER_COUNTS:
        if trainer.get(name) is not None:
            positive_integer(f"{prefix}.{name}", trainer[name], 1)
    if trainer.get("gradient_clip_val") is not None:
        positive_number(f"{prefix}.gradient_clip_val", trainer["gradient_clip_val"], 1.0)


def check_bounded(trainer: Mapping[str, Any], prefix: str = "trainer") -> None:
    """A training run must end: Lightning reads -1 as no limit, for epochs and steps alike."""
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if max_epochs == -1 and max_steps == -1 and trainer.get("max_time") is None:
        raise ValueError(
            f"{prefix}.max_epochs=-1 with {prefix}.max_steps=-1: the run would never end "
            f"(Lightning reads -1 as no limit); bound it, e.g. {prefix}.max_epochs=30 or "
            f"{prefix}.max_steps=50000"
        )


def check_retrieval(retrieval: Mapping[str, Any], prefix: str = "retrieval") -> None:
    """What an evaluation scores (conf/retrieval/), checked by the engine's own
    ``RetrievalSettings``, whose every message starts with the setting's name: here it is
    named with its group."""
    # imported here: the engine's package loads numba, which the model and checkpoints need not
    from ssdh_lightning.retrieval.settings import RetrievalSettings

    allowed = [field.name for field in dataclasses.fields(RetrievalSettings)]
    unknown = sorted(set(retrieval) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {prefix} keys {unknown}; allowed: {allowed}")
    try:
        RetrievalSettings(**retrieval)
    except ValueError as error:
        raise ValueError(f"{prefix}.{error}") from None


def check_writable(folder: str | Path, what: str, fix: str) -> None:
    """Raise ``PermissionError`` naming ``folder`` (``what`` it is) and ``fix`` unless this
    process can create files in it or, where it does not exist yet, in the nearest folder above
    it that does: an output folder that cannot be written stops a command before it reads any
    data, not with a raw ``OSError`` at its first file."""
    path = Path(folder).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        where = "" if existing == path else f" (it would be made in {existing})"
        raise PermissionError(
            f"cannot write {what} {folder}{where}: {error.strerror}; {fix}"
        ) from None


def check_train_config(cfg: Mapping[str, Any]) -> None:
    """What ``ssdh-train`` is given, checked before it loads any data."""
    check_seed(cfg.get("seed"))
    check_trainer(cfg.get("trainer") or {})
    check_bounded(cfg.get("trainer") or {})
    check_model(cfg.get("model") or {})
    check_retrieval(cfg.get("retrieval") or {})


def check_eval_config(cfg: Mapping[str, Any]) -> None:
    """What ``ssdh-eval`` is given (its seed may be null: the training run's), before loading."""
    if cfg.get("seed") is not None:
        check_seed(cfg["seed"])
    check_trainer(cfg.get("trainer") or {})
    check_retrieval(cfg.get("retrieval") or {})


def check_index_config(cfg: Mapping[str, Any]) -> None:
    """What ``ssdh-index`` is given, before it scans or encodes anything."""
    positive_integer("batch_size", cfg.get("batch_size"), 256)
    integer("num_workers", cfg.get("num_workers"), 4, minimum=0)
    check_trainer(cfg.get("trainer") or {})
