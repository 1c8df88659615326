"""A request body past the server's limit is refused (413) from its Content-Length header,
before any of it is read or spooled; a body sent without one is measured once received
(``uploads.check_image``)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# what multipart framing adds to an image: boundaries and part headers
MULTIPART_OVERHEAD = 64 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            limit = self.max_upload_bytes + MULTIPART_OVERHEAD
            if length.isdigit() and int(length) > limit:
                detail = (
                    f"the request has {int(length)} bytes, more than this server takes "
                    f"({self.max_upload_bytes} for an image, settings.max_upload_bytes): upload "
                    "a smaller image"
                )
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)
