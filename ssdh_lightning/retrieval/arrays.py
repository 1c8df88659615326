"""Inputs of the engine: numpy arrays, memory maps or torch tensors, checked at the boundary."""

from __future__ import annotations

import numpy as np


def as_numpy(values, name: str) -> np.ndarray:
    """A numpy view of ``values`` (no copy for numpy arrays, memory maps and CPU tensors)."""
    if isinstance(values, np.ndarray):
        return values
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but the engine needs none
        torch = None
    if torch is not None and isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a numpy array, a memory map or a torch tensor, "
            f"got {type(values).__name__}"
        ) from error


def zero_one(array: np.ndarray, name: str, fix: str) -> np.ndarray:
    """``array``'s 0/1 values in a form ``numpy.packbits`` reads fast (bool or unsigned bytes).

    The check is one reduction: a signed or float array viewed as unsigned bits has a maximum of
    1 only if every value is 0 or 1 (negatives wrap to large values), and floats are compared
    with 1 once. ``np.isin`` took ten times the search it guarded.
    """
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind in "iu":
        unsigned = array.view(np.dtype(f"u{array.itemsize}"))
        if array.size and unsigned.max() > 1:
            _reject(array, name, fix)
        # packbits converts wider integers slowly; a cast to bool is one cheap pass
        return unsigned if array.itemsize == 1 else unsigned.astype(np.bool_)
    if array.dtype.kind == "f":
        ones = array == 1
        if np.count_nonzero(ones) != np.count_nonzero(array):  # NaN and 0.5 count as nonzero
            _reject(array, name, fix)
        return ones
    raise TypeError(f"{name} must be bool, integer or float 0/1 values, got dtype {array.dtype}")


def _reject(array: np.ndarray, name: str, fix: str) -> None:
    # the failure path only: find a value to name
    flat = array.reshape(-1)
    bad = flat[~((flat == 0) | (flat == 1))][0].item()
    raise ValueError(f"{name} must hold only 0 and 1, got {bad!r}; {fix}")


def relevance_labels(labels, name: str) -> tuple[np.ndarray, bool]:
    """Labels as the kernels read them: (n, 1) class ids, or (n, words) multi-hot bit masks.

    Returns the array and whether it is multi-label. Single labels are 1-D integers; multi-label
    data is a 2-D 0/1 matrix (n, classes), and two items are relevant when they share a class.
    """
    array = as_numpy(labels, name)
    if array.dtype.kind not in "biu":
        raise TypeError(
            f"{name} must be integer class ids (n,) or a 0/1 multi-label matrix (n, classes), "
            f"got dtype {array.dtype}"
        )
    if array.ndim == 1:
        return np.ascontiguousarray(array, dtype=np.int64).reshape(-1, 1), False
    if array.ndim == 2:
        bits = zero_one(
            array, name, "a 2-D label array is a multi-label matrix; pass class ids as 1-D"
        )
        n_words = (array.shape[1] + 63) // 64
        padded = np.zeros((array.shape[0], n_words * 64), dtype=np.uint8)
        padded[:, : array.shape[1]] = bits
        words = np.packbits(padded, axis=1, bitorder="little").view(np.int64)
        return np.ascontiguousarray(words), True
    raise ValueError(
        f"{name} must be 1-D (class ids) or 2-D (multi-label), got shape {array.shape}"
    )


def narrow_class_ids(query_labels: np.ndarray, database_labels: np.ndarray):
    """Class ids (n, 1) of both sides in the smallest unsigned type that holds them all.

    The kernels compare the query's id with every database item's; uint8 ids vectorise eight
    times wider than int64 (at CIFAR-10 size, a quarter of the Hamming scan's time).
    """
    low = min(int(query_labels.min()), int(database_labels.min()))
    high = max(int(query_labels.max()), int(database_labels.max()))
    for dtype in (np.uint8, np.uint16):
        if low >= 0 and high <= np.iinfo(dtype).max:
            return query_labels.astype(dtype), database_labels.astype(dtype)
    return query_labels, database_labels


def check_feature_dims(query_features: np.ndarray, database_features: np.ndarray) -> None:
    if query_features.shape[1] != database_features.shape[1]:
        raise ValueError(
            f"query_features have {query_features.shape[1]} values but database_features have "
            f"{database_features.shape[1]}; both must come from the same model: encode the "
            "queries with the database's model"
        )


def check_rows(name: str, array_len: int, other_name: str, other_len: int) -> None:
    if array_len != other_len:
        raise ValueError(
            f"{name} has {array_len} rows but {other_name} has {other_len}; "
            "they must describe the same items in the same order"
        )


def features_array(features, name: str) -> np.ndarray:
    """Features (n, d) of a float dtype; memory maps stay memory maps."""
    array = as_numpy(features, name)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (n, feature_dim), got {array.shape}")
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be float16, float32 or float64, got {array.dtype}")
    return array
