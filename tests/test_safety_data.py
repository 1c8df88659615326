"""Data files from elsewhere never run code: CIFAR-10's python batches are pickles, read by an
unpickler that builds arrays, lists and dicts only."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from ssdh_lightning.data import CIFAR10DataModule
from ssdh_lightning.testing.formats import write_cifar10

NAMES = [f"class {c}" for c in range(10)]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _cifar(root, per_class: int = 2):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class)
    train = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    write_cifar10(root, train, labels, test, np.arange(10), NAMES)
    return train, labels


def _module(root) -> CIFAR10DataModule:
    return CIFAR10DataModule(root=root, download=False, verify_checksums=False)


def test_cifar_batches_are_read_as_arrays(tmp_path):
    train, labels = _cifar(tmp_path)
    module = _module(tmp_path)
    module.setup()
    assert module.class_names == NAMES
    assert torch.equal(module.splits.database.images, torch.from_numpy(train).permute(0, 3, 1, 2))
    assert torch.equal(module.splits.database.labels, torch.from_numpy(labels))


@pytest.mark.parametrize("where", ["data_batch_3", "batches.meta"])
def test_a_batch_that_would_run_code_is_refused_and_nothing_runs(tmp_path, where):
    _cifar(tmp_path)
    marker = tmp_path / "ran"
    path = tmp_path / "cifar-10-batches-py" / where
    batch = pickle.loads(path.read_bytes())  # the test's own file, written just above
    batch["label_names" if where == "batches.meta" else "labels"] = _Payload(marker)
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=r"posix\.system, not an array") as error:
        _module(tmp_path).setup()
    assert "cannot be read" in str(error.value)
    assert not marker.exists()
