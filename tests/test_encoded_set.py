"""EncodedSet: items gathered from several processes come back in data-set order, each once."""

from __future__ import annotations

import json

import torch

from helpers import run_tool
from ssdh_lightning.module import Encoded, EncodedSet
from ssdh_lightning.run_files import METRICS_FILE


def _encoded(rows: torch.Tensor) -> Encoded:
    """Values that say which item they belong to: item p has features [p, p], codes of p's bits."""
    features = rows.float()[:, None].repeat(1, 2)
    codes = ((rows[:, None] >> torch.arange(3)) & 1).bool()
    return Encoded(features=features, probs=codes.float(), codes=codes)


def test_interleaved_padded_batches_come_back_in_order_each_item_once():
    # Two processes of a DistributedSampler over 5 items: rank 0 gets 0, 2, 4; rank 1 gets
    # 1, 3 and a repeat of 0 as padding; batches arrive in any order.
    gathered = EncodedSet(keep_probs=True)
    for positions in ([3, 0], [0, 2], [4], [1]):
        positions = torch.tensor(positions)
        gathered.update(_encoded(positions), labels=positions * 10, positions=positions)
    result = gathered.compute()
    expected = torch.arange(5)
    assert torch.equal(result["positions"], expected)
    assert torch.equal(result["labels"], expected * 10)
    assert torch.equal(result["features"], _encoded(expected).features)
    assert torch.equal(result["codes"], _encoded(expected).codes.to(torch.uint8))
    assert torch.equal(result["probs"], _encoded(expected).probs)


def test_probs_are_kept_only_when_asked():
    gathered = EncodedSet()
    positions = torch.tensor([1, 0])
    gathered.update(_encoded(positions), labels=positions, positions=positions)
    assert "probs" not in gathered.compute()


def test_two_processes_validate_to_the_metrics_of_one(trained_run, evaluated_run, tmp_path):
    """DDP on the CPU (gloo): every process scores the whole set, as one process does. DDP
    starts its processes as the command does, so the two-process run is a real ssdh-eval."""
    run_dir = tmp_path / "devices2"
    run_tool(
        "ssdh-eval",
        f"ckpt_path={trained_run / 'checkpoints' / 'last.ckpt'}",
        "baselines=[]",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    metrics = {
        devices: json.loads((folder / METRICS_FILE).read_text())
        for devices, folder in ((1, evaluated_run), (2, run_dir))
    }
    retrieval = [key for key in metrics[1] if key.split("/")[0] in ("bcs", "es", "hds")]
    assert retrieval
    two, one = ({key: metrics[n][key] for key in retrieval} for n in (2, 1))
    assert two == one
