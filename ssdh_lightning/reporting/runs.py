"""The runs below a run or sweep folder, read and checked: what every part of the report reads.

Each training run leaves ``run.json`` (data set and its protocol, hash_bits, method, the method's
options and those changed from its file, recipe, backbone, experiment, seed), ``metrics.json``,
``curves.json`` and, since runs keep them, ``per_query.npz`` (each query's figures,
``ssdh_lightning.per_query``) in its folder. A damaged file stops the report, naming the folder,
the file and the key at fault, before anything is written.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ssdh_lightning.baselines import ROWS
from ssdh_lightning.conf_files import names_in
from ssdh_lightning.io import read_json
from ssdh_lightning.per_query import PerQuery, read_per_query
from ssdh_lightning.recipes import SHARED, method_changes, training_label
from ssdh_lightning.reporting import tables as report_tables
from ssdh_lightning.run_files import CURVES_FILE, METRICS_FILE, PER_QUERY_FILE, RUN_FILE

COLLAPSE = "collapse"
# how run.json says a run was set up beyond its method: runs that differ in one are never pooled
# (``distinguish``); the protocol names the data set's split, the others name the training
TRAINING_SETTING = ("backbone", "experiment")
SETTING_KEYS = ("protocol", *TRAINING_SETTING)


@dataclass
class Run:
    folder: Path
    # how the report names the data set: its name, with its protocol and sets' sizes where runs
    # of it differ in them (``distinguish``: ``mnist (protocol=paper, train=4000, ...)``)
    data: str
    data_set: str  # its name as run.json records it (the paper's figures and figure are by name)
    hash_bits: int
    seed: int
    metrics: dict[str, float]
    curves: dict
    method: str = report_tables.DEFAULT_METHOD  # the training objective (run.json 'method')
    # each query's figures, None for a run written before runs kept them
    per_query: PerQuery | None = None
    # wall time of a training epoch, validation left out (None: not recorded)
    seconds_per_epoch: float | None = None
    # metrics.json's "collapse" (ssdh_lightning.collapse), None for a run without the check
    collapse: dict | None = None
    # how it was trained (run.json 'recipe', 'recipe_source'): shared for a run written before
    # runs recorded it, when the shared recipe was the only one
    recipe: str = SHARED
    recipe_source: str | None = None
    # the method's options changed from its method as its recipe trains it (``_method_changes``;
    # {} for a run written before runs recorded them)
    method_changes: dict = field(default_factory=dict)
    # run.json 'protocol' (the data set's split), 'backbone', 'experiment'; None: not recorded
    protocol: str | None = None
    # run.json 'split_sizes' as ``tables.sizes_label`` names them; None: not recorded
    split: str | None = None
    backbone: str | None = None
    experiment: str | None = None
    # the backbone and experiment its training is named by, where the runs read together differ
    # in them (``distinguish``)
    setting: dict = field(default_factory=dict)

    @property
    def collapsed(self) -> bool:
        return bool(self.collapse and self.collapse["collapsed"])

    @property
    def training(self) -> str:
        """What trained the run, as the report's rows group and name it: ``dsh``, ``dsh
        (authors)``, ``dsh (backbone=vgg16)``."""
        return training_label(self.method, self.recipe, self.setting | self.method_changes)


class BrokenRun(ValueError):
    """A run folder the report cannot use: the folder, and the file and key at fault."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"{folder}: {reason}")
        self.folder = folder


def _number(value: Any) -> bool:
    """A metric: a number, finite or NaN (a metric with nothing to score); not a bool."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and not math.isinf(value)


def _read_object(path: Path) -> dict:
    try:
        value = read_json(path)
    except OSError as error:
        raise BrokenRun(path.parent, f"{path.name} cannot be read ({error})") from None
    except ValueError as error:
        raise BrokenRun(path.parent, str(error)) from None
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise BrokenRun(path.parent, f"{path.name} holds a JSON {kind}, not an object")
    return value


def _check_description(path: Path, meta: dict) -> None:
    """run.json: the keys the report groups runs by."""
    for key, kind, valid in (
        ("data", "a data set name", lambda v: isinstance(v, str) and v),
        ("hash_bits", "a positive integer", lambda v: type(v) is int and v > 0),
        ("seed", "an integer", lambda v: type(v) is int),
    ):
        if key not in meta:
            raise BrokenRun(
                path.parent, f"{path.name} has no key {key!r} (the report groups runs by it)"
            )
        if not valid(meta[key]):
            raise BrokenRun(path.parent, f"{path.name} key {key!r} is {meta[key]!r}, not {kind}")


def _check_metrics(path: Path, metrics: dict) -> None:
    for key, value in metrics.items():
        if not _number(value):
            reason = f"{path.name} key {key!r} is {value!r}, not a number (finite or NaN)"
            raise BrokenRun(path.parent, reason)
    methods = {key.partition("/")[0] for key in metrics if "/" in key}
    if not methods & set(ROWS):
        raise BrokenRun(
            path.parent,
            f"{path.name} holds no metric of any method ({', '.join(ROWS)}), "
            "e.g. 'bcs/map@all': nothing to report",
        )


def _check_collapse(path: Path, collapse: Any) -> None:
    """metrics.json's "collapse": what the report reads of it, 'collapsed' and 'reasons'."""
    valid = (
        isinstance(collapse, dict)
        and isinstance(collapse.get("collapsed"), bool)
        and isinstance(collapse.get("reasons"), list)
        and all(isinstance(reason, str) for reason in collapse["reasons"])
    )
    if not valid:
        raise BrokenRun(
            path.parent,
            f"{path.name} key {COLLAPSE!r} is {collapse!r}, not an object with 'collapsed' (true "
            "or false) and 'reasons' (a list of strings)",
        )


def _check_curve(path: Path, key: str, curve: Any) -> None:
    if not isinstance(curve, list) or not curve or not all(_number(v) for v in curve):
        raise BrokenRun(path.parent, f"{path.name} key {key!r} is not a non-empty list of numbers")


def _check_curves(path: Path, curves: dict) -> None:
    """curves.json, if there is one: precision@k per mode, and BCS precision-recall."""
    if not curves:
        return
    by_mode = curves.get("precision_at_k")
    if not isinstance(by_mode, dict):
        reason = f"{path.name} key 'precision_at_k' is missing or not an object of modes"
        raise BrokenRun(path.parent, reason)
    for mode, curve in by_mode.items():
        _check_curve(path, f"precision_at_k.{mode}", curve)
    if "bcs_pr" in curves:
        pr = curves["bcs_pr"]
        for name in ("precision", "recall"):
            _check_curve(path, f"bcs_pr.{name}", pr.get(name) if isinstance(pr, dict) else None)


def read_run(folder: Path) -> Run:
    """The run in ``folder``, checked; ``BrokenRun`` names the file and key at fault."""
    meta = _read_object(folder / RUN_FILE)
    _check_description(folder / RUN_FILE, meta)
    metrics = _read_object(folder / METRICS_FILE)
    collapse = metrics.pop(COLLAPSE, None)  # the one object beside the metrics
    if collapse is not None:
        _check_collapse(folder / METRICS_FILE, collapse)
    _check_metrics(folder / METRICS_FILE, metrics)
    curves_file = folder / CURVES_FILE
    curves = _read_object(curves_file) if curves_file.is_file() else {}
    _check_curves(curves_file, curves)
    method = meta.get("method", report_tables.DEFAULT_METHOD)
    if not isinstance(method, str) or not method:
        raise BrokenRun(folder, f"{RUN_FILE} key 'method' is {method!r}, not a method name")
    recipe = meta.get("recipe", SHARED)
    if not isinstance(recipe, str) or not recipe:
        raise BrokenRun(folder, f"{RUN_FILE} key 'recipe' is {recipe!r}, not a recipe name")
    recipe_source = meta.get("recipe_source")
    if recipe_source is not None and not isinstance(recipe_source, str):
        raise BrokenRun(folder, f"{RUN_FILE} key 'recipe_source' is {recipe_source!r}, not a text")
    changes = _method_changes(folder, meta, method, recipe)
    setting = {key: meta.get(key) for key in SETTING_KEYS}
    for key, value in setting.items():
        if value is not None and not (isinstance(value, str) and value):
            raise BrokenRun(folder, f"{RUN_FILE} key {key!r} is {value!r}, not a name")
    split = _split(folder, meta.get("split_sizes"))
    per_query = _read_per_query(folder / PER_QUERY_FILE, metrics)
    seconds = meta.get("seconds_per_epoch")
    if seconds is not None and not (_number(seconds) and seconds >= 0):
        raise BrokenRun(
            folder, f"{RUN_FILE} key 'seconds_per_epoch' is {seconds!r}, not a number of seconds"
        )
    return Run(
        folder,
        meta["data"],
        meta["data"],
        meta["hash_bits"],
        meta["seed"],
        metrics,
        curves,
        method,
        per_query,
        seconds,
        collapse,
        recipe,
        recipe_source,
        changes,
        split=split,
        **setting,
    )


def _split(folder: Path, sizes: Any) -> str | None:
    """run.json's ``split_sizes`` (how many items each set held) as the report names them."""
    if sizes is None:
        return None
    keys = ("train", "query", "database")
    valid = isinstance(sizes, dict) and set(sizes) == set(keys)
    if not valid or not all(type(sizes[key]) is int and sizes[key] >= 0 for key in keys):
        raise BrokenRun(
            folder,
            f"{RUN_FILE} key 'split_sizes' is {sizes!r}, not an object of the number of items in "
            "each set ('train', 'query', 'database')",
        )
    return report_tables.sizes_label(sizes)


def _options(folder: Path, meta: dict, key: str) -> dict | None:
    """run.json's ``key``, an object of options; None where the run did not record it."""
    options = meta.get(key)
    if options is not None and not (
        isinstance(options, dict) and all(isinstance(name, str) for name in options)
    ):
        raise BrokenRun(folder, f"{RUN_FILE} key {key!r} is {options!r}, not an object of options")
    return options


def _method_changes(folder: Path, meta: dict, method: str, recipe: str) -> dict:
    """What the run changed from its method as the recipe trains it now: measured anew from the
    options it recorded (``method_options``), so that a run from before a default moved (idhn's
    scale, 5 then 24) is named by the value it trained with; as recorded (``method_changes``) for
    the settings beside the options (``freeze_backbone``) and for a run that did not record them."""
    recorded = _options(folder, meta, "method_changes") or {}
    options = _options(folder, meta, "method_options")
    # names from a file, never a path: the options are measured against the project's own
    if options is None or method not in names_in("method") or recipe not in names_in("recipe"):
        return recorded
    settings = {key: value for key, value in recorded.items() if key not in options}
    return settings | method_changes({"name": method, **options}, recipe)


def _varying(runs: list[Run], keys: tuple[str, ...]) -> set[tuple[str, str]]:
    """The (data set, key) pairs whose value differs among the runs of that data set."""
    values = defaultdict(set)
    for run in runs:
        for key in keys:
            values[run.data, key].add(getattr(run, key))
    return {group for group, seen in values.items() if len(seen) > 1}


def distinguish(runs: list[Run]) -> list[Run]:
    """The runs, each named apart from the others of its data set that differ in protocol (then
    the data set is ``fashion_mnist (protocol=small)``: other queries, rows never compared) or,
    within a protocol, in the sizes of its sets (``mnist (protocol=paper, train=4000, query=1000,
    database=4000)``: a subset of the files), or in backbone or experiment (then the training is
    ``dsh (backbone=vgg16)``): so that the report never pools or pairs them. A run that did not
    record a value keeps the plain name, which still sets it apart from those that did."""
    runs = _named_by_split(runs)
    varying = _varying(runs, TRAINING_SETTING)
    return [
        replace(
            run,
            setting={
                key: getattr(run, key)
                for key in TRAINING_SETTING
                if (run.data, key) in varying and getattr(run, key) is not None
            },
        )
        for run in runs
    ]


def _named_by_split(runs: list[Run]) -> list[Run]:
    """The runs, the data set of each named by its protocol where the runs of that data set
    differ in it, and by its sets' sizes where those of its protocol that recorded them differ
    in them."""
    protocols = _varying(runs, ("protocol",))
    # only sizes recorded differ: a run from before runs recorded them pools with those of its
    # protocol where they all held one size
    sizes = defaultdict(set)
    for run in runs:
        if run.split is not None:
            sizes[run.data, run.protocol].add(run.split)
    named = []
    for run in runs:
        qualifiers = []
        if (run.data, "protocol") in protocols and run.protocol is not None:
            qualifiers.append(f"protocol={run.protocol}")
        if len(sizes[run.data, run.protocol]) > 1 and run.split is not None:
            qualifiers.append(run.split)
        if qualifiers:
            run = replace(run, data=report_tables.data_label(run.data, qualifiers))
        named.append(run)
    return named


def _read_per_query(path: Path, metrics: dict) -> PerQuery | None:
    """The per-query figures, if the run kept them; each must be one a metric of the run is the
    mean of, or they belong to another run."""
    if not path.is_file():
        return None
    try:
        per_query = read_per_query(path)
    except ValueError as error:
        raise BrokenRun(path.parent, str(error)) from None
    strangers = sorted(set(per_query.figures) - set(metrics))
    if strangers:
        raise BrokenRun(
            path.parent,
            f"{path.name} holds figures that {METRICS_FILE} has no mean of "
            f"({', '.join(strangers)}): the two files are of different runs",
        )
    return per_query


def find_runs(root: Path, skip_broken: bool = False) -> tuple[list[Run], list[BrokenRun]]:
    """Every training run below ``root`` (a folder with run.json and metrics.json), and the
    broken ones left out with ``skip_broken``; without it, the first broken run is raised. Runs
    of one data set set up differently are named apart (``distinguish``)."""
    runs, broken = [], []
    for metrics_file in sorted(root.rglob(METRICS_FILE)):
        folder = metrics_file.parent
        if not (folder / RUN_FILE).is_file():
            continue  # not a training run (an evaluation, a report's own output, ...)
        try:
            runs.append(read_run(folder))
        except BrokenRun as error:
            if not skip_broken:
                raise
            broken.append(error)
    if not runs:
        left_out = "".join(f"\n  left out: {error}" for error in broken)
        raise FileNotFoundError(
            f"no training runs below {root}: ssdh-report reads the folders where ssdh-train "
            f"wrote {RUN_FILE} and {METRICS_FILE} (outputs/train/...)" + left_out
        )
    return distinguish(runs), broken
