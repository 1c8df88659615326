"""The index benchmark runs at a tiny size: its figures are checked for sense, not speed."""

from __future__ import annotations

from helpers import load_benchmark

bench_index = load_benchmark("bench_index")


def test_synthetic_index_is_written_once_then_timed(tmp_path):
    rows = bench_index.run_synthetic(tmp_path, items=3000, bits=64, feature_dim=16, queries=20)
    steps = [row["step"] for row in rows]
    assert steps[0] == "Index.load" and steps[-1] == "Index.load(verify=True)"
    assert {"BCS top 10, one query", "HDS top 10, one query", "ES top 10, one query"} <= set(steps)
    assert all(row["ms"] > 0 for row in rows)
    (folder,) = tmp_path.iterdir()
    manifest = (folder / "manifest.json").read_text()
    bench_index.run_synthetic(tmp_path, items=3000, bits=64, feature_dim=16, queries=2)
    assert (folder / "manifest.json").read_text() == manifest  # reused, not written again


def test_folder_benchmark_builds_and_searches_real_files(trained_run, tmp_path):
    checkpoint = trained_run / "checkpoints" / "last.ckpt"
    rows = bench_index.run_folder(
        tmp_path, images=40, ckpt=checkpoint, epochs=0, num_workers=0, batch_size=16, queries=4
    )
    by_step = {row["step"]: row for row in rows}
    assert by_step["build"]["images_per_s"] > 0
    assert len(list((tmp_path / "digits-40-jpeg").rglob("*.jpg"))) == 40
    for mode in ("BCS", "ES", "HDS"):
        assert 0 <= by_step[f"{mode} top 10, one query"]["precision@10"] <= 1
