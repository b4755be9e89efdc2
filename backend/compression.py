"""Responses go out gzip-compressed when the browser accepts it and it pays: text (pages, JSON, CSS, JS, SVG, CSV)
of at least MINIMUM_SIZE bytes. Never video or other already-compressed bytes, never a byte range (a 206 is a slice
of the file's own bytes), never a response that already has an encoding.

gzip rather than brotli: every browser and HTTP client speaks it, it needs no dependency, and at level 5 an owner's
request list or the roster page shrinks to about a fifth for a fraction of a millisecond of CPU (bench/page_weight
prints the sizes).

BREACH (a page that holds a secret, such as the CSRF token, and echoes attacker-chosen text, compressed, leaks the
secret through its size) needs many requests the attacker starts from their own site while the victim is signed in.
A browser marks those `Sec-Fetch-Site: cross-site`, and they are answered uncompressed; the person's own navigation
(same-origin, or typed: `none`) is compressed. Static files hold no secrets and are always compressed.
"""

from __future__ import annotations

import zlib
from typing import Any

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_SIZE = 1024
LEVEL = 5
COMPRESSIBLE = ("text/", "application/json", "application/problem+json", "application/javascript",
                "application/manifest+json", "image/svg+xml")  # fmt: skip


def _wants_gzip(headers: Headers, path: str) -> bool:
    accepted = [part.split(";")[0].strip().lower() for part in headers.get("accept-encoding", "").split(",")]
    if "gzip" not in accepted:
        return False
    return path.startswith("/static/") or headers.get("sec-fetch-site", "").lower() != "cross-site"


def _compressor(size: int | None) -> Any:
    """A gzip compressor (16 + window bits: the gzip wrapper). For a whole body of `size` bytes, a window just big
    enough to hold it and a smaller hash table: the same bytes out (the window covers the body), a third of the
    time for a 4 kB answer, most of which went to setting up the full 32 kB window and its table."""
    if size is None:
        return zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    window_bits = min(zlib.MAX_WBITS, max(9, (size - 1).bit_length()))
    return zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + window_bits, 6)


class GzipMiddleware:
    """ASGI middleware: compress the responses described above, whole or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _wants_gzip(Headers.from_scope(scope), scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        compressor = None  # set once this response is being compressed

        async def send_compressed(message: Message) -> None:
            nonlocal start, compressor
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders(message)
                compressible = (headers.get("content-type") or "").startswith(COMPRESSIBLE)
                if compressible and message["status"] not in (204, 206, 304) and not headers.get("content-encoding"):
                    start = message  # held until the first body part says whether it is worth it
                    return
                await send(message)
                return
            if message["type"] != "http.response.body" or start is None and compressor is None:
                await send(message)
                return
            body, more = message.get("body", b""), message.get("more_body", False)
            if start is not None:
                held, start = start, None
                headers = MutableScopeHeaders(held)
                headers.extend_header_value("vary", "Accept-Encoding")
                if not more and len(body) < MINIMUM_SIZE:
                    await send(held)
                    await send(message)
                    return
                compressor = _compressor(None if more else len(body))
                headers["content-encoding"] = "gzip"
                if more:
                    del headers["content-length"]
                    out = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH)
                else:
                    out = compressor.compress(body) + compressor.flush()
                    headers["content-length"] = str(len(out))
                await send(held)
                await send({"type": "http.response.body", "body": out, "more_body": more})
                return
            assert compressor is not None
            out = compressor.compress(body) + (compressor.flush(zlib.Z_SYNC_FLUSH) if more else compressor.flush())
            await send({"type": "http.response.body", "body": out, "more_body": more})

        await self.app(scope, receive, send_compressed)
