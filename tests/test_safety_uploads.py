"""What an upload can do to the server, in-process (helpers.app_client) over a small index built
with a short-trained checkpoint: only raster formats are decoded (an EPS never reaches a
Ghostscript, here a stand-in first on PATH), a body is counted as it arrives and never read or
spooled past the limit, whatever its framing, and every refusal names the limit or the value
and never a path of the server's."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from helpers import DIGITS, app_client, build, png_header, write_digits
from ssdh_lightning.images import UnreadableImage, load_image
from ssdh_lightning.serve import ServeSettings
from ssdh_lightning.serve.limits import MULTIPART_OVERHEAD
from ssdh_lightning.testing.formats import encode_image, encode_psd

MAX_UPLOAD = 2 * 2**20  # past the 1 MB that Starlette spools in memory: the rest goes to disk
TAKEN = "JPEG, PNG, GIF, BMP, TIFF, WebP or PPM"
DIGIT = np.kron(np.round(DIGITS.images[3] * 255 / 16).astype(np.uint8), np.ones((4, 4), np.uint8))
RGB_DIGIT = np.repeat(DIGIT[:, :, None], 3, axis=2)


@pytest.fixture(scope="module")
def index(trained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("uploads") / "images"
    write_digits(root, range(30))
    return build(trained_run / "checkpoints" / "last.ckpt", root, root.parent / "digits.index")


@pytest.fixture(scope="module")
def client(index):
    with app_client(index.folder, max_upload_bytes=MAX_UPLOAD) as running:
        yield running


def sent(client, name: str, data: bytes, **params):
    return client.post("/api/search", params=params, files={"image": (name, data)})


def holds_no_server_path(answer) -> bool:
    return tempfile.gettempdir() not in answer.text and "ssdh-serve-" not in answer.text


# --- formats ---------------------------------------------------------------------------------

OTHER_FORMATS = {  # Pillow reads each of these; the server takes none
    "EPS": lambda: encode_image(RGB_DIGIT, ".eps"),
    "PSD": lambda: encode_psd(RGB_DIGIT),
    "PCX": lambda: encode_image(RGB_DIGIT, ".pcx"),
    "TGA": lambda: encode_image(RGB_DIGIT, ".tga"),
    "ICO": lambda: encode_image(RGB_DIGIT, ".ico"),
    "SGI": lambda: encode_image(RGB_DIGIT, ".sgi"),
    "QOI": lambda: encode_image(RGB_DIGIT, ".qoi"),
    "JPEG2000": lambda: encode_image(RGB_DIGIT, ".jp2"),
}
RASTER_EXTENSIONS = [".jpg", ".png", ".gif", ".bmp", ".tif", ".webp", ".ppm", ".pgm"]


@pytest.mark.parametrize("extension", RASTER_EXTENSIONS)
def test_the_raster_formats_are_decoded_and_searched(client, tmp_path, extension):
    data = encode_image(DIGIT if extension == ".pgm" else RGB_DIGIT, extension)
    path = tmp_path / f"three{extension}"
    path.write_bytes(data)
    decoded = np.asarray(load_image(path, channels=1))
    if extension not in (".jpg", ".webp"):  # lossless: the very pixels
        np.testing.assert_array_equal(decoded, DIGIT)
    answer = sent(client, path.name, data, mode="bcs")
    assert answer.status_code == 200, answer.text
    assert answer.json()["queries"][0]["query"] == path.name


@pytest.mark.parametrize("kind", list(OTHER_FORMATS))
def test_other_formats_are_refused_naming_the_formats_taken(client, tmp_path, kind):
    data = OTHER_FORMATS[kind]()
    path = tmp_path / f"picture.{kind.lower()}"
    path.write_bytes(data)
    with Image.open(path) as image:  # a real file of that format: Pillow alone reads it
        assert image.format == kind
    with pytest.raises(UnreadableImage, match=f"in a format decoded here \\({TAKEN}\\)"):
        load_image(path)
    for name in (path.name, "innocent.png"):  # whatever the file is called
        answer = sent(client, name, data)
        assert answer.status_code == 415, answer.text
        detail = answer.json()["detail"]
        assert detail == (
            f"{name} is not an image in a format this server decodes: upload a {TAKEN} file"
        )
        assert holds_no_server_path(answer)


@pytest.fixture
def stand_in_ghostscript(tmp_path, monkeypatch) -> Path:
    """A ``gs`` first on PATH that only writes down that it ran; Pillow looks for it again."""
    folder = tmp_path / "bin"
    folder.mkdir()
    marker = tmp_path / "ghostscript-ran"
    script = folder / "gs"
    script.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow's cache of where gs is
    return marker


def test_an_eps_upload_never_reaches_ghostscript(client, tmp_path, stand_in_ghostscript):
    eps = tmp_path / "query.eps"
    eps.write_bytes(OTHER_FORMATS["EPS"]())
    with pytest.raises(OSError), Image.open(eps) as image:  # Pillow on its own runs it
        image.load()
    assert stand_in_ghostscript.exists()
    stand_in_ghostscript.unlink()
    EpsImagePlugin.gs_binary = None

    for name in ("query.eps", "query.png"):
        answer = sent(client, name, eps.read_bytes(), mode="bcs")
        assert answer.status_code == 415 and TAKEN in answer.text
        assert "gs" not in answer.json()["detail"].split() and holds_no_server_path(answer)
    with pytest.raises(UnreadableImage):
        load_image(eps)
    assert not stand_in_ghostscript.exists()


def test_an_image_that_does_not_decode_is_named_without_the_servers_paths(client):
    png = encode_image(RGB_DIGIT, ".png")
    truncated = sent(client, "cut.png", png[: len(png) // 2])
    assert truncated.status_code == 422
    assert truncated.json()["detail"].startswith("cut.png has an image header but cannot be")
    assert holds_no_server_path(truncated)


# --- pixels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(8000, 6000), (20000, 20000)])
def test_too_many_pixels_name_the_servers_setting(client, width, height):
    """Past settings.max_pixels (40 M) and past Pillow's own limit (179 M): the same answer,
    naming the setting, never Pillow's decompression-bomb text."""
    answer = sent(client, "huge.png", png_header(width, height))
    assert answer.status_code == 413, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("huge.png has ") and "(40000000, settings.max_pixels)" in detail
    assert "bomb" not in detail and "DOS" not in detail


def test_max_pixels_past_pillows_own_limit_is_refused():
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(ValueError, match=f"settings.max_pixels must be at most {limit}, Pillow"):
        ServeSettings(max_pixels=limit + 1)
    assert ServeSettings(max_pixels=limit).max_pixels == limit


# --- bytes -----------------------------------------------------------------------------------

BOUNDARY = "ssdh-boundary"
MULTIPART = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
JSON = [(b"content-type", b"application/json")]


def multipart_body(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """An upload of ``total`` bytes of image, in chunks, made as it is sent (never held)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    for start in range(0, total, chunk):
        yield b"\x00" * min(chunk, total - start)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def json_body(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"codes": ["'
    for start in range(0, total, chunk):
        yield b"0" * min(chunk, total - start)
    yield b'"]}'


def spooled_bytes(folder: Path) -> int:
    """Bytes this process holds in files under ``folder`` (open descriptors: Python's temporary
    files have no name in the folder)."""
    total = 0
    for entry in os.scandir("/proc/self/fd"):
        try:
            target = os.readlink(entry.path)
            if target.startswith(str(folder)):
                total += os.stat(entry.path).st_size
        except OSError:  # closed meanwhile
            continue
    return total


def stream_request(app, path: str, headers: list, body: Iterator[bytes], spool: Path) -> dict:
    """POST ``body`` to the ASGI ``app`` one chunk per ``receive``, as a server does with a
    chunked body; what was answered, how many bytes the app read, and the most it had spooled."""
    seen = {"read": 0, "spooled": 0, "messages": []}

    async def receive() -> dict:
        seen["spooled"] = max(seen["spooled"], spooled_bytes(spool))
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        seen["read"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        seen["messages"].append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    anyio.run(app, scope, receive, send)
    start, *rest = seen["messages"]
    answer = b"".join(message.get("body", b"") for message in rest)
    return {**seen, "status": start["status"], "answer": json.loads(answer)}


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/api/search", MULTIPART, multipart_body),  # chunked, no length
        ("/api/search", [*MULTIPART, (b"content-length", b"1000")], multipart_body),  # a lie
        ("/api/search/codes", JSON, json_body),
    ],
    ids=["chunked upload", "understated length", "chunked codes"],
)
def test_a_body_is_counted_as_it_arrives_and_not_read_past_the_limit(
    client, tmp_path, monkeypatch, path, headers, body
):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where uploads are spooled to disk
    limit = MAX_UPLOAD + MULTIPART_OVERHEAD
    answer = stream_request(client.app, path, headers, body(500 * 2**20), spool)  # 500 MB
    assert answer["status"] == 413
    assert answer["answer"]["detail"] == (
        f"the request has more than {limit} bytes, more than this server takes ({MAX_UPLOAD} "
        "for an image, settings.max_upload_bytes): upload a smaller image"
    )
    assert limit < answer["read"] <= limit + 64 * 1024  # stopped at the chunk past the limit
    assert answer["spooled"] <= limit
    assert spooled_bytes(spool) == 0 and list(spool.iterdir()) == []


def test_a_body_within_the_limit_is_read_whole(client, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    png = encode_image(RGB_DIGIT, ".png")

    def upload() -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="3.png"'
            "\r\nContent-Type: image/png\r\n\r\n"
        ).encode()
        yield from (png[start : start + 100] for start in range(0, len(png), 100))
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    answer = stream_request(client.app, "/api/search", MULTIPART, upload(), spool)
    assert answer["status"] == 200
    assert answer["answer"]["queries"][0]["query"] == "3.png"


# --- values JSON cannot hold -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"codes": [[NaN]]}', "NaN"),
        ('{"codes": [[1e400, 0]]}', "Infinity"),
        ('{"codes": [[Infinity]]}', "Infinity"),
        ('{"codes": [[0, -Infinity]]}', "-Infinity"),
        ('{"codes": [NaN]}', "NaN"),
    ],
)
def test_codes_json_cannot_hold_get_422_naming_the_value(client, text, named):
    answer = client.post(
        "/api/search/codes", content=text, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert any(named in json.dumps(error["input"]) for error in errors)
    finite = [error for error in errors if error["type"] == "finite_number"]
    assert all(error["msg"] == f"Input should be a finite number, got {named}" for error in finite)
    assert client.post("/api/search/codes", json={"codes": [[0] * 48]}).status_code == 200
