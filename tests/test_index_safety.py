"""Issue 10, items 3-5: an index reads no file outside its images folder, file names reach the
terminal escaped, and non-finite features rank last in every mode (and are refused at build)."""

from __future__ import annotations

import base64
import itertools
import re
import unicodedata

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import (
    build,
    call_tool,
    rewrite_array,
    rewrite_paths,
    write_digits,
    write_random_index,
)
from ssdh_lightning.checkpoints import read_checkpoint
from ssdh_lightning.images.thumbnails import MISSING, THUMBNAIL, png_bytes, thumbnail
from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.retrieval import Index, evaluate_retrieval, search
from ssdh_lightning.retrieval.index import MANIFEST_FILE
from ssdh_lightning.strings import PackedStrings, first_unsafe_path, printable
from ssdh_lightning.testing.formats import encode_image

# --- item 4: names are escaped in text output --------------------------------------------------


def test_printable_escapes_every_control_character_and_keeps_the_rest():
    controls = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
    for c in controls:
        shown = printable(f"a{c}b")
        assert shown.startswith("a\\") and shown.endswith("b")
        assert not any(unicodedata.category(s) == "Cc" for s in shown)
    assert printable("x\n1\x1b[31mred") == "x\\n1\\x1b[31mred"
    assert printable("\udcff.png") == "\\udcff.png"  # an undecodable byte, as os.fsdecode gives it
    assert printable("ünï cödé/a b.png") == "ünï cödé/a b.png"


# --- item 3: paths stay under the images folder ------------------------------------------------


def unsafe_by_definition(paths: list[str]) -> int | None:
    for row, path in enumerate(paths):
        if not path or "\0" in path or path.startswith("/") or ".." in path.split("/"):
            return row
    return None


def test_first_unsafe_path_follows_its_definition():
    alphabet = ["a", ".", "/", "\0"]
    strings = ["".join(p) for n in range(5) for p in itertools.product(alphabet, repeat=n)]
    rng = np.random.default_rng(0)
    for _ in range(3000):
        paths = [strings[i] for i in rng.integers(len(strings), size=rng.integers(1, 5))]
        found = first_unsafe_path(PackedStrings.pack(paths))
        assert (found[0] if found else None) == unsafe_by_definition(paths), paths


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("../x.jpg", "'..' component"),
        ("class_0/../../x.jpg", "'..' component"),
        ("/etc/passwd", "absolute"),
        ("", "empty"),
        ("a\0b.jpg", "NUL byte"),
    ],
)
def test_an_index_whose_paths_leave_its_folder_is_refused(tmp_path, bad, reason):
    index = write_random_index(tmp_path / "index", 5)
    paths = index.paths.tolist()
    paths[3] = bad
    rewrite_paths(index, paths)
    message = f"item 3 has the path {re.escape(repr(bad))}.*{reason}.*damaged"
    with pytest.raises(ValueError, match=message):
        Index.load(tmp_path / "index")


def test_path_offsets_that_do_not_cut_the_buffer_are_refused(tmp_path):
    index = write_random_index(tmp_path / "index", 5)
    offsets = index.paths.offsets.copy()
    offsets[2], offsets[3] = offsets[3], offsets[2]
    rewrite_array(index, "paths_offsets", offsets)
    with pytest.raises(ValueError, match="path offsets do not cut"):
        Index.load(tmp_path / "index")


def test_resolve_under_refuses_whatever_leads_outside(tmp_path):
    root, outside = tmp_path / "images", tmp_path / "secret.png"
    (root / "a").mkdir(parents=True)
    outside.write_bytes(b"x")
    (root / "a" / "in.png").write_bytes(b"y")
    (root / "out.png").symlink_to(outside)
    (root / "alias.png").symlink_to(root / "a" / "in.png")
    assert resolve_under(root, "a/in.png") == (root / "a" / "in.png").resolve()
    assert resolve_under(root, "alias.png") == (root / "a" / "in.png").resolve()
    for bad, words in [
        ("out.png", "outside its images folder"),
        ("../secret.png", "not relative"),
        ("a/../../secret.png", "not relative"),
        (str(outside), "not relative"),
        ("", "empty"),
    ]:
        with pytest.raises(ValueError, match=f"{re.escape(repr(bad))}.*{words}"):
            resolve_under(root, bad)


# --- item 5: non-finite features rank last, in search and in the metrics ----------------------

N, DIM, BITS = 40, 6, 8
SPOILERS = {7: np.nan, 19: np.inf, 31: -np.inf, 32: np.nan}  # row -> the value one feature gets


def spoiled_data(seed: int = 0):
    """Small integer features (distances are exact in float32: ties are real ties), some rows
    with one non-finite value, and random 8-bit codes."""
    rng = np.random.default_rng(seed)
    database = rng.integers(0, 4, (N, DIM)).astype(np.float16)
    for row, value in SPOILERS.items():
        database[row, row % DIM] = value
    queries = rng.integers(0, 4, (6, DIM)).astype(np.float16)
    return rng.random((6, BITS)) < 0.5, rng.random((N, BITS)) < 0.5, queries, database


def direct_squared(queries, database) -> np.ndarray:
    """The definition: |q - x|^2, and +inf for a pair that has no finite distance."""
    with np.errstate(invalid="ignore"):
        differences = database[None].astype(np.float64) - queries[:, None].astype(np.float64)
        squared = (differences**2).sum(axis=2)
    return np.where(np.isfinite(squared), squared, np.inf)


def direct_ranking(mode, query_codes, database_codes, queries, database, threshold):
    euclidean = direct_squared(queries, database)
    if mode == "es":
        return [np.argsort(row, kind="stable") for row in euclidean]
    hamming = (query_codes[:, None] != database_codes[None]).sum(axis=2)
    rankings = []
    for a in range(len(queries)):
        pool = np.flatnonzero(hamming[a] < threshold)
        rest = np.flatnonzero(hamming[a] >= threshold)
        pool = pool[np.argsort(euclidean[a, pool], kind="stable")]
        rest = rest[np.argsort(hamming[a, rest], kind="stable")]
        rankings.append(np.concatenate([pool, rest]))
    return rankings


@pytest.mark.parametrize("mode", ["es", "hds"])
def test_non_finite_features_rank_after_every_finite_distance(mode):
    query_codes, database_codes, queries, database = spoiled_data()
    threshold = 5
    found = search(
        query_codes,
        database_codes,
        N,
        mode,
        query_features=queries,
        database_features=database,
        hds_threshold=threshold if mode == "hds" else None,
    )
    expected = direct_ranking(mode, query_codes, database_codes, queries, database, threshold)
    squared = direct_squared(queries, database)
    for a, ranking in enumerate(expected):
        np.testing.assert_array_equal(found.positions[a], ranking)
        np.testing.assert_allclose(found.distances[a], np.sqrt(squared[a, ranking]), rtol=1e-6)
    if mode == "es":  # no pool: the spoiled rows are the last four of every query
        assert all(set(row[-len(SPOILERS) :]) == set(SPOILERS) for row in found.positions)


def direct_map(rankings, query_labels, database_labels) -> float:
    scores = []
    for a, ranking in enumerate(rankings):
        relevant = database_labels[ranking] == query_labels[a]
        hits = np.cumsum(relevant)
        precision = hits / np.arange(1, len(ranking) + 1)
        scores.append((precision * relevant).sum() / max(relevant.sum(), 1))
    return float(np.mean(scores))


def test_the_metrics_rank_non_finite_features_by_the_same_rule():
    query_codes, database_codes, queries, database = spoiled_data(seed=1)
    rng = np.random.default_rng(1)
    query_labels, database_labels = rng.integers(0, 3, 6), rng.integers(0, 3, N)
    metrics = evaluate_retrieval(
        query_codes,
        database_codes,
        query_labels,
        database_labels,
        queries,
        database,
        modes=("es", "hds"),
        map_at=("all",),
        precision_at=(1,),
        hds_threshold=4,
    )
    for mode in ("es", "hds"):
        ranking = direct_ranking(mode, query_codes, database_codes, queries, database, 4)
        expected = direct_map(ranking, query_labels, database_labels)
        assert metrics[f"{mode}/map@all"] == pytest.approx(expected, abs=1e-6)


def test_verify_refuses_non_finite_features_that_match_their_checksum(tmp_path):
    index = write_random_index(tmp_path / "index", 12)
    features = np.array(index.features)
    features[9, 2] = np.nan
    features[4, 0] = -np.inf
    rewrite_array(index, "features", features)
    Index.load(tmp_path / "index")  # the features are read only on request
    with pytest.raises(ValueError, match=r"2 items have features that are not finite.*item 4"):
        Index.load(tmp_path / "index", verify=True)


# --- through the commands (in this process), with a trained checkpoint ---------------------------


@pytest.fixture(scope="module")
def checkpoint(trained_run):
    return trained_run / "checkpoints" / "last.ckpt"


def search_command(index, query, *options):
    return call_tool("ssdh-search", f"index={index}", f"query={query}", *options)


def test_a_name_with_a_newline_and_an_escape_is_shown_escaped(checkpoint, tmp_path, capsys):
    root = tmp_path / "images"
    write_digits(root, range(6))
    forged = "x.png\n   1          0  0          forged\x1b[31m.png"
    (root / "1" / forged).write_bytes((root / "1" / "0001.png").read_bytes())
    call_tool(
        "ssdh-index",
        f"ckpt_path={checkpoint}",
        f"images={root}",
        f"out={tmp_path / 'index'}",
        "num_workers=0",
        "trainer.accelerator=cpu",
        run_dir=tmp_path / "run",
    )
    capsys.readouterr()
    # the folder as query (Hydra's override grammar could not take the name itself)
    search_command(tmp_path / "index", root / "1", "k=7", "mode=es")
    printed = capsys.readouterr().out
    assert "\x1b" not in printed
    lines = printed.splitlines()
    assert len(lines) == 2 + 2 * (3 + 7)  # two queries of 7 results, one line each: none forged
    assert f"query {printable(str(root / '1' / forged))}" in lines
    assert sum(line.endswith("  1/" + printable(forged)) for line in lines) == 2
    assert "1/x.png\\n   1          0  0          forged\\x1b[31m.png" in printed


def outside_image() -> np.ndarray:
    """A picture no digit looks like: a checkerboard."""
    return (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)


def test_search_pages_never_show_a_file_outside_the_images_folder(checkpoint, tmp_path, caplog):
    root, secret = tmp_path / "images", tmp_path / "secret.png"
    write_digits(root, range(6))
    secret.write_bytes(encode_image(outside_image(), ".png"))
    index = build(checkpoint, root, tmp_path / "index")
    query = tmp_path / "query.png"
    query.write_bytes((root / "0" / "0000.png").read_bytes())

    # a symbolic link under the root that points outside: the search runs, the file is not read
    linked = index.paths[2]
    (root / linked).unlink()
    (root / linked).symlink_to(secret)
    html, sheet = tmp_path / "page.html", tmp_path / "sheet.png"
    search_command(index.folder, query, "k=6", "mode=bcs", f"html={html}", f"sheet={sheet}")
    assert f"{linked!r} leads to {secret}, outside its images folder" in caplog.text
    secret_png = base64.b64encode(png_bytes(thumbnail(secret))).decode("ascii")
    page = html.read_text()
    assert page.count("<img") == 7 and secret_png not in page
    secret_thumbnail = thumbnail(secret).tobytes()
    with Image.open(sheet) as picture:
        cells = [
            picture.convert("RGB").crop((left + 4, 2, left + 4 + THUMBNAIL, 2 + THUMBNAIL))
            for left in range(THUMBNAIL + 8, picture.size[0], THUMBNAIL + 8)
        ]
    assert len(cells) == 6 and all(cell.tobytes() != secret_thumbnail for cell in cells)
    assert sum(set(cell.getdata()) == {MISSING} for cell in cells) == 1

    # paths rewritten to leave the folder: the index is refused before any file is opened
    for bad in ("../secret.png", str(secret)):
        paths = index.paths.tolist()
        paths[2] = bad
        rewrite_paths(index, paths)  # the manifest read before any rewrite
        html.unlink(missing_ok=True)
        with pytest.raises(ValueError) as error:
            search_command(index.folder, query, f"html={html}", f"sheet={sheet}")
        assert f"item 2 has the path {bad!r}" in str(error.value)
        assert "damaged" in str(error.value)
        assert not html.exists()


def test_a_model_whose_features_overflow_float16_is_refused_at_build(checkpoint, tmp_path):
    """A real checkpoint whose last backbone layer is scaled by 1e6: its features pass float16's
    range, which the index's cast would turn into inf."""
    state = read_checkpoint(checkpoint)
    weights = [
        key
        for key, value in state["state_dict"].items()
        if key.startswith("backbone.") and key.endswith(".weight") and value.ndim == 2
    ]
    state["state_dict"][weights[-1]] = state["state_dict"][weights[-1]] * 1e6
    overflowing = tmp_path / "overflowing.ckpt"
    torch.save(state, overflowing)
    root = tmp_path / "images"
    write_digits(root, range(6))
    with pytest.raises(ValueError, match=r"not finite .* for \d+ of the 6 images .*images/0/0000"):
        build(overflowing, root, tmp_path / "index")
    assert not (tmp_path / "index" / MANIFEST_FILE).exists()
