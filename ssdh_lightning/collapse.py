"""Collapse of a training run, told from what one validation sees (docs/evaluation.md, "Collapse").

Three signs, each cheap and each seen in real failures (issue 23: dpsh at lr 0.05 gave every
image the same code and a loss flat at 1.15 for three epochs, and finished quietly):

- **codes**: fewer distinct database codes than classes, and no more than at the validation
  before, or at the training's last validation after a whole epoch: some classes cannot be told
  apart, and training does not part them (a start with one code for all, as lin2015's latent
  bias of 1 gives, is not collapse while the count can still grow);
- **features**: the database features' spread (the mean over dimensions of their standard
  deviation) fell below a share of the first validation's, or to almost nothing;
- **loss**: the mean training loss of the last periods (each epoch, or the steps up to a
  validation within one) moved by less than a share of its size;
- and features or losses that are not finite: the training diverged.

Pure numpy; the callback (``callbacks.collapse``) feeds it at every validation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A spread below this is none at all, whatever the first validation's was.
NO_SPREAD = 1e-6


@dataclass(frozen=True)
class CollapseThresholds:
    """When each sign says collapse; the defaults flag no healthy digits or Fashion-MNIST run."""

    # flagged when distinct codes < min_codes_per_class * classes in the database and no more
    # than at the validation before
    min_codes_per_class: float = 1.0
    # flagged when the spread < min_spread_ratio * the first validation's (or < NO_SPREAD)
    min_spread_ratio: float = 0.01
    # flagged when (max - min) / |mean| of the last loss_window losses (epochs) < min_loss_change,
    # unless the loss is 0 (a hinge whose margins are all met). Measured: 5 epochs of healthy
    # runs on the digits moved 1.2e-3 or more (dch, converging; 3 epochs came down to 3e-4),
    # dhn's dead network on Fashion-MNIST 8e-4
    min_loss_change: float = 1e-3
    loss_window: int = 5

    def __post_init__(self) -> None:
        for name in ("min_codes_per_class", "min_spread_ratio", "min_loss_change"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(
                    f"collapse threshold {name} must be a number >= 0 (0 switches the sign off), "
                    f"got {value!r}"
                )
        if not (isinstance(self.loss_window, int) and self.loss_window >= 2):
            raise ValueError(
                f"collapse threshold loss_window must be an integer >= 2 (the losses compared), "
                f"got {self.loss_window!r}"
            )


@dataclass(frozen=True)
class CollapseCheck:
    """One validation's signs: the measures, and ``reasons`` (empty: no collapse)."""

    distinct_codes: int
    distinct_code_share: float
    feature_spread: float
    feature_spread_ratio: float
    loss_change: float | None  # None: fewer losses than the window yet
    reasons: tuple[str, ...]

    @property
    def collapsed(self) -> bool:
        return bool(self.reasons)

    @property
    def loss_flat(self) -> bool:
        return any(reason.startswith("loss: flat") for reason in self.reasons)

    def as_record(self) -> dict:
        """What metrics.json keeps under "collapse": plain JSON, a measure that is not finite
        (features or loss that diverged) as null, which ``reasons`` names."""
        measures = {
            "distinct_code_share": self.distinct_code_share,
            "feature_spread": self.feature_spread,
            "feature_spread_ratio": self.feature_spread_ratio,
            "loss_change": self.loss_change,
        }
        return {
            "collapsed": self.collapsed,
            "reasons": list(self.reasons),
            "distinct_codes": self.distinct_codes,
            "loss_flat": self.loss_flat,
        } | {
            name: value if value is not None and math.isfinite(value) else None
            for name, value in measures.items()
        }


def count_distinct_codes(codes: np.ndarray) -> int:
    """Distinct rows of ``codes`` (0/1 or packed bytes, one row an item)."""
    return len(np.unique(np.ascontiguousarray(codes), axis=0)) if len(codes) else 0


def feature_spread(features: np.ndarray) -> float:
    """The mean over dimensions of the features' standard deviation over items."""
    return float(np.mean(np.std(np.asarray(features, dtype=np.float64), axis=0)))


def relative_loss_change(losses: Sequence[float], window: int) -> float | None:
    """(max - min) / |mean| of the last ``window`` losses; None while there are fewer. A loss
    flat at 0 gives 0 (nothing moves); a moving one around 0 gives inf."""
    if len(losses) < window:
        return None
    last = np.asarray(losses[-window:], dtype=np.float64)
    change = float(last.max() - last.min())
    if change == 0:
        return 0.0
    size = abs(float(last.mean()))
    return change / size if size > 0 else float("inf")


def check_collapse(
    codes: np.ndarray,
    features: np.ndarray,
    classes: int,
    losses: Sequence[float],
    first_spread: float,
    previous_distinct_codes: int | None,
    thresholds: CollapseThresholds,
    last: bool = False,
) -> CollapseCheck:
    """The signs of collapse in a database's ``codes`` and ``features`` (of ``classes``
    classes), the mean training ``losses`` of each period so far, the spread of the
    first validation's features, ``first_spread``, and the distinct codes of the validation
    before (None at the first); ``last``: no validation of the training comes after this one,
    which follows a whole epoch at least, so too few codes will not grow any more (a sweep that
    validates once, at the end)."""
    distinct = count_distinct_codes(codes)
    share = distinct / len(codes) if len(codes) else 0.0
    spread = feature_spread(features)
    ratio = spread / first_spread if first_spread > 0 else 1.0
    change = relative_loss_change(losses, thresholds.loss_window)
    reasons = []
    if not np.isfinite(features).all():
        reasons.append("features: not finite (the training diverged)")
    if not np.isfinite(losses).all():
        reasons.append("loss: not finite (the training diverged)")
    too_few = distinct < thresholds.min_codes_per_class * classes
    stuck = previous_distinct_codes is not None and distinct <= previous_distinct_codes
    if too_few and (stuck or last):
        reasons.append(
            f"codes: {distinct} distinct among {len(codes)} database codes, fewer than the "
            f"{classes} classes "
            + ("and no more than at the validation before" if stuck else "at the training's end")
        )
    if math.isfinite(spread) and (spread < NO_SPREAD or ratio < thresholds.min_spread_ratio):
        reasons.append(
            f"features: spread {spread:.3g}, {ratio:.3g} of the first validation's "
            f"{first_spread:.3g}"
        )
    last = losses[-thresholds.loss_window :]
    flat = change is not None and change < thresholds.min_loss_change
    if flat and np.any(last) and np.isfinite(losses).all():  # all 0: a hinge's margins all met
        recent = ", ".join(f"{loss:.4g}" for loss in last)
        reasons.append(
            f"loss: flat over the last {thresholds.loss_window} training periods ({recent})"
        )
    return CollapseCheck(distinct, share, spread, ratio, change, tuple(reasons))
