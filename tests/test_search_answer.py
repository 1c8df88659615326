"""One answer shape: ``ssdh-search output=json`` and the server's ``/api/search`` write the same
``indexing.answer.SearchAnswer``, and the OpenAPI page documents that very class."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter

from helpers import app_client, build, compose_config, write_digits
from ssdh_lightning.indexing.answer import SearchAnswer, as_json
from ssdh_lightning.tasks.search import search

ANSWER = TypeAdapter(SearchAnswer)
TIMINGS = ("search_ms", "first_search_ms", "encode_ms")


@pytest.fixture(scope="module")
def indexed(trained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("answer")
    write_digits(root / "images", range(30))
    checkpoint = trained_run / "checkpoints" / "last.ckpt"
    return build(checkpoint, root / "images", root / "index"), root / "images"


@pytest.mark.parametrize("mode", ["bcs", "hds"])
def test_the_command_and_the_api_answer_alike(indexed, mode, capsys):
    index, images = indexed
    query = images / "3" / "0003.png"
    cfg = compose_config("search", f"index={index.folder}", f"query={query}", "k=4", f"mode={mode}")
    cfg.output = "json"
    search(cfg)
    printed = json.loads(capsys.readouterr().out)
    with app_client(index.folder) as client:
        files = {"image": (query.name, query.read_bytes(), "image/png")}
        answered = client.post("/api/search", params={"k": 4, "mode": mode}, files=files).json()
    for answer in (printed, answered):  # each is a SearchAnswer, field for field
        assert as_json(ANSWER.validate_python(answer)) == answer
    assert printed["queries"][0].pop("query") == str(query)
    assert answered["queries"][0].pop("query") == query.name
    for answer in (printed, answered):
        for timing in TIMINGS:
            assert answer.pop(timing) >= 0
    assert printed == answered
    assert ("hds_pool_size" in printed["queries"][0]) == (mode == "hds")
    assert "labels" not in printed["queries"][0]["results"][0]  # one class an item


def described(schema: dict) -> dict:
    """Each field's type and description (FastAPI leaves out the defaults of answers)."""
    return {
        name: {key: value for key, value in field.items() if key != "default"}
        for name, field in schema["properties"].items()
    }


def test_the_openapi_page_documents_the_answer_class(indexed):
    index, _ = indexed
    with app_client(index.folder) as client:
        documented = client.get("/openapi.json").json()
    schemas = documented["components"]["schemas"]
    ours = ANSWER.json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in {"SearchAnswer": ours, **ours["$defs"]}.items():
        assert described(schemas[name]) == described(schema), name
    for path in ("/api/search", "/api/search/codes", "/api/search/item/{item_id}"):
        answer = documented["paths"][path]["post"]["responses"]["200"]["content"]
        assert answer["application/json"]["schema"]["$ref"].endswith("/SearchAnswer")
