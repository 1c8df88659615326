"""A request body past the server's limit is refused (413): from its Content-Length header before
any of it is read, and otherwise (a chunked body, or one longer than it said) by counting its
bytes as they arrive, so that reading stops at the limit and nothing past it is spooled.
``uploads.check_image`` then holds the image itself to ``max_upload_bytes``."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# what multipart framing adds to an image: boundaries and part headers
MULTIPART_OVERHEAD = 64 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_upload_bytes + MULTIPART_OVERHEAD

    def _too_large(self, what: str) -> str:
        return (
            f"the request has {what}, more than this server takes ({self.max_upload_bytes} for "
            "an image, settings.max_upload_bytes): upload a smaller image"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_bytes:
            detail = self._too_large(f"{int(length)} bytes")
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            # raised to whoever reads the body: FastAPI passes an HTTPException on, so the app
            # answers 413 at once and reads no more of it
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    detail = self._too_large(f"more than {self.max_body_bytes} bytes")
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
