"""Responses over 1 KB of text go out gzip-compressed when the browser accepts it; never to a request another site
started (BREACH), never video, never a byte range."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

from backend.compression import LEVEL, GzipMiddleware
from tests.conftest import Client
from tests.helpers import add_site, sign_up

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def raw_get(client: Client, path: str, headers: dict[str, str]) -> httpx.Response:
    """The response as it went over the wire (httpx would otherwise decompress it)."""
    response = await client.send(client.build_request("GET", path, headers=headers), stream=True)
    response._content = b"".join([part async for part in response.aiter_raw()])
    return response


async def test_a_signed_in_list_and_a_page_go_out_gzipped_when_accepted(client: Client) -> None:
    await sign_up(client, "compressed@example.com")
    for n in range(8):
        await add_site(client, name=f"Corner shop {n}")
    for path in ("/api/v1/sites", "/sites"):
        plain = await raw_get(client, path, IDENTITY)
        squeezed = await raw_get(client, path, {**GZIP, "Sec-Fetch-Site": "same-origin"})
        assert "content-encoding" not in plain.headers and len(plain.content) > 1024
        assert squeezed.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in squeezed.headers["vary"].lower()
        assert int(squeezed.headers["content-length"]) == len(squeezed.content) < len(plain.content) / 3
        assert gzip.decompress(squeezed.content) == plain.content


async def test_a_request_another_site_started_is_answered_uncompressed(client: Client) -> None:
    await sign_up(client, "breach@example.com")
    for n in range(8):
        await add_site(client, name=f"Corner shop {n}")
    cross_site = await raw_get(client, "/sites", {**GZIP, "Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 200 and "content-encoding" not in cross_site.headers
    typed = await raw_get(client, "/sites", {**GZIP, "Sec-Fetch-Site": "none"})
    assert typed.headers["content-encoding"] == "gzip"
    # Static files hold no secret: compressed whoever asks.
    version = client.app.state.assets_version
    css = await raw_get(client, f"/static/{version}/app.css", {**GZIP, "Sec-Fetch-Site": "cross-site"})
    assert css.headers["content-encoding"] == "gzip"
    assert gzip.decompress(css.content) == (await raw_get(client, f"/static/{version}/app.css", IDENTITY)).content


async def test_small_answers_stay_as_they_are(client: Client) -> None:
    health = await raw_get(client, "/health", GZIP)
    assert health.status_code == 200 and "content-encoding" not in health.headers


@pytest.mark.parametrize("size", [1024, 4_000, 40_000, 400_000])
async def test_a_whole_answer_of_any_size_is_as_small_as_with_the_full_window(size: int) -> None:
    """The compressor's window is sized to a whole answer: the bytes out decompress to the answer and are no more
    than a full 32 kB window gives."""
    words = [
        f'{{"camera": "Camera {n}", "latitude": {43 + n / 1000:.4f}, "note": "{n * 7919 % 1000}"}}'
        for n in range(20_000)
    ]
    body = ", ".join(words).encode()[:size]
    sent: list[dict] = []

    async def answer(scope: dict, receive: object, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(size).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def record(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/v1/sites", "headers": [(b"accept-encoding", b"gzip")]}
    await GzipMiddleware(answer)(scope, None, record)  # type: ignore[arg-type]

    out = sent[1]["body"]
    assert dict(sent[0]["headers"])[b"content-encoding"] == b"gzip"
    assert gzip.decompress(out) == body
    assert len(out) <= len(zlib.compress(body, LEVEL, wbits=16 + zlib.MAX_WBITS))
