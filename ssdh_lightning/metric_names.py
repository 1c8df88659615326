"""The one place metric names are spelled: the engine, the reference, the baselines, logging,
checkpoint monitors, reports and tests build every key here. Imports nothing of the project.

A key is ``ROW/METRIC``: the row is a mode or a baseline (the rows, in their order, are
``baselines.ROWS``: the baselines are named where each is defined)."""

from __future__ import annotations

# The three search modes of PROTOCOL.md; the baseline rows scored beside them include the
# hashing baselines fit on the features before fine-tuning (``itq_initial``) and ES on those
# ("initial").
MODES = ("bcs", "es", "hds")
INITIAL = "initial"


def on_initial(hasher: str) -> str:
    """``itq`` -> ``itq_initial``: the row of a hashing baseline fit on the features before
    fine-tuning."""
    return f"{hasher}_{INITIAL}"


VAL = "val/"
TRAIN_LOSS = "train/loss"
TRAIN_ACCURACY = "train/accuracy"
VAL_LOSS = "val/loss"
VAL_ACCURACY = "val/accuracy"
# multi-label data: mean over classes of the average precision of the classifier's scores
VAL_CLASSIFIER_MAP = "val/classifier_map"
PRECISION_CURVE = "val/precision_curve"
LATENT_PROBS = "val/latent_probs"


def map_at(row: str, k: int | str) -> str:
    """``bcs/map@1000``: mAP@k, AP normalised by the relevant items within the top k."""
    return f"{row}/map@{k}"


def precision_at(row: str, k: int | str) -> str:
    """``hds/precision@100``."""
    return f"{row}/precision@{k}"


# Figures of a Hamming ranking over the orders inside its ties (PROTOCOL.md): the expectation
# over uniformly random orders, and the best and worst any order gives.
TIE_AVG, TIE_BEST, TIE_WORST = "tie_avg", "tie_best", "tie_worst"


def tie_figure(key: str, figure: str) -> str:
    """``bcs/map@1000``, ``tie_avg`` -> ``bcs/map@1000_tie_avg``."""
    return f"{key}_{figure}"


def ndcg_at(row: str, k: int | str) -> str:
    """``bcs/ndcg@100``: NDCG@k of multi-label data, gain = labels shared with the query."""
    return f"{row}/ndcg@{k}"


def acg_at(row: str, k: int | str) -> str:
    """``bcs/acg@100``: average cumulative gain of the top k (multi-label data)."""
    return f"{row}/acg@{k}"


def wap_at(row: str, k: int | str) -> str:
    """``bcs/wap@100``: weighted mAP@k (multi-label data)."""
    return f"{row}/wap@{k}"


def radius_precision(row: str, radius: int) -> str:
    """``bcs/precision_r2``: precision of the items within Hamming radius ``radius``."""
    return f"{row}/precision_r{radius}"


def radius_empty(row: str, radius: int) -> str:
    """``bcs/empty_r2``: the fraction of queries with no item within that radius."""
    return f"{row}/empty_r{radius}"


def pool_mean(row: str = "hds") -> str:
    return f"{row}/pool_mean"


def pool_median(row: str = "hds") -> str:
    return f"{row}/pool_median"


def examples(mode: str) -> str:
    """The TensorBoard image of a few queries and their top results by ``mode``."""
    return f"{VAL}examples/{mode}"


MONITOR = VAL + map_at("bcs", "all")  # what checkpoints keep the best of


def renamed(key: str, row: str) -> str:
    """The same metric of another row: ``bcs/map@all``, ``lsh`` -> ``lsh/map@all``."""
    return f"{row}/{key.partition('/')[2]}"


def logged(metric: str) -> str:
    """The logged name of a retrieval metric: ``bcs/map@1000`` -> ``val/bcs/map@1000``."""
    return VAL + metric


def final(logged_name: str) -> str:
    """The name in metrics.json: ``val/bcs/map@1000`` -> ``bcs/map@1000``."""
    return logged_name.removeprefix(VAL)
