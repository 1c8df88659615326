"""benchmarks/bench_training.py at tiny sizes on the CPU: its rows are checked, not its speed."""

from __future__ import annotations

import pytest
import torch

from helpers import load_benchmark

bench_training = load_benchmark("bench_training")


def test_training_benchmark_at_a_tiny_size():
    rows = bench_training.run(
        models=["small_cnn"],
        precisions=["32-true", "bf16-mixed"],
        channels_last=[False, True],
        batch=2,
        steps=2,
        warmup=1,
        device="cpu",
    )
    settings = [
        (row["model"], row["input"], row["channels_last"], row["precision"]) for row in rows
    ]
    assert settings == [
        ("small_cnn", 32, last, precision)
        for last in (False, True)
        for precision in ("32-true", "bf16-mixed")
    ]
    for row in rows:
        assert row["project img/s"] > 0 and row["plain img/s"] > 0 and not row["compile"]
        assert row["ratio"] == pytest.approx(row["project img/s"] / row["plain img/s"])


def test_a_timm_model_at_its_input_and_the_plain_loop_trains_it():
    pytest.importorskip("timm")
    module, size = bench_training.build_model("test_vit", channels_last=False, compile=False)
    assert size == 160  # from its pretrained config
    before = module.head.latent.weight.detach().clone()
    data = bench_training.loader(size, batch=2, batches=3)
    seconds = bench_training.plain_seconds(module, data, torch.device("cpu"), "bf16-mixed", 1)
    assert seconds > 0 and not torch.equal(module.head.latent.weight, before)
