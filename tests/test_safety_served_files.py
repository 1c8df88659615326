"""What the files behind a running server can do to it: a file truncated in place under its
memory map (a real process: SIGBUS would kill pytest itself), a FIFO or a device where an image
was (a real process: a hang), a file slow to read, a manifest that is not a manifest, and FAISS
backend files of another kind, of other codes, or damaged. The server answers 503 or refuses
the generation, says why, and goes on serving what does not need the damaged file."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers import (
    Server,
    app_client,
    build,
    write_clustered_index,
    write_digits,
    write_random_index,
)
from ssdh_lightning.images import UnreadableImage, load_image
from ssdh_lightning.io import file_sha256, read_json, write_json
from ssdh_lightning.retrieval import Index
from ssdh_lightning.retrieval.backends.faiss_binary import (
    IVFSettings,
    MultiHashSettings,
    build_faiss_backend,
)
from ssdh_lightning.retrieval.index import MANIFEST_FILE

faiss = pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def index(trained_run, tmp_path_factory) -> Index:
    root = tmp_path_factory.mktemp("served_files") / "images"
    write_digits(root, range(30))
    return build(trained_run / "checkpoints" / "last.ckpt", root, root.parent / "digits.index")


@pytest.fixture(scope="module")
def server(index, tmp_path_factory):
    """A real ssdh-serve over a copy of the index (its files are damaged here), images shared."""
    work = tmp_path_factory.mktemp("server")
    copy = shutil.copytree(index.folder, work / "served.index")
    running = Server(copy, work)
    yield running
    running.close()


def served_file(server: Server, name: str) -> Path:
    folder = Path(httpx.get(f"{server.url}/api/health").json()["index"])
    return folder / read_json(folder / MANIFEST_FILE)["arrays"][name]["file"]


def codes_search(url: str) -> httpx.Response:
    return httpx.post(f"{url}/api/search/codes", json={"codes": [[0, 1] * 24]}, timeout=30)


def test_a_fifo_where_an_image_was_does_not_hang_the_server(server, index):
    item = 5
    path = Path(index.manifest["images_root"]) / index.paths[item]
    path.unlink()
    os.mkfifo(path)  # opening it for reading waits for a writer that never comes
    thumbnail = f"{server.url}/api/items/{item}/thumbnail"
    with ThreadPoolExecutor(16) as pool:  # more requests than the server has threads (40)
        answers = list(pool.map(lambda _: httpx.get(thumbnail, timeout=30), range(60)))
    assert {answer.status_code for answer in answers} == {200}
    grey = np.asarray(Image.open(io.BytesIO(answers[0].content)).convert("RGB"))
    assert grey.shape == (96, 96, 3) and np.all(grey == 200)  # shown as unreadable
    assert httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200
    assert httpx.get(f"{server.url}/api/items/6/thumbnail", timeout=5).status_code == 200


def test_a_file_truncated_in_place_gets_503_and_codes_searches_go_on(server):
    features = served_file(server, "features")
    os.truncate(features, 0)  # in place, under the server's memory map
    for mode in ("hds", "es"):
        answer = httpx.post(f"{server.url}/api/search/item/3", params={"mode": mode}, timeout=30)
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"].startswith(
            f"index file {features.name} has 0 bytes, but its array needs "
        )
        assert "changed in place" in answer.text and "build it again with ssdh-index" in answer.text
    assert codes_search(server.url).status_code == 200
    assert httpx.post(f"{server.url}/api/search/item/3", params={"mode": "bcs"}).status_code == 503
    assert httpx.get(f"{server.url}/api/items/3").status_code == 200

    paths = served_file(server, "paths_buffer")
    os.truncate(paths, 0)  # what describes every item: every search needs it
    answer = codes_search(server.url)
    assert answer.status_code == 503 and f"index file {paths.name} has 0 bytes" in answer.text
    assert httpx.get(f"{server.url}/api/health").status_code == 200
    assert server.process.poll() is None, server.log  # alive: no SIGBUS


def test_a_fifo_or_a_device_is_not_opened_as_an_image(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    failures = []

    def load(path) -> None:
        try:
            load_image(path)
        except UnreadableImage as error:
            failures.append(error.reason)

    for path in (fifo, Path("/dev/zero"), Path("/dev/null")):
        reader = threading.Thread(target=load, args=(path,), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), f"load_image({path}) hangs"
    refusal = "not a regular file (a FIFO, a device or a socket): only files are read"
    assert failures == [refusal] * 3


def test_a_file_slow_to_read_gets_503_within_the_time_allowed(index, tmp_path):
    images = tmp_path / "images"  # where the index's images lie now: only item 4's, and large
    slow = images / index.paths[4]
    slow.parent.mkdir(parents=True)
    gradient = np.linspace(0, 255, 3000 * 3000, dtype=np.float32).reshape(3000, 3000)
    Image.fromarray(gradient.astype(np.uint8)).save(slow)  # 9 M pixels: 0.1 s to thumbnail
    with app_client(index.folder, images=images, read_timeout_s=0.01) as client:
        started = time.monotonic()
        answers = [client.get("/api/items/4/thumbnail") for _ in range(3)]
        assert time.monotonic() - started < 3
        for answer in answers:
            assert answer.status_code == 503
            assert answer.json()["detail"] == (
                "the file of item 4 took longer than 0.01 s to read (settings.read_timeout_s): "
                "the disk that holds the images may be slow or hung; try again later"
            )
        assert client.get("/api/health").status_code == 200
        assert client.post("/api/search/codes", json={"codes": [[1] * 48]}).status_code == 200


# --- manifests -------------------------------------------------------------------------------

BAD_MANIFESTS = {
    "class_names a string": (
        {"class_names": "c0c1c2c3c4c5"},
        "its class_names is not valid (Input should be a valid list; found 'c0c1c2c3c4c5')",
    ),
    "too few class_names": (
        {"class_names": ["c0", "c1", "c2"]},
        "items have a label that names no class",
    ),
    "a class name that is a number": (
        {"class_names": ["c0", "c1", "c2", "c3", "c4", 5]},
        "its class_names.5 is not valid (Input should be a valid string; found 5)",
    ),
    "hash_bits a string": (
        {"hash_bits": "48"},
        "its hash_bits is not valid (Input should be a valid integer; found '48')",
    ),
    "hash_bits a float": ({"hash_bits": 48.0}, "its hash_bits is not valid"),
    "hash_bits 0": ({"hash_bits": 0}, "hash_bits is not valid (Input should be greater than"),
    "next_id true": ({"next_id": True}, "its next_id is not valid"),
    "next_id negative": ({"next_id": -1}, "its next_id is not valid"),
    "count negative": ({"count": -3}, "its count is not valid"),
    "generation a string": ({"generation": "2"}, "its generation is not valid"),
    "feature_dim null": ({"feature_dim": None}, "its feature_dim is not valid"),
    "format_version 0": ({"format_version": 0}, "its format_version is not valid"),
    "label_kind a number": ({"label_kind": 7}, "its label_kind is not valid"),
    "images_root a number": ({"images_root": 5}, "its images_root is not valid"),
    "model a string": ({"model": "resnet"}, "its model is not valid"),
    "an unknown array": (
        {"arrays": "+extra"},
        "its arrays.extra.[key] is not valid (Input should be 'codes', 'features'",
    ),
    "a shape of strings": ({"arrays": "codes.shape"}, "its arrays.codes.shape.0 is not valid"),
}


def spoiled(manifest: dict, change: dict) -> dict:
    manifest = json.loads(json.dumps(manifest))
    for key, value in change.items():
        if key != "arrays":
            manifest[key] = value
        elif value == "+extra":
            manifest["arrays"]["extra"] = dict(manifest["arrays"]["codes"])
        else:
            manifest["arrays"]["codes"]["shape"] = ["400", "6"]
    return manifest


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_manifest_is_checked_whole_before_it_is_used(tmp_path, case):
    index = write_clustered_index(tmp_path / "index")
    change, message = BAD_MANIFESTS[case]
    write_json(index.folder / MANIFEST_FILE, spoiled(index.manifest, change))
    with pytest.raises(ValueError, match=r"is damaged: delete that folder") as refused:
        Index.load(index.folder)
    assert message in str(refused.value)


def test_every_refused_generation_shows_in_health_and_the_served_one_stays(tmp_path):
    index = write_clustered_index(tmp_path / "index")
    with app_client(index.folder) as client:

        def health_when(condition) -> dict:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                health = client.get("/api/health")
                assert health.status_code == 200, health.text
                if condition(health.json()):
                    return health.json()
                time.sleep(0.05)
            raise AssertionError(f"health never showed it: {health.json()}")

        cases = ["class_names a string", "hash_bits a string", "next_id true"]
        for number, case in enumerate(cases):
            change, message = BAD_MANIFESTS[case]
            bad = spoiled({**index.manifest, "generation": 2 + number}, change)
            write_json(index.folder / MANIFEST_FILE, bad)
            health = health_when(lambda state, message=message: message in (state["refused"] or ""))
            assert health["generation"] == 1
            assert health["class_names"] == [f"c{c}" for c in range(6)]
            assert client.get("/api/items/0").json()["class_name"] == f"c{index.labels[0]}"
        write_json(index.folder / MANIFEST_FILE, index.manifest)
        write_clustered_index(tmp_path / "index", seed=1)  # a good one
        health = health_when(lambda state: state["refused"] is None)
        assert health["generation"] == 2


def test_the_writer_refuses_labels_without_class_names(tmp_path):
    with pytest.raises(ValueError, match=r"names no class .*give every class a name in metadata"):
        write_random_index(tmp_path / "index", 6, metadata={"class_names": ["only"]})
    assert not (tmp_path / "index" / MANIFEST_FILE).exists()


# --- FAISS backends --------------------------------------------------------------------------

KINDS = {
    "multihash": MultiHashSettings(tables=4, nflip=1),
    "ivf": IVFSettings(nlist=8, nprobe=2, hnsw_m=8),
}


def replace_backend_file(index: Index, kind: str, data: bytes) -> None:
    """Put ``data`` in the place of the backend's file, its record's sha256 made to match (only
    the checks of the file's contents can refuse it)."""
    record_path = index.folder / f"faiss_{kind}.{index.generation:06d}.json"
    record = read_json(record_path)
    (index.folder / record["file"]).write_bytes(data)
    write_json(record_path, {**record, "sha256": file_sha256(index.folder / record["file"])})


def faiss_bytes(faiss_index) -> bytes:
    return faiss.serialize_index_binary(faiss_index).tobytes()


def backend_of(folder: Path, kind: str, seed: int = 0) -> bytes:
    """The bytes of a ``kind`` backend built over another index's codes."""
    other = write_clustered_index(folder, seed=seed)
    return (build_faiss_backend(other, kind, KINDS[kind])).read_bytes()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_backend_file_must_hold_the_index_s_own_codes(tmp_path, kind):
    index = write_clustered_index(tmp_path / "index")
    original = build_faiss_backend(index, kind, KINDS[kind]).read_bytes()
    flat = faiss.IndexBinaryFlat(48)
    flat.add(np.ascontiguousarray(index.codes.bytes))
    expected = "IndexBinaryMultiHash" if kind == "multihash" else "IndexBinaryIVF"
    cases = {
        f"holds a FAISS IndexBinaryFlat, not the {expected}": faiss_bytes(flat),
        "holds other codes than the index": backend_of(tmp_path / "other", kind, seed=1),
        "cannot be read (": original[: len(original) // 2],
        "cannot be read (Index type ": b"not a FAISS file at all",
    }
    file = f"faiss_{kind}.000001.bin"
    for problem, data in cases.items():
        replace_backend_file(index, kind, data)
        with pytest.raises(ValueError) as refused:
            Index.load(index.folder).search(index.codes[:1], 3, backend=kind)
        assert str(refused.value).startswith(
            f"the {kind} backend's file {index.folder / file} {problem}"
        )
        assert str(refused.value).endswith(
            f"it is damaged; build it again with `ssdh-index ... out={index.folder} "
            f"backends=[{kind}]`, or search with backend=engine"
        )
        assert "faiss::" not in str(refused.value)  # not FAISS's C++ function names
    replace_backend_file(index, kind, original)
    found = Index.load(index.folder).search(index.codes[:1], 3, backend=kind)
    assert found.positions[0, 0] == 0


def test_a_server_whose_backend_cannot_load_does_not_start(tmp_path):
    index = write_clustered_index(tmp_path / "index")
    missing = r"has no multihash backend; build it .*\[multihash\]"
    with (
        pytest.raises(FileNotFoundError, match=missing),
        app_client(index.folder, backend="multihash"),
    ):
        pass
    build_faiss_backend(index, "ivf", KINDS["ivf"])
    replace_backend_file(index, "ivf", b"damaged")
    damaged = r"ivf backend's file .* cannot be read"
    with pytest.raises(ValueError, match=damaged), app_client(index.folder, backend="ivf"):
        pass


def test_a_new_generation_is_served_once_its_backend_is_built(tmp_path):
    index = write_clustered_index(tmp_path / "index")
    build_faiss_backend(index, "ivf", KINDS["ivf"])
    with app_client(index.folder, backend="ivf") as client:

        def health() -> dict:
            return client.get("/api/health").json()

        def wait_until(condition) -> None:
            deadline = time.monotonic() + 30
            while not condition(health()) and time.monotonic() < deadline:
                time.sleep(0.05)

        assert codes_search_in(client).status_code == 200
        rebuilt = write_clustered_index(tmp_path / "index", seed=1)  # no backend yet
        wait_until(lambda state: state["refused"] is not None)
        state = health()
        assert state["generation"] == 1 and "has no ivf backend" in state["refused"]
        assert codes_search_in(client).status_code == 200  # generation 1, with its backend
        build_faiss_backend(rebuilt, "ivf", KINDS["ivf"])  # as ssdh-index does, after
        wait_until(lambda state: state["generation"] == 2)
        assert health()["refused"] is None
        answer = client.post("/api/search/item/407", params={"mode": "bcs", "k": 1})  # new ids
        assert answer.status_code == 200, answer.text
        assert answer.json()["queries"][0]["results"][0]["id"] == 407


def codes_search_in(client) -> httpx.Response:
    return client.post("/api/search/codes", json={"codes": [[0, 1] * 24]})
