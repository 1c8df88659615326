"""Indexes of real image folders built with a short-trained checkpoint: search in every mode,
resume, grow, every bad input, and the ssdh-index / ssdh-search commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import BUILD_LOG, CPU, DIGITS, assert_stopped, build, call_tool, run_tool, write_digits
from ssdh_lightning.checkpoints import read_checkpoint
from ssdh_lightning.indexing import search_images
from ssdh_lightning.module import SSDHModule
from ssdh_lightning.retrieval import Index
from ssdh_lightning.retrieval.index import ARRAY_DTYPES
from ssdh_lightning.testing.formats import encode_image


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


@pytest.fixture
def folder(tmp_path) -> Path:
    """60 digits in class folders (0..9), and one image at the root, which has no class."""
    root = tmp_path / "images"
    write_digits(root, range(60))
    (root / "loose.png").write_bytes(encode_image(np.zeros((8, 8), dtype=np.uint8), ".png"))
    return root


@pytest.fixture
def checkpoint_of_16_bits(checkpoint, tmp_path) -> Path:
    """A checkpoint of the same network with 16-bit codes (untrained: only its shape matters)."""
    hparams = {**read_checkpoint(checkpoint)["hyper_parameters"], "hash_bits": 16}
    path = tmp_path / "bits16.ckpt"
    torch.save(
        {"hyper_parameters": hparams, "state_dict": SSDHModule(**hparams).state_dict()}, path
    )
    return path


def test_build_indexes_every_image_with_labels_from_its_folder(checkpoint, folder, tmp_path):
    built = build(checkpoint, folder, tmp_path / "index")
    index = Index.load(tmp_path / "index", verify=True)
    assert len(index) == len(built) == 61
    assert index.class_names == [str(d) for d in range(10)]
    paths = index.paths.tolist()
    assert paths[:2] == ["loose.png", "0/0000.png"]  # by folder (the root first), then name
    for path, label in zip(paths, index.labels, strict=True):
        expected = -1 if path == "loose.png" else int(path.split("/")[0])
        assert label == expected, path
    manifest = index.manifest
    assert manifest["images_root"] == str(folder.resolve())
    assert manifest["model"]["checkpoint"] == str(checkpoint.resolve())
    assert (
        manifest["preprocessing"]
        == read_checkpoint(checkpoint)["hyper_parameters"]["preprocessing"]
    )
    assert not (tmp_path / "index.work").exists()


@pytest.mark.parametrize("mode", ["bcs", "es", "hds"])
def test_an_indexed_image_finds_itself(checkpoint, folder, tmp_path, mode):
    index = build(checkpoint, folder, tmp_path / "index")
    query = folder / "3" / "0003.png"
    found = search_images(index, query, k=5, mode=mode)
    ranked = [index.paths[i] for i in found.result.positions[0]]
    distances = found.result.distances[0]
    if mode == "bcs":  # equal codes tie at 0, in index order: itself is among them
        assert distances[0] == 0
        assert "3/0003.png" in [p for p, d in zip(ranked, distances, strict=True) if d == 0]
    else:
        assert ranked[0] == "3/0003.png" and distances[0] < 1e-2
    assert found.seconds >= 0 and found.queries.seconds > 0


def test_a_folder_of_queries_searches_each_image(checkpoint, folder, tmp_path):
    index = build(checkpoint, folder, tmp_path / "index")
    found = search_images(index, folder / "7", k=3, mode="es")
    sevens = sorted((folder / "7").iterdir())
    assert found.queries.paths == sevens
    assert found.result.positions.shape == (len(sevens), 3)
    assert [index.paths[i] for i in found.result.positions[:, 0]] == [
        f"7/{path.name}" for path in sevens
    ]


def test_an_interrupted_build_resumes_where_it_stopped(checkpoint, folder, tmp_path, caplog):
    out = tmp_path / "index"
    with pytest.raises(RuntimeError, match="stopped before encoding 29 of the 61 new files"):
        build(checkpoint, folder, out, trainer_options={**CPU, "limit_predict_batches": 2})
    assert len(list((tmp_path / "index.work").glob("*/*.npz"))) == 2
    assert not (out / "manifest.json").exists()
    caplog.set_level(logging.INFO, logger=BUILD_LOG)
    resumed = build(checkpoint, folder, out)
    assert "resuming: 32 of the 61 new or changed files are already encoded" in caplog.text
    fresh = build(checkpoint, folder, tmp_path / "fresh")
    assert resumed.paths.tolist() == fresh.paths.tolist()
    assert np.array_equal(resumed.codes.bytes, fresh.codes.bytes)
    assert np.allclose(resumed.features, fresh.features, atol=1e-2)
    assert not (tmp_path / "index.work").exists()


def test_an_interrupted_update_leaves_the_index_as_it_was(checkpoint, folder, tmp_path):
    out = tmp_path / "index"
    build(checkpoint, folder, out)
    manifest = (out / "manifest.json").read_text()
    write_digits(folder, range(100, 140))
    with pytest.raises(RuntimeError, match="run the same command again to resume"):
        build(checkpoint, folder, out, trainer_options={**CPU, "limit_predict_batches": 1})
    assert (out / "manifest.json").read_text() == manifest
    assert len(Index.load(out, verify=True)) == 61


def test_a_grown_folder_encodes_only_its_new_and_changed_files(
    checkpoint, folder, tmp_path, caplog
):
    out = tmp_path / "index"
    first = build(checkpoint, folder, out)
    old_paths = first.paths.tolist()
    for gone in ("0/0000.png", "5/0005.png"):
        (folder / gone).unlink()
    changed = folder / "1" / "0001.png"
    changed.write_bytes(encode_image(np.full((8, 8), 255, dtype=np.uint8), ".png"))
    write_digits(folder, range(200, 210))
    caplog.set_level(logging.INFO, logger=BUILD_LOG)
    grown = build(checkpoint, folder, out)
    assert "58 unchanged in the index, 11 new or changed, 3 removed" in caplog.text
    paths = grown.paths.tolist()
    unchanged = [p for p in old_paths if p not in ("0/0000.png", "5/0005.png", "1/0001.png")]
    assert paths[:58] == unchanged  # kept rows keep their order
    added = [f"{DIGITS.target[n]}/{n:04d}.png" for n in range(200, 210)]
    assert sorted(paths[58:]) == sorted(["1/0001.png", *added])
    assert grown.generation == 2 and len(Index.load(out, verify=True)) == 69
    assert len(list(out.glob("*.npy"))) == len(ARRAY_DTYPES)  # the first generation's are gone

    caplog.clear()
    again = build(checkpoint, folder, out)
    assert "is up to date: 69 images" in caplog.text and again.generation == 2


def test_a_checkpoint_of_another_hash_length_is_refused(
    checkpoint, checkpoint_of_16_bits, folder, tmp_path
):
    out = tmp_path / "index"
    index = build(checkpoint, folder, out)
    manifest = (out / "manifest.json").read_text()
    message = r"holds a model of 16 bits, but the index at .* holds 48-bit codes"
    with pytest.raises(ValueError, match=message):
        build(checkpoint_of_16_bits, folder, out)
    with pytest.raises(ValueError, match=message):
        search_images(index, folder / "3" / "0003.png", ckpt_path=checkpoint_of_16_bits)
    assert (out / "manifest.json").read_text() == manifest


def test_a_query_that_is_not_an_image_is_refused(checkpoint, folder, tmp_path):
    index = build(checkpoint, folder, tmp_path / "index")
    notes = tmp_path / "notes.jpg"
    notes.write_text("not an image")
    with pytest.raises(ValueError, match=r"query .*notes\.jpg is not an image that can be read"):
        search_images(index, notes)
    with pytest.raises(FileNotFoundError, match=r"query .*absent\.png does not exist"):
        search_images(index, tmp_path / "absent.png")
    # bad search settings are refused before the model is loaded (the query does not exist)
    with pytest.raises(ValueError, match="modes must be distinct names"):
        search_images(index, tmp_path / "absent.png", mode="cosine")
    with pytest.raises(ValueError, match="mode='es' ranks features only"):
        search_images(index, tmp_path / "absent.png", mode="es", backend="faiss")


def test_an_empty_folder_is_refused_and_the_index_kept(checkpoint, folder, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no image files .* under .*empty: nothing to index"):
        build(checkpoint, tmp_path / "empty", tmp_path / "new_index")
    assert not (tmp_path / "new_index").exists()

    out = tmp_path / "index"
    build(checkpoint, folder, out)
    manifest = (out / "manifest.json").read_text()
    for path in folder.rglob("*.png"):
        path.unlink()
    with pytest.raises(ValueError, match="no image files"):
        build(checkpoint, folder, out)
    assert (out / "manifest.json").read_text() == manifest


def test_a_folder_of_unreadable_files_is_refused(checkpoint, tmp_path):
    for name in ("a.jpg", "b.png"):
        (tmp_path / "broken" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "broken" / name).write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"none of the 2 image files under .*broken could be read"):
        build(checkpoint, tmp_path / "broken", tmp_path / "index", report_dir=tmp_path / "run")
    assert "b.png" in (tmp_path / "run" / "skipped_files.tsv").read_text()


def test_other_files_and_other_folders_are_refused(checkpoint, folder, tmp_path):
    with pytest.raises(ValueError, match="holds files that are not an index's"):
        build(checkpoint, folder, folder / "3")
    out = tmp_path / "index"
    build(checkpoint, folder, out)
    other = tmp_path / "other"
    write_digits(other, range(5))
    with pytest.raises(ValueError, match=r"holds the images of .*images, not of .*other"):
        build(checkpoint, other, out)


def test_index_and_search_commands(checkpoint, folder, tmp_path, capsys):
    call_tool(
        "ssdh-index",
        f"ckpt_path={checkpoint}",
        f"images={folder}",
        f"out={tmp_path / 'index'}",
        "num_workers=1",
        "batch_size=16",
        "trainer.accelerator=cpu",
        run_dir=tmp_path / "run",
    )
    printed = capsys.readouterr()
    assert "61 items, 48 bits" in printed.out
    assert "img/s" in printed.err  # the progress bar counts images

    query = folder / "3" / "0003.png"
    call_tool("ssdh-search", f"index={tmp_path / 'index'}", f"query={query}", "k=4", "mode=es")
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert "es top 4 of 1 query: search" in printed
    first = lines[lines.index(f"query {query}") + 2].split()
    assert first[0] == "1" and first[2:] == ["3", "3/0003.png"]

    call_tool(
        "ssdh-search",
        f"index={tmp_path / 'index'}",
        f"query={folder / '7'}",
        "k=3",
        "mode=hds",
        "output=json",
        f"html={tmp_path / 'results.html'}",
        f"sheet={tmp_path / 'results.png'}",
    )
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "hds" and len(report["queries"]) == 6
    assert report["queries"][0]["results"][0]["path"] == "7/0007.png"
    assert report["queries"][0]["hds_pool_size"] == 61
    assert {"rank", "distance", "path", "label", "class_name"} <= set(
        report["queries"][0]["results"][0]
    )
    assert (tmp_path / "results.html").read_text().count("<img") == 6 * 4
    with Image.open(tmp_path / "results.png") as sheet:
        assert sheet.size[1] >= 6 * 96


def test_the_ssdh_search_process_exits_1_with_the_message_last_and_writes_no_run_folder(
    checkpoint, tmp_path
):
    write_digits(tmp_path / "images", range(5))
    build(checkpoint, tmp_path / "images", tmp_path / "index")
    not_an_image = tmp_path / "config.yaml"
    not_an_image.write_text("seed: 0\n")
    result = run_tool(
        "ssdh-search", f"index={tmp_path / 'index'}", f"query={not_an_image}", cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert_stopped(result, "config.yaml is not an image that can be read")
    assert not (tmp_path / "outputs").exists() and not list(tmp_path.glob("*.log"))


@pytest.mark.slow
def test_two_processes_encode_shards_merged_into_one_index(checkpoint, folder, tmp_path):
    run_tool(
        "ssdh-index",
        f"ckpt_path={checkpoint}",
        f"images={folder}",
        f"out={tmp_path / 'index'}",
        "num_workers=0",
        "batch_size=8",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    both = Index.load(tmp_path / "index", verify=True)
    single = build(checkpoint, folder, tmp_path / "single")
    assert both.paths.tolist() == single.paths.tolist()
    assert np.array_equal(both.codes.bytes, single.codes.bytes)
    assert np.allclose(both.features, single.features, atol=1e-2)
