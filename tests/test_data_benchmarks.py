"""The data benchmarks run at a tiny size: they measure what they say (not how fast it is)."""

from __future__ import annotations

import pytest

from helpers import load_benchmark


@pytest.mark.parametrize("data", ["mnist", "cifar10"])
def test_loading_benchmark_times_both_pipelines_on_files_in_the_real_format(data, tmp_path):
    bench = load_benchmark("bench_data_loading")
    source, results = bench.run(data, images=200, batch_size=50, root=tmp_path / "none", repeats=1)
    assert source == "200 synthetic images in the real format"
    assert list(results) == [
        "in-memory uint8, batched on the device",
        "torchvision per-image (0 workers)",
    ]
    for rates in results.values():
        assert rates["loading"] > 0 and rates["training"] > 0


def test_scan_benchmark_finds_every_file_with_each_method(tmp_path):
    bench = load_benchmark("bench_folder_scan")
    timings, cache_bytes = bench.run(files=300, classes=3, root=tmp_path / "tree", repeats=1)
    assert len(timings) == 3
    assert all(found == 300 and seconds > 0 for seconds, found in timings.values())
    assert cache_bytes > 0


def test_decode_benchmark_reads_every_worker_count():
    bench = load_benchmark("bench_jpeg_decode")
    rates = bench.run(images=96, size=(64, 48), workers=(0, 1), batch_size=32)
    assert list(rates) == [0, 1] and all(rate > 0 for rate in rates.values())


def test_folder_training_benchmark_times_an_epoch_from_files_and_from_memory():
    bench = load_benchmark("bench_folder_training")
    result = bench.run(images=120, size=16, repeats=1)
    assert result["images"] == 110  # the training split: 11 of the 12 images of each class
    assert result["image size"] == [64, 64]  # the small CNN's input for image files
    assert result["folder"] > 0 and result["in memory"] > 0
    assert result["ratio"] == result["folder"] / result["in memory"]
