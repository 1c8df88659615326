"""Search results for programs (JSON) and for people (a text table, an HTML page, a PNG contact
sheet of every query and its results)."""

from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from ssdh_lightning.images.files import UnreadableImage, load_image
from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.indexing.query import ImageSearch
from ssdh_lightning.io import atomic_write, write_text
from ssdh_lightning.retrieval.index import Index
from ssdh_lightning.strings import printable

log = logging.getLogger(__name__)
THUMBNAIL = 96  # pixels, the longer side
CAPTION = 28  # pixels under each thumbnail of a contact sheet
MISSING = (200, 200, 200)


@dataclass(frozen=True)
class Hit:
    """One result: its rank (from 1), distance, id and position (row) in the index, file and
    label."""

    rank: int
    distance: float
    id: int
    position: int
    path: str
    label: int
    class_name: str | None


def hits(index: Index, search: ImageSearch) -> list[list[Hit]]:
    """The results of every query, best first (fewer than k where a backend found fewer)."""
    names = index.class_names
    table = []
    for positions, distances in zip(search.result.indices, search.result.distances, strict=True):
        row = []
        for rank, (position, distance) in enumerate(zip(positions, distances, strict=True), 1):
            if position < 0:  # a sub-linear backend found fewer than k items
                break
            label = int(index.labels[position])
            row.append(
                Hit(
                    rank=rank,
                    distance=distance.item(),
                    id=int(index.ids[position]),
                    position=int(position),
                    path=index.paths[position],
                    label=label,
                    class_name=names[label] if 0 <= label < len(names) else None,
                )
            )
        table.append(row)
    return table


def _distance(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _timing(search: ImageSearch) -> str:
    count = len(search.queries.paths)
    return (
        f"{search.mode} top {search.k} of {count} quer{'y' if count == 1 else 'ies'}: "
        f"search {search.seconds * 1e3:.2f} ms (the first search in this process, of one "
        f"query, took {search.first_seconds * 1e3:.0f} ms), encoding "
        f"{search.queries.seconds * 1e3:.0f} ms"
    )


def text_report(index: Index, search: ImageSearch) -> str:
    """Each query, then its results: rank, distance, class, path. Names are shown ``printable``:
    a control character in a file or folder name reaches the terminal escaped."""
    lines = [f"{index!r}", _timing(search)]
    for query, query_hits in zip(search.queries.paths, hits(index, search), strict=True):
        lines += [
            "",
            f"query {printable(str(query))}",
            f"{'rank':>4}  {'distance':>9}  {'class':<12}  path",
        ]
        for hit in query_hits:
            name = printable(hit.class_name) if hit.class_name is not None else "-"
            path = printable(hit.path)
            lines.append(f"{hit.rank:>4}  {_distance(hit.distance):>9}  {name:<12}  {path}")
    return "\n".join(lines)


def json_report(index: Index, search: ImageSearch) -> dict[str, Any]:
    """Everything ``text_report`` says, for programs; paths are relative to ``images_root``."""
    pool_sizes = search.result.pool_sizes
    return {
        "index": str(index.folder),
        "images_root": index.manifest.get("images_root"),
        "mode": search.mode,
        "k": search.k,
        "search_ms": search.seconds * 1e3,
        "first_search_ms": search.first_seconds * 1e3,
        "encode_ms": search.queries.seconds * 1e3,
        "queries": [
            {
                "query": str(query),
                "results": [asdict(hit) for hit in query_hits],
                **({"hds_pool_size": int(pool_sizes[a])} if pool_sizes is not None else {}),
            }
            for a, (query, query_hits) in enumerate(
                zip(search.queries.paths, hits(index, search), strict=True)
            )
        ],
    }


def _thumbnail(path: Path) -> Image.Image:
    """The image at ``path`` fitted in a square of THUMBNAIL pixels (grey if unreadable)."""
    try:
        image = load_image(path, channels=3)
    except UnreadableImage:
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), MISSING)
    small = max(image.size) < THUMBNAIL  # tiny images (digits) stay sharp when enlarged
    method = Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS
    return ImageOps.contain(image, (THUMBNAIL, THUMBNAIL), method=method)


def _result_thumbnail(images_root: Path, hit: Hit) -> Image.Image:
    """The thumbnail of a result's file, read only under ``images_root`` (``resolve_under``);
    a path that leads outside is not opened, and shows grey."""
    try:
        path = resolve_under(images_root, hit.path)
    except ValueError as error:
        log.warning("result %d left grey: %s", hit.position, printable(str(error)))
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), MISSING)
    return _thumbnail(path)


def _png(image: Image.Image) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format="PNG")
    return stream.getvalue()


def _html_cell(thumbnail: Image.Image, name: str, caption: str) -> str:
    data = base64.b64encode(_png(thumbnail)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_html(path: str | Path, index: Index, search: ImageSearch, images_root: Path) -> Path:
    """A page of every query followed by its results, thumbnails embedded (the page stands
    alone); captions give rank, distance, class and path."""
    rows = []
    for query, query_hits in zip(search.queries.paths, hits(index, search), strict=True):
        cells = [_html_cell(_thumbnail(query), str(query), f"query: {query.name}")]
        for hit in query_hits:
            thumbnail = _result_thumbnail(images_root, hit)
            cells.append(_html_cell(thumbnail, hit.path, f"{_caption(hit)} {hit.path}"))
        rows.append(f'<div class="row">{"".join(cells)}</div>')
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ssdh-search: {html.escape(str(index.folder))}</title>
<style>
body {{ font-family: sans-serif; }}
.row {{ display: flex; gap: 8px; margin-bottom: 16px; }}
figure {{ margin: 0; width: {THUMBNAIL + 24}px; font-size: 11px; overflow-wrap: anywhere; }}
figure:first-child img {{ outline: 3px solid #1f77b4; }}
</style></head><body>
<h1>{html.escape(str(index.folder))}</h1>
<p>{html.escape(_timing(search))}</p>
{"".join(rows)}
</body></html>
"""
    return write_text(path, page)


def _caption(hit: Hit) -> str:
    name = f" [{hit.class_name}]" if hit.class_name is not None else ""
    return f"{hit.rank}: {_distance(hit.distance)}{name}"


def contact_sheet(index: Index, search: ImageSearch, images_root: Path) -> Image.Image:
    """One row per query: the query (framed in blue), then its results with rank and distance."""
    table = hits(index, search)
    columns = 1 + max(len(row) for row in table)
    cell_width, cell_height = THUMBNAIL + 8, THUMBNAIL + CAPTION
    sheet = Image.new("RGB", (columns * cell_width, len(table) * cell_height), "white")
    draw = ImageDraw.Draw(sheet)
    for a, (query, query_hits) in enumerate(zip(search.queries.paths, table, strict=True)):
        top = a * cell_height
        cells = [(_thumbnail(query), "query")]
        cells += [(_result_thumbnail(images_root, hit), _caption(hit)) for hit in query_hits]
        for column, (thumbnail, caption) in enumerate(cells):
            left = column * cell_width
            sheet.paste(thumbnail, (left + 4, top + 2))
            if column == 0:
                draw.rectangle(
                    (left + 2, top, left + THUMBNAIL + 5, top + THUMBNAIL + 3), outline="#1f77b4"
                )
            draw.text((left + 4, top + THUMBNAIL + 6), caption, fill="black")
    return sheet


def write_contact_sheet(
    path: str | Path, index: Index, search: ImageSearch, images_root: Path
) -> Path:
    sheet = contact_sheet(index, search, images_root)
    return atomic_write(path, lambda stream: sheet.save(stream, format="PNG"))
