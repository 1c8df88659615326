"""Indexes of list files (``ssdh-index list_file=``): a multi-label list of real PNG files,
indexed by the command, read back, searched by ``ssdh-search`` and over ``ssdh-serve``'s API
(in this process) and its page (a real server and browser); a one-hot list gives class ids; bad
lists and manifests that do not fit their labels are refused."""

from __future__ import annotations

import io
import json
import logging
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from helpers import (
    BUILD_LOG,
    CHROMEDRIVER,
    CHROMIUM,
    DIGITS,
    Server,
    app_client,
    build,
    call_tool,
    columns,
    reference_bcs,
    rewrite_array,
    write_digits,
)
from ssdh_lightning.data.list_files import ListFileError
from ssdh_lightning.indexing import search_images
from ssdh_lightning.indexing.answer import json_report
from ssdh_lightning.indexing.files import list_images
from ssdh_lightning.retrieval import Index, IndexWriter, evaluate_retrieval
from ssdh_lightning.retrieval.index import MANIFEST_FILE
from ssdh_lightning.strings import PackedStrings
from ssdh_lightning.testing.formats import digit_multi_hot, write_list_file

COUNT = 24
SINGLE_LABEL_FIELDS = {"rank", "distance", "id", "position", "path", "label", "class_name"}


def multi_hot(numbers) -> np.ndarray:
    return digit_multi_hot(DIGITS.target[list(numbers)])


def write_list(path: Path, root: Path, images: list[Path], labels: np.ndarray) -> Path:
    """A list file of ``images``, relative to ``root`` but the last one, absolute (allowed)."""
    names = [str(image.relative_to(root)) for image in images[:-1]] + [str(images[-1])]
    return write_list_file(path, names, labels)


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """24 digit PNGs and ``database.txt``, which lists them with multi-hot labels."""
    root = tmp_path_factory.mktemp("multilabel") / "images"
    images = write_digits(root, range(COUNT))
    write_list(root / "database.txt", root, images, multi_hot(range(COUNT)))
    return root


@pytest.fixture(scope="module")
def built(checkpoint, root) -> tuple[Index, str]:
    """The index of ``database.txt`` built by the command, and what the command printed."""
    workdir = root.parent
    with redirect_stdout(io.StringIO()) as printed:
        call_tool(
            "ssdh-index",
            f"ckpt_path={checkpoint}",
            f"images={root}",
            "list_file=database.txt",
            f"out={workdir / 'index'}",
            "num_workers=0",
            "batch_size=16",
            "trainer.accelerator=cpu",
            "trainer.enable_progress_bar=false",
            run_dir=workdir / "run",
        )
    return Index.load(workdir / "index"), printed.getvalue()


def test_ssdh_index_stores_a_list_files_multi_hot_labels(built, root):
    index, printed = built
    assert f"{COUNT} items" in printed and "3 classes (multi-hot labels)" in printed
    assert index.label_kind == "multi_hot" and index.class_names == ["0", "1", "2"]
    assert index.labels.dtype == np.uint8
    np.testing.assert_array_equal(index.labels, multi_hot(range(COUNT)))
    lines = (root / "database.txt").read_text().splitlines()
    assert index.paths[0] == lines[0].split()[0]
    assert index.paths[COUNT - 1] == str(Path(lines[-1].split()[0]).relative_to(root))
    manifest = json.loads((index.folder / MANIFEST_FILE).read_text())
    assert manifest["label_kind"] == "multi_hot"
    assert manifest["arrays"]["labels"]["dtype"] == "uint8"
    assert manifest["arrays"]["labels"]["shape"] == [COUNT, 3]
    seven = int(np.flatnonzero(DIGITS.target[:COUNT] == 7)[0])
    zero = int(np.flatnonzero(DIGITS.target[:COUNT] == 0)[0])
    assert index.classes_of(seven) == [] and index.classes_of(zero) == [0, 1, 2]


def test_a_one_hot_list_gives_class_ids_and_the_answers_of_a_folder(checkpoint, tmp_path, caplog):
    root = tmp_path / "images"
    images = write_digits(root, range(6))
    one_hot = np.eye(3, dtype=np.uint8)[DIGITS.target[:6] % 3]
    write_list(root / "one_hot.txt", root, images, one_hot)
    index = build(checkpoint, root, tmp_path / "index", list_file="one_hot.txt")
    assert index.label_kind == "class_ids" and index.labels.dtype == np.int64
    np.testing.assert_array_equal(index.labels, DIGITS.target[:6] % 3)
    report = json_report(index, search_images(index, images[0], k=3, mode="bcs"))
    for hit in report["queries"][0]["results"]:
        assert set(hit) == SINGLE_LABEL_FIELDS
        assert hit["class_name"] == str(index.labels[hit["position"]])

    # the same files, other vectors: the labels change, nothing is encoded again
    write_list(root / "one_hot.txt", root, images, multi_hot(range(6)))
    with caplog.at_level(logging.INFO, logger=BUILD_LOG):
        again = build(checkpoint, root, tmp_path / "index", list_file="one_hot.txt")
    assert "6 unchanged in the index, 0 new or changed" in caplog.text
    assert again.generation == 2 and again.label_kind == "multi_hot"
    np.testing.assert_array_equal(again.labels, multi_hot(range(6)))
    np.testing.assert_array_equal(again.ids, index.ids)


def test_bad_lists_are_refused_with_what_to_fix(tmp_path):
    root = tmp_path / "images"
    images = write_digits(root, range(3))
    labels = multi_hot(range(3))
    outside = write_digits(tmp_path / "elsewhere", [5])[0]
    write_list(root / "outside.txt", root, [*images[:2], outside], labels)
    with pytest.raises(ListFileError, match=r"1 image\(s\) outside images=.*elsewhere"):
        list_images(root, "outside.txt")
    write_list(root / "twice.txt", root, [images[0], images[1], images[0]], labels)
    with pytest.raises(ListFileError, match=r"more than once .*0000.png"):
        list_images(root, "twice.txt")
    (root / "bad.txt").write_text(f"{images[0].relative_to(root)} 0 2 1\n")
    with pytest.raises(ListFileError, match=r"bad.txt:1: labels must be 0 or 1"):
        list_images(root, "bad.txt")
    with pytest.raises(FileNotFoundError, match=r"no list file .*missing.txt; pass list_file"):
        list_images(root, "missing.txt")


def test_ssdh_search_names_every_class_of_a_result(built, root, capsys):
    index, _ = built
    query = root / index.paths[3]
    call_tool("ssdh-search", f"index={index.folder}", f"query={query}", "k=5", "output=json")
    hits = json.loads(capsys.readouterr().out)["queries"][0]["results"]
    assert len(hits) == 5
    for hit in hits:
        classes = np.flatnonzero(index.labels[hit["position"]]).tolist()
        assert hit["labels"] == classes and hit["class_names"] == [str(c) for c in classes]
        assert hit["label"] is None and hit["class_name"] is None
    call_tool("ssdh-search", f"index={index.folder}", f"query={query}", "k=24")
    text = capsys.readouterr().out
    assert "  0, 1, 2  " in text and "  -  " in text  # a 0, and a 7 (no class)


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    """A real ssdh-serve of the index, for the browser."""
    running = Server(built[0].folder, tmp_path_factory.mktemp("multilabel_server"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(built):
    """The app of ``ssdh-serve`` over the index, in this process."""
    with app_client(built[0].folder) as client:
        yield client


def test_ssdh_serve_answers_with_every_class(built, client):
    index, _ = built
    health = client.get("/api/health").json()
    assert health["label_kind"] == "multi_hot" and health["class_names"] == ["0", "1", "2"]
    item = client.get("/api/items/4").json()
    classes = np.flatnonzero(index.labels[4]).tolist()
    assert item == {
        "id": 4,
        "path": index.paths[4],
        "label": None,
        "class_name": None,
        "labels": classes,
        "class_names": [str(c) for c in classes],
        "thumbnail": "/api/items/4/thumbnail",
    }
    query_bits = np.unpackbits(np.asarray(index.codes.bytes[5]))[: index.hash_bits]
    answer = client.post("/api/search/codes?k=6", json={"codes": [query_bits.tolist()]})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["queries"][0]["results"]
    positions, _ = reference_bcs(index, query_bits, 6)
    assert [hit["position"] for hit in hits] == positions
    for hit in hits:
        expected = np.flatnonzero(index.labels[hit["position"]]).tolist()
        assert hit["labels"] == expected
        assert hit["class_names"] == [str(c) for c in expected]


@pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()), reason="no Chromium")
def test_the_page_shows_every_class_of_a_result(built, server, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    index, _ = built
    wait = WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
    browser.get(server.url)
    six = index.paths.tolist().index("6/0006.png")  # classes 1 (even) and 2 (divisible by 3)
    wait.until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, f'#items figure[data-id="{six}"]')
    )
    browser.find_element(By.CSS_SELECTOR, f'#items figure[data-id="{six}"]').click()
    wait.until(
        lambda driver: columns(driver).get("es", [{}])[0].get("caption", "").endswith("0006.png")
    )
    itself = columns(browser)["es"][1]
    rank, distance, *classes, path = itself["caption"].split()
    assert itself["path"] == path == "6/0006.png" and rank == "1:"
    assert " ".join(classes) == "[1, 2]" and float(distance) < 0.01  # float16 features


def spoil(folder: Path, change: str) -> None:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    if change == "class ids":
        manifest["label_kind"] = "class_ids"
    elif change == "unknown kind":
        manifest["label_kind"] = "tags"
    else:  # one class name too few for the labels' columns
        manifest["class_names"] = manifest["class_names"][:2]
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("class ids", r"holds uint8 \(24, 3\), but the manifest \(label_kind 'class_ids'\) says "),
        ("unknown kind", r"label_kind is not valid \(Input should be 'class_ids' or 'multi_hot'"),
        ("two names", r"recorded as \[24, 3\], but 24 items of 2 classes .* need \[24, 2\]"),
    ],
)
def test_a_manifest_that_does_not_fit_its_labels_is_refused(built, tmp_path, change, message):
    folder = shutil.copytree(built[0].folder, tmp_path / "index")
    spoil(folder, change)
    with pytest.raises(ValueError, match=message + ".*is damaged"):
        Index.load(folder)


def test_multi_hot_values_other_than_0_and_1_are_refused(built, tmp_path):
    folder = shutil.copytree(built[0].folder, tmp_path / "index")
    labels = np.array(built[0].labels)
    labels[7, 1] = 2
    rewrite_array(Index.load(folder), "labels", labels)
    with pytest.raises(ValueError, match=r"values other than 0 and 1 \(1 items, the first item 7"):
        Index.load(folder)


def test_the_writer_refuses_labels_that_fit_no_kind(tmp_path):
    paths = PackedStrings.pack(["a.png", "b.png"])
    common = {"paths": paths, "file_sizes": [1, 1], "file_mtimes_ns": [1, 1]}
    with IndexWriter(tmp_path / "index", 2, 8, 4) as writer:
        with pytest.raises(ValueError, match=r"neither class ids .* of the 2 metadata"):
            writer.commit(labels=np.ones((2, 3)), metadata={"class_names": ["a", "b"]}, **common)
        with pytest.raises(ValueError, match="multi-hot labels must be 0 or 1"):
            labels = np.array([[0, 2], [1, 0]])
            writer.commit(labels=labels, metadata={"class_names": ["a", "b"]}, **common)
        writer.discard()


def test_evaluation_over_the_index_counts_a_shared_label_as_relevant(built):
    """precision@5 of BCS, items with a class as queries, against the definition: rank by
    Hamming distance, ties to the lower position, relevant when the two share a class."""
    index, _ = built
    labels = np.asarray(index.labels)
    queries = np.flatnonzero(labels.any(axis=1))
    metrics = evaluate_retrieval(
        index.codes[queries],
        index.codes,
        labels[queries],
        labels,
        modes=("bcs",),
        map_at=("all",),
        precision_at=(5,),
    )
    bits = np.unpackbits(np.asarray(index.codes.bytes), axis=1)[:, : index.hash_bits]
    precisions = []
    for a in queries:
        distances = (bits != bits[a]).sum(axis=1)
        top = np.lexsort((np.arange(len(bits)), distances))[:5]
        precisions.append(((labels[top] & labels[a]).sum(axis=1) > 0).mean())
    assert metrics["bcs/precision@5"] == pytest.approx(np.mean(precisions), abs=1e-6)
