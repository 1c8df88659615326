"""ssdh-serve over a small index of digit PNGs built with a short-trained checkpoint, exercised
over HTTP: every endpoint and every bad input through its app in this process (the same routes,
checks and answers); a rebuild during a stream of requests, and an index it refuses to serve,
through a real server process; paths that lead outside the images folder."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers import (
    Server,
    app_client,
    assert_stopped,
    build,
    png_header,
    reference_bcs,
    rewrite_paths,
    run_tool,
    upload,
    write_digits,
)
from ssdh_lightning.indexing import search_images
from ssdh_lightning.indexing.answer import json_report
from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.io import read_json, write_json
from ssdh_lightning.retrieval import Index, IndexWriter
from ssdh_lightning.retrieval.index import FORMAT_VERSION
from ssdh_lightning.strings import PackedStrings

MAX_UPLOAD = 100_000  # bytes; the module's server takes no more
MAX_QUERIES = 5


@pytest.fixture(scope="module")
def checkpoint(trained_run) -> Path:
    return trained_run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve") / "images"
    write_digits(root, range(40))
    return root


@pytest.fixture(scope="module")
def index(checkpoint, images) -> Index:
    return build(checkpoint, images, images.parent / "digits.index")


@pytest.fixture(scope="module")
def server(index):
    """The app of ``ssdh-serve index=... settings.max_upload_bytes=... settings.max_queries=...``
    in this process."""
    with app_client(index.folder, max_upload_bytes=MAX_UPLOAD, max_queries=MAX_QUERIES) as client:
        yield client


def detail(response: httpx.Response) -> str:
    return json.dumps(response.json()["detail"])


def test_resolve_under_keeps_paths_inside_the_folder(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"s")
    (root / "out.png").symlink_to(tmp_path / "secret.png")
    (root / "in.png").symlink_to(root / "a" / "x.png")
    assert resolve_under(root, "a/x.png") == (root / "a" / "x.png").resolve()
    assert resolve_under(root, "in.png") == (root / "a" / "x.png").resolve()
    for outside in ("../secret.png", "out.png", str(tmp_path / "secret.png"), "a/../a/x.png"):
        with pytest.raises(ValueError, match="images folder"):
            resolve_under(root, outside)


def test_health_summarises_the_served_manifest(server, index, checkpoint):
    health = server.get("/api/health").json()
    assert health == {
        "status": "ok",
        "index": str(index.folder),
        "generation": 1,
        "count": 40,
        "hash_bits": index.hash_bits,
        "feature_dim": index.feature_dim,
        "format_version": FORMAT_VERSION,
        "class_names": [str(d) for d in range(10)],
        "label_kind": "class_ids",
        "images_root": index.manifest["images_root"],
        "checkpoint": str(checkpoint.resolve()),
        "refused": None,
        "default_k": 10,
        "max_k": 100,
        "default_mode": "hds",
    }


@pytest.mark.parametrize("mode", ["bcs", "es", "hds"])
def test_an_uploaded_image_gets_what_ssdh_search_answers(server, index, images, mode):
    query = images / "3" / "0003.png"
    answer = upload(server, query, k=5, mode=mode)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    expected = json_report(index, search_images(index, query, k=5, mode=mode))
    assert found["queries"][0]["query"] == "0003.png"
    assert found["queries"][0]["results"] == expected["queries"][0]["results"]
    assert found["queries"][0].get("hds_pool_size") == expected["queries"][0].get("hds_pool_size")
    assert (found["mode"], found["k"], found["index"]) == (mode, 5, str(index.folder))
    assert found["encode_ms"] > 0 and found["search_ms"] > 0
    if mode != "bcs":  # itself first, at distance 0
        assert found["queries"][0]["results"][0]["path"] == "3/0003.png"


def test_search_by_codes_ranks_by_hamming_distance(server, index):
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (2, index.hash_bits))
    hexes = [np.packbits(row).tobytes().hex() for row in bits]
    for codes in (bits.tolist(), hexes, [bits[0].tolist(), hexes[1]]):
        answer = server.post("/api/search/codes?k=7", json={"codes": codes})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["mode"] == "bcs" and found["encode_ms"] == 0
        for a, query in enumerate(found["queries"]):
            assert query["query"] == f"codes[{a}]"
            positions, distances = reference_bcs(index, bits[a], 7)
            assert [hit["position"] for hit in query["results"]] == positions
            assert [hit["distance"] for hit in query["results"]] == distances
            assert [hit["path"] for hit in query["results"]] == [index.paths[p] for p in positions]


@pytest.mark.parametrize("mode", ["bcs", "es", "hds"])
def test_search_by_item_uses_its_stored_codes_and_features(server, index, mode):
    answer = server.post("/api/search/item/12", params={"k": 4, "mode": mode})
    assert answer.status_code == 200, answer.text
    found = answer.json()["queries"][0]
    expected = index.search(index.codes[12:13], 4, mode, query_features=index.features[12:13])
    assert found["query"] == index.paths[12]
    assert [hit["position"] for hit in found["results"]] == expected.positions[0].tolist()
    assert [hit["rank"] for hit in found["results"]] == [1, 2, 3, 4]
    if mode != "bcs":
        assert found["results"][0]["position"] == 12


def test_items_and_their_thumbnails(server, index, images):
    listed = server.get("/api/items", params={"offset": 35, "limit": 10}).json()
    assert listed["count"] == 40 and listed["offset"] == 35
    assert [item["id"] for item in listed["items"]] == list(range(35, 40))
    item = server.get("/api/items/7").json()
    label = int(index.labels[7])
    assert item == {
        "id": 7,
        "path": index.paths[7],
        "label": label,
        "class_name": str(label),
        "thumbnail": "/api/items/7/thumbnail",
    }
    answer = server.get(item["thumbnail"])
    assert answer.headers["content-type"] == "image/png"
    thumbnail = np.asarray(Image.open(io.BytesIO(answer.content)).convert("L"))
    original = np.asarray(Image.open(images / index.paths[7]).convert("L"))
    assert thumbnail.shape == (96, 96)  # the 8x8 digit, enlarged pixel by pixel
    np.testing.assert_array_equal(thumbnail[::12, ::12], original)


def test_the_page_and_its_assets_are_served_by_the_app(server):
    page = server.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = ["/static/app.js", "/static/app.css"]
    assert all(asset in page.text for asset in assets)
    for text in [page.text] + [server.get(asset).text for asset in assets]:
        assert "http://" not in text and "https://" not in text  # nothing from a network
    assert "innerHTML" not in server.get("/static/app.js").text
    paths = server.get("/openapi.json").json()["paths"]
    for path in ["/api/search", "/api/search/codes", "/api/search/item/{item_id}", "/api/health"]:
        assert path in paths
    assert {"/api/items", "/api/items/{item_id}", "/api/items/{item_id}/thumbnail"} <= set(paths)


@pytest.mark.parametrize("docs", ["/docs", "/redoc"])
def test_the_api_docs_name_only_files_the_app_serves(server, docs):
    page = server.get(docs)
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    urls = re.findall(r'(?:src|href|url|spec-url)\s*[=:]\s*["\']([^"\']+)["\']', page.text)
    assert "/openapi.json" in urls and any(url.endswith(".js") for url in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = server.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url


def test_bad_uploads_are_refused_with_a_message(server, images, tmp_path):
    def sent(data: bytes, name: str = "query.png") -> httpx.Response:
        files = {"image": (name, data, "image/png")}
        return server.post("/api/search", files=files)

    text = sent(b"not an image at all", "notes.txt")
    assert text.status_code == 415 and "notes.txt is not an image" in detail(text)
    png = (images / "3" / "0003.png").read_bytes()
    truncated = sent(png[: len(png) // 2])
    assert truncated.status_code == 422 and "cannot be decoded" in detail(truncated)
    bomb = sent(png_header(8000, 6000))
    assert bomb.status_code == 413 and "8000x6000 = 48000000 pixels" in detail(bomb)
    assert "settings.max_pixels" in detail(bomb)
    big = sent(b"\x00" * (MAX_UPLOAD + 70_000))  # past the limit and the multipart framing
    assert big.status_code == 413 and "settings.max_upload_bytes" in detail(big)
    just_past = sent(png + b"\x00" * (MAX_UPLOAD - len(png) + 1))  # caught once received
    assert just_past.status_code == 413 and f"has {MAX_UPLOAD + 1} bytes" in detail(just_past)
    missing = server.post("/api/search", data={"other": "x"})
    assert missing.status_code == 422 and "image" in detail(missing)
    assert upload(server, images / "3" / "0003.png").status_code == 200  # still serving


def test_an_upload_without_a_length_is_capped_too(server):
    boundary = "ssdh-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + b"\x00" * (MAX_UPLOAD + 1) + f"\r\n--{boundary}--\r\n".encode()
    chunks = (body[start : start + 8192] for start in range(0, len(body), 8192))  # chunked
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    answer = server.post("/api/search", content=chunks, headers=headers)
    assert answer.status_code == 413 and f"has {MAX_UPLOAD + 1} bytes" in detail(answer)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 0}, "greater than or equal to 1"),
        ({"k": 101}, "k must be an integer from 1 to 100"),
        ({"k": "ten"}, "valid integer"),
        ({"mode": "cosine"}, "'bcs', 'es' or 'hds'"),
    ],
)
def test_bad_k_and_mode_get_422_naming_what_is_allowed(server, images, params, message):
    answer = upload(server, images / "3" / "0003.png", **params)
    assert answer.status_code == 422 and message in detail(answer)
    by_item = server.post("/api/search/item/0", params=params)
    assert by_item.status_code == 422 and message in detail(by_item)


@pytest.mark.parametrize(
    ("codes", "params", "message"),
    [
        ([[0, 1]], {}, "codes[0] must be 48 values of 0 or 1"),
        ([[2] * 48], {}, "that are not all 0 or 1"),
        (["zz" * 6], {}, "codes[0] is not hex"),
        (["ab"], {}, "codes[0] has 2 hex digits; give 12 hex digits"),
        ([[0] * 48] * (MAX_QUERIES + 1), {}, "settings.max_queries"),
        ([[0] * 48], {"mode": "hds"}, "mode must be 'bcs', got 'hds'"),
        ([], {}, "at least 1 item"),
    ],
)
def test_bad_codes_get_422_with_the_fix(server, codes, params, message):
    answer = server.post("/api/search/codes", params=params, json={"codes": codes})
    assert answer.status_code == 422 and message in detail(answer), answer.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/search/item/40"),
        ("POST", "/api/search/item/-1"),
        ("GET", "/api/items/40"),
        ("GET", "/api/items/40/thumbnail"),
    ],
)
def test_unknown_items_get_404(server, method, path):
    answer = server.request(method, path)
    assert answer.status_code == 404 and "in the served index (40 items)" in detail(answer)


def test_a_rebuild_while_serving_is_picked_up_and_a_damaged_one_refused(checkpoint, tmp_path):
    images = tmp_path / "images"
    write_digits(images, range(30))
    out = tmp_path / "digits.index"
    build(checkpoint, images, out)
    server = Server(out, tmp_path)
    failures, answered, stop = [], [], threading.Event()

    def requests() -> None:
        query = images / "0" / "0000.png"
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not stop.is_set():
                for send in (
                    lambda: client.post("/api/search/item/5", params={"mode": "hds"}),
                    lambda: client.post(
                        "/api/search", files={"image": ("q.png", query.read_bytes())}
                    ),
                    lambda: client.get("/api/items/29/thumbnail"),
                ):
                    try:
                        answer = send()
                    except httpx.HTTPError as error:
                        failures.append(repr(error))
                        continue
                    (answered if answer.status_code == 200 else failures).append(answer.text)

    def health() -> dict:
        return httpx.get(f"{server.url}/api/health").json()

    def wait_for(condition, what: str) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if condition(state := health()):
                return state
            time.sleep(0.1)
        raise AssertionError(f"the server never showed {what}; it shows {state}\n{server.log}")

    def item(item_id: int) -> httpx.Response:
        return httpx.get(f"{server.url}/api/items/{item_id}")

    held = {item_id: item(item_id).json()["path"] for item_id in (3, 29)}
    stream = threading.Thread(target=requests)
    stream.start()
    try:
        write_digits(images, range(30, 45))
        (images / held[3]).unlink()  # item 3's file is removed
        build(checkpoint, images, out)  # what ssdh-index does: a new generation
        rebuilt = wait_for(lambda state: state["generation"] == 2, "generation 2")
        assert rebuilt["count"] == 44 and rebuilt["refused"] is None
        # ids are not rows: the items after the removed one keep theirs, the new get new ones
        assert item(29).json()["path"] == held[29]
        assert item(3).status_code == 404
        assert item(30).json()["path"] == "0/0030.png"
        results = httpx.post(f"{server.url}/api/search/item/29", params={"mode": "es"}).json()
        assert results["queries"][0]["results"][0]["id"] == 29
        manifest = read_json(out / "manifest.json")
        manifest["generation"] = 3
        manifest["arrays"]["labels"]["sha256"] = "0" * 64
        write_json(out / "manifest.json", manifest)  # atomically, as a build would
        refused = wait_for(lambda state: state["refused"] is not None, "a refused generation")
        assert refused["generation"] == 2 and refused["count"] == 44
        assert "does not match its checksum" in refused["refused"]
        time.sleep(0.5)  # requests go on against generation 2
    finally:
        stop.set()
        stream.join()
        server.close()
    assert failures == []
    assert len(answered) >= 6
    log = server.log
    assert f"at http://127.0.0.1:{server.port}" in log  # this machine only, by default
    assert "now serving generation 2" in log
    assert "refused the new manifest of the index" in log and "still serving generation 2" in log


def test_paths_outside_the_images_folder_are_never_read(index, tmp_path):
    """A symbolic link out of the images folder: the item is listed, its file never read. A
    manifest with a ``..`` or an absolute path: the index is refused before anything is served."""
    root = Path(index.manifest["images_root"])
    secret = tmp_path / "secret.png"
    Image.new("L", (8, 8), 255).save(secret)  # white: a thumbnail of it would show
    link = root / "link-out.png"
    link.symlink_to(secret)
    paths = index.paths.tolist()
    paths[0] = link.name
    out = tmp_path / "escaping.index"
    with IndexWriter(out, len(index), index.hash_bits, index.feature_dim) as writer:
        writer.codes[:] = index.codes.bytes
        writer.features[:] = index.features
        metadata = {k: v for k, v in index.manifest.items() if k in ("class_names", "images_root")}
        writer.commit(
            labels=index.labels,
            paths=PackedStrings.pack(paths),
            file_sizes=index.file_sizes,
            file_mtimes_ns=index.file_mtimes_ns,
            metadata={**metadata, **{k: index.manifest[k] for k in ("model", "preprocessing")}},
        )
    try:
        with app_client(out) as server:
            answer = server.get("/api/items/0/thumbnail")
            assert answer.status_code == 404
            assert "outside its images folder" in detail(answer)
            assert str(tmp_path) not in detail(answer) and "secret" not in detail(answer)
            assert server.get("/api/items/3/thumbnail").status_code == 200
            searched = server.post("/api/search/item/0", params={"mode": "es"}).json()
            assert searched["queries"][0]["results"][0]["path"] == paths[0]  # named, not read
    finally:
        link.unlink()
    escaping = Index.load(out)  # read before any rewrite makes it unloadable
    parent_path, absolute_path = "../../" + "/".join(secret.parts[-2:]), str(secret)
    rewrite_paths(escaping, [parent_path, *paths[1:]])  # a real server process exits
    with pytest.raises(AssertionError, match=r"ssdh-serve exited[\s\S]*item 0 has the path"):
        Server(out, tmp_path)
    rewrite_paths(escaping, [absolute_path, *paths[1:]])  # the app refuses it the same way
    with pytest.raises(ValueError, match="item 0 has the path"), app_client(out):
        pass


def test_serve_refuses_a_threading_layer_that_aborts_on_concurrent_searches(tmp_path):
    result = run_tool(
        "ssdh-serve",
        f"index={tmp_path / 'index'}",
        cwd=tmp_path,
        check=False,
        env={"NUMBA_THREADING_LAYER": "workqueue"},
    )
    assert_stopped(result, "RuntimeError: numba runs its kernels on the 'workqueue' threading")
    assert "install TBB (pip install tbb) or an OpenMP runtime" in result.stderr
