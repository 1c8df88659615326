"""The answer to a request that fails validation, whatever its body. Python's JSON reader takes
``NaN`` and ``Infinity`` (and ``1e400`` overflows to infinity), which JSON itself cannot write:
FastAPI's own handler failed to echo such a value back and answered 500. Here the value is named
in text, and the answer is the usual 422."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _named(value: Any) -> Any:
    """``value`` with every float that JSON cannot write replaced by its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _named(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_named(item) for item in value]
    return value


async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = _named(jsonable_encoder(error.errors()))
    for item in errors:
        if item.get("type") == "finite_number":
            item["msg"] = f"Input should be a finite number, got {item['input']}"
    return JSONResponse({"detail": errors}, status_code=422)
