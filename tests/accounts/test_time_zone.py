"""A person chooses the time zone Porchlight shows times in (account page and API); a name not on the list is
refused beside the field and nothing changes."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from tests.conftest import Client
from tests.helpers import sign_up


def member_since(page_html: str) -> str:
    return re.search(r"<dt>Member since</dt><dd>([^<]+)</dd>", page_html).group(1)


async def test_the_account_page_sets_the_time_zone_times_are_shown_in(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "pat@example.com")
    await db.execute(update(User).values(time_zone="America/Chicago"))
    await db.commit()
    before = member_since((await client.get("/account")).text)
    assert before.endswith(("CST", "CDT"))

    saved = await client.submit("/account/time-zone", {"time_zone": "Asia/Tokyo"})
    assert saved.status_code == 200 and saved.url.path == "/account"
    assert "Saved: times are shown in Asia/Tokyo." in saved.text
    assert member_since(saved.text).endswith("JST") and member_since(saved.text) != before
    assert (await client.get("/api/v1/me")).json()["time_zone"] == "Asia/Tokyo"
    assert 'value="Asia/Tokyo"' in saved.text and '<option value="Europe/Paris">' in saved.text


async def test_an_unknown_time_zone_is_refused_beside_the_field_and_nothing_changes(
    client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "pat@example.com")
    zone = await db.scalar(select(User.time_zone))
    page = await client.submit("/account/time-zone", {"time_zone": "Mars/Olympus_Mons"})
    assert page.status_code == 400
    assert re.search(r'id="f-time_zone-error">Choose a time zone from the list', page.text)
    assert 'value="Mars/Olympus_Mons"' in page.text  # the value is kept to correct
    db.expire_all()
    assert await db.scalar(select(User.time_zone)) == zone


async def test_the_api_sets_the_time_zone_and_names_the_field_it_refuses(client: Client) -> None:
    await sign_up(client, "pat@example.com")
    answer = await client.send_json("PATCH", "/api/v1/me", {"time_zone": "Europe/Paris"})
    assert answer.status_code == 200 and answer.json()["time_zone"] == "Europe/Paris"
    refused = await client.send_json("PATCH", "/api/v1/me", {"time_zone": "Nowhere/Land"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "time_zone"
    unknown_field = await client.send_json("PATCH", "/api/v1/me", {"email": "x@example.com"})
    assert unknown_field.status_code == 400
    assert (await client.get("/api/v1/me")).json()["time_zone"] == "Europe/Paris"


async def test_signed_out_nobody_changes_a_time_zone(client: Client, app) -> None:
    assert (await client.send_json("PATCH", "/api/v1/me", {"time_zone": "Europe/Paris"})).status_code == 401
