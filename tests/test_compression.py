"""Responses over 1 KB of text go out gzip-compressed when the browser accepts it; never to a request another site
started (BREACH), never video, never a byte range."""

from __future__ import annotations

import gzip

import httpx

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
