"""Search results for people: a text table, an HTML page, a PNG contact sheet of every query and
its results (for programs, the JSON of ``answer``)."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

from PIL import Image, ImageDraw

from ssdh_lightning.images.thumbnails import THUMBNAIL, missing_thumbnail, png_bytes, thumbnail
from ssdh_lightning.indexing.answer import Hit, hits
from ssdh_lightning.indexing.files import resolve_under
from ssdh_lightning.indexing.query import ImageSearch
from ssdh_lightning.io import atomic_write, write_text
from ssdh_lightning.retrieval.index import Index
from ssdh_lightning.strings import printable

log = logging.getLogger(__name__)
CAPTION = 28  # pixels under each thumbnail of a contact sheet


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
            classes = hit.classes_text()
            name = printable(classes) if classes is not None else "-"
            path = printable(hit.path)
            lines.append(f"{hit.rank:>4}  {_distance(hit.distance):>9}  {name:<12}  {path}")
    return "\n".join(lines)


def _result_thumbnail(images_root: Path, hit: Hit) -> Image.Image:
    """The thumbnail of a result's file, read only under ``images_root`` (``resolve_under``);
    a path that leads outside is not opened, and shows grey."""
    try:
        path = resolve_under(images_root, hit.path)
    except ValueError as error:
        log.warning("result %d left grey: %s", hit.position, printable(str(error)))
        return missing_thumbnail()
    return thumbnail(path)


def _html_cell(image: Image.Image, name: str, caption: str) -> str:
    data = base64.b64encode(png_bytes(image)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_html(path: str | Path, index: Index, search: ImageSearch, images_root: Path) -> Path:
    """A page of every query followed by its results, thumbnails embedded (the page stands
    alone); captions give rank, distance, class and path."""
    rows = []
    for query, query_hits in zip(search.queries.paths, hits(index, search), strict=True):
        cells = [_html_cell(thumbnail(query), str(query), f"query: {query.name}")]
        for hit in query_hits:
            image = _result_thumbnail(images_root, hit)
            cells.append(_html_cell(image, hit.path, f"{_caption(hit)} {hit.path}"))
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
    classes = hit.classes_text()
    name = f" [{classes}]" if classes is not None else ""
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
        cells = [(thumbnail(query), "query")]
        cells += [(_result_thumbnail(images_root, hit), _caption(hit)) for hit in query_hits]
        for column, (image, caption) in enumerate(cells):
            left = column * cell_width
            sheet.paste(image, (left + 4, top + 2))
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
