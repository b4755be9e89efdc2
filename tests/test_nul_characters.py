"""Text with a NUL character (U+0000) is refused wherever it comes in, naming the field: PostgreSQL cannot store it
(schemathesis found POST /api/v1/sites answering 500 there) and SQLite would keep it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Client
from tests.helpers import SITE, sign_up
from tests.requests.conftest import investigator

NO_NUL = "Text must not contain the NUL character (U+0000)"


async def test_a_nul_in_a_json_field_is_a_400_naming_it_and_nothing_is_saved(client: Client) -> None:
    await sign_up(client, "nul@example.com")
    response = await client.send_json("POST", "/api/v1/sites", {**SITE, "contact_phone": "(414) 555\x00-0100"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [{"field": "contact_phone", "message": NO_NUL}]
    nested = await client.send_json("POST", "/api/v1/push/subscriptions", {"endpoint": "x", "keys": {"auth": "\x00"}})
    assert nested.status_code == 400 and nested.json()["errors"][0]["field"] == "keys"
    assert (await client.get("/api/v1/sites")).json() == []


async def test_a_nul_in_a_query_or_a_form_is_refused_too(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    await investigator(db, other_client, "nul-det@mpd.example", "Milwaukee PD")
    listing = await other_client.get("/api/v1/agency/requests", params={"case_number": "MPD\x00"})
    assert listing.status_code == 400
    assert listing.json()["errors"] == [{"field": "case_number", "message": NO_NUL}]
    report = await other_client.get("/api/v1/agency/custody-report", params={"case_number": "\x00"})
    assert report.status_code == 400

    await sign_up(client, "nul-form@example.com")
    page = await client.submit("/sites/new", {**SITE, "name": "Bakery\x00"})
    assert page.status_code == 400 and NO_NUL in page.text
    assert (await client.get("/api/v1/sites")).json() == []


async def test_the_device_token_endpoint_answers_a_nul_in_rfc_6749_words(client: Client) -> None:
    pairing = await client.post("/device/v1/device_authorization", data={"client_id": "x", "agent_version": "1\x00"})
    assert pairing.status_code == 400 and pairing.json()["errors"][0]["field"] == "agent_version"
    token = await client.post("/device/v1/token", data={"grant_type": "x", "device_code": "\x00"})
    assert token.status_code == 400 and token.json()["error"] == "unsupported_grant_type"
