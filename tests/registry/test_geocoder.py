"""Address search where a geocoder is configured: the site form finds a position from the typed address through a
Nominatim-compatible endpoint (here a small HTTP server on this machine), fills it in, and saves nothing."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.registry.models import Site
from backend.settings import Settings
from tests.conftest import Client, make_settings
from tests.helpers import SITE, add_site, sign_up


class Geocoder:
    """A Nominatim-like /search: one place for any address, none for "Nowhere", an error for "Broken"."""

    def __init__(self) -> None:
        self.queries: list[dict[str, list[str]]] = []
        self.agents: list[str] = []
        geocoder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                query = parse_qs(urlsplit(self.path).query)
                geocoder.queries.append(query)
                geocoder.agents.append(self.headers.get("user-agent", ""))
                address = query.get("q", [""])[0]
                if address.startswith("Broken"):
                    self.send_response(500)
                    self.end_headers()
                    return
                places = [] if address.startswith("Nowhere") else [
                    {"lat": "43.0601", "lon": "-87.9052", "display_name": "2401, North Holton Street, Milwaukee"},
                    {"lat": "44.0", "lon": "-88.0", "display_name": "Holton, elsewhere"},
                ]  # fmt: skip
                body = json.dumps(places).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/search"


@pytest.fixture
def geocoder() -> Iterator[Geocoder]:
    serving = Geocoder()
    thread = threading.Thread(target=serving.server.serve_forever, daemon=True)
    thread.start()
    yield serving
    serving.server.shutdown()
    serving.server.server_close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, geocoder: Geocoder) -> Settings:
    return make_settings(database_url, tmp_path, geocoder_url=geocoder.url)


def form(**overrides: object) -> dict[str, str]:
    return {k: str(v) for k, v in {**SITE, "latitude": "", "longitude": "", **overrides}.items()}


async def test_the_site_form_finds_the_position_from_the_address_and_saves_nothing(
    client: Client, db: AsyncSession, geocoder: Geocoder
) -> None:
    await sign_up(client, "owner@example.com")
    new = await client.get("/sites/new")
    assert "Find the position from the address" in new.text
    assert geocoder.queries == []  # opening the form asks nobody

    found = await client.submit("/sites/new", {**form(name="Typed name"), "find_position": "1"})
    assert found.status_code == 200
    assert "Found: 2401, North Holton Street, Milwaukee. Check the position below, then save." in found.text
    assert 'value="43.0601"' in found.text and 'value="-87.9052"' in found.text
    assert 'value="Typed name"' in found.text  # what was typed is kept
    assert await db.scalar(select(func.count()).select_from(Site)) == 0
    (query,) = geocoder.queries
    assert query["q"] == ["2401 N Holton St, Milwaukee, WI"] and query["format"] == ["jsonv2"]
    assert geocoder.agents[0].startswith("Porchlight")

    saved = await client.submit("/sites/new", form(latitude="43.0601", longitude="-87.9052"))
    assert "Site saved." in saved.text and len(geocoder.queries) == 1  # saving asks nobody


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("Nowhere Rd 1", "No place found for this address: check it, or give the latitude and longitude by hand"),
        ("Broken St", "Address search is not available just now: give the latitude and longitude by hand"),
        (" ", "Type the street address first, then find its position"),
    ],
)
async def test_an_address_not_found_says_so_beside_the_address(
    client: Client, db: AsyncSession, address: str, message: str
) -> None:
    await sign_up(client, "owner@example.com")
    page = await client.submit("/sites/new", {**form(address=address), "find_position": "1"})
    assert page.status_code == 400 and f'id="f-address-error">{message}<' in page.text
    assert await db.scalar(select(func.count()).select_from(Site)) == 0


async def test_an_unreachable_geocoder_is_reported_not_raised(
    client: Client, geocoder: Geocoder, db: AsyncSession
) -> None:
    geocoder.server.shutdown()
    geocoder.server.server_close()
    await sign_up(client, "owner@example.com")
    page = await client.submit("/sites/new", {**form(), "find_position": "1"})
    assert page.status_code == 400 and "Address search is not available just now" in page.text


async def test_finding_a_position_while_editing_keeps_the_site_unchanged_and_another_owners_site_is_404(
    client: Client, other_client: Client, geocoder: Geocoder
) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client, latitude=43.05, longitude=-87.91)
    edit = await client.submit(f"/sites/{site['id']}/edit", {**form(), "find_position": "1"})
    assert edit.status_code == 200 and 'value="43.0601"' in edit.text
    assert (await client.get(f"/api/v1/sites/{site['id']}")).json()["latitude"] == 43.05

    await sign_up(other_client, "other@example.com")
    stranger = await other_client.submit(f"/sites/{site['id']}/edit", {**form(), "find_position": "1"})
    assert stranger.status_code == 404 and len(geocoder.queries) == 1
    missing = await other_client.submit(f"/sites/{uuid.uuid4()}/edit", {**form(), "find_position": "1"})
    assert missing.status_code == 404 and len(geocoder.queries) == 1
