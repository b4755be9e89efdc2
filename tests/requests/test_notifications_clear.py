"""Notifications clear: opening one from the list reads it; opening or answering what it is about (a request, a
clip's case, the access log) reads the ones about it and no others; the page carries the unread count the app
icon's badge follows."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.ext.asyncio import AsyncSession

from backend.requests.receipts import send_receipts
from tests.conftest import Client
from tests.helpers import sign_up
from tests.requests.conftest import as_owner, send
from tests.requests.test_evidence import upload


async def unread(client: Client) -> int:
    return (await client.get("/api/v1/notifications")).json()["unread"]


def badge(page_html: str) -> int:
    return int(re.search(r'data-unread="(\d+)"', page_html).group(1))


async def test_opening_a_notification_from_the_list_reads_it_and_goes_where_it_points(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    page = await client.get("/notifications")
    assert badge(page.text) == 1 and await unread(client) == 1
    [notification] = (await client.get("/api/v1/notifications")).json()["items"]

    opened = await client.get(f"/notifications/{notification['id']}")
    assert opened.url.path == f"/requests/{request_id}"
    assert await unread(client) == 0 and badge(opened.text) == 0

    # Another owner cannot open (or learn about) it.
    assert (await other_client.get(f"/notifications/{notification['id']}")).status_code == 404


async def test_answering_or_opening_a_request_reads_its_notifications_and_no_others(
    client: Client, area: dict, db: AsyncSession
) -> None:
    """Two requests to the same owner; the owner answers one from the API (as the push's quick reply would): only
    its notification is read. Opening the other's page reads the other."""
    first = next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")
    again = await send(client, area, case_number="MPD-26-9")
    second = next(r["id"] for r in again if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    assert await unread(client) == 2

    answered = await client.send_json("POST", f"/api/v1/requests/{first}/answer", {"answer": "no_footage"})
    assert answered.status_code == 200
    items = (await client.get("/api/v1/notifications")).json()["items"]
    assert {i["navigate"]: i["read"] for i in items} == {f"/requests/{first}": True, f"/requests/{second}": False}

    page = await client.get(f"/requests/{second}")  # as from the push notification
    assert page.status_code == 200 and await unread(client) == 0
    assert badge(page.text) == 0  # the page it opens already counts it read


async def test_the_investigator_reads_clip_notifications_by_opening_the_request(
    client: Client, other_client: Client, area: dict
) -> None:
    request_id = next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")
    await as_owner(other_client, "first@example.com")
    await other_client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    await upload(other_client, request_id)
    assert await unread(client) == 2  # the investigator's "An owner answered" (accepted) and "Clip received"
    page = await client.get(f"/console/requests/{request_id}")
    assert page.status_code == 200 and badge(page.text) == 0 and await unread(client) == 0


async def test_the_access_log_reads_the_police_access_notifications(
    client: Client, area: dict, db: AsyncSession
) -> None:
    request_id = next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")
    assert (await client.get(f"/api/v1/agency/requests/{request_id}/contact")).status_code == 200
    assert await send_receipts(db, dt.datetime.now(dt.UTC)) == 1
    await as_owner(client, "first@example.com")
    assert await unread(client) == 2  # the request, and "Police looked at your information"
    page = await client.get("/account/access")
    assert page.status_code == 200 and badge(page.text) == 1
    items = (await client.get("/api/v1/notifications")).json()["items"]
    assert {i["navigate"]: i["read"] for i in items} == {"/account/access": True, f"/requests/{request_id}": False}


async def test_mark_all_read_clears_the_count(client: Client, area: dict) -> None:
    await send(client, area)
    await as_owner(client, "first@example.com")
    assert await unread(client) == 1
    page = await client.submit("/notifications/read-all", {})
    assert page.status_code == 200 and await unread(client) == 0 and badge(page.text) == 0


async def test_a_page_for_someone_signed_out_carries_no_count(client: Client, app) -> None:
    await sign_up(client, "pat@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    assert "data-unread" not in (await client.get("/login")).text
