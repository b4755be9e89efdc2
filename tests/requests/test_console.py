"""The investigator console and the agency camera search: find, ask, follow, withdraw, open a contact card, clips."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.requests.models import CustodyEvent, FootageRequest
from tests.conftest import Client
from tests.requests.conftest import NOW, as_owner, investigator, send

INCIDENT = {"latitude": 43.0591, "longitude": -87.9051}  # Back door ~22 m, Alley ~111 m


def local(moment: dt.datetime) -> str:
    """As a datetime-local input sends it, in the investigator's zone (America/Chicago)."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("America/Chicago")).strftime("%Y-%m-%dT%H:%M")


def search_params(**overrides: object) -> dict:
    return {
        **INCIDENT,
        "radius_m": 250,
        "window_start": local(NOW - dt.timedelta(days=5)),
        "window_end": local(NOW - dt.timedelta(days=5) + dt.timedelta(minutes=30)),
        "incident_address": "N Holton St & E Center St",
        **overrides,
    }


async def test_search_api_lists_unpaused_cameras_nearest_first_without_owner_details(
    client: Client, area: dict
) -> None:
    start = NOW - dt.timedelta(days=5)
    response = await client.get(
        "/api/v1/agency/cameras",
        params={**INCIDENT, "radius_m": 250, "window_start": start.isoformat(),
                "window_end": (start + dt.timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    found = response.json()
    assert [c["name"] for c in found["cameras"]] == ["Back door", "Alley"]  # the paused Garage never appears
    assert found["total"] == 2 and found["owners"] == 2
    distances = [c["distance_m"] for c in found["cameras"]]
    assert distances == sorted(distances) and all(0 < d < 250 for d in distances)
    back, alley = found["cameras"]
    assert back["facing"] == "W" and back["bearing_deg"] == 270 and back["placement"] == "outdoor"
    # Back door keeps 3 days: video from 5 days ago is probably gone. Alley keeps 30.
    assert back["probably_overwritten"] is True and alley["probably_overwritten"] is False
    text = response.text
    assert "Pat Owner" not in text and "555-01" not in text and "owner_id" not in text and "example.com" not in text


async def test_incident_in_view_follows_the_direction_a_camera_faces(client: Client, area: dict) -> None:
    # Back door stands at 43.0589,-87.9050 facing west (270°, 110° wide, 25 m): a point 10 m west is in view,
    # a point 10 m east is not.
    start = NOW - dt.timedelta(hours=2)
    window = {"window_start": start.isoformat(), "window_end": (start + dt.timedelta(hours=1)).isoformat()}
    west = await client.get(
        "/api/v1/agency/cameras", params={"latitude": 43.0589, "longitude": -87.90512, "radius_m": 25, **window}
    )
    east = await client.get(
        "/api/v1/agency/cameras", params={"latitude": 43.0589, "longitude": -87.90488, "radius_m": 25, **window}
    )
    assert [c["incident_in_view"] for c in west.json()["cameras"] if c["name"] == "Back door"] == [True]
    assert [c["incident_in_view"] for c in east.json()["cameras"] if c["name"] == "Back door"] == [False]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"radius_m": 10}, "radius_m", "between 25 m and 2 km"),
        ({"radius_m": 2500}, "radius_m", "between 25 m and 2 km"),
        ({"window_end": (NOW - dt.timedelta(days=9)).isoformat()}, "window_end", "must end after it starts"),
        ({"window_end": (NOW + dt.timedelta(days=6)).isoformat()}, "window_end", "at most 7 days"),
        ({"latitude": "north"}, "latitude", ""),
    ],
)
async def test_bad_searches_name_the_field(
    client: Client, area: dict, overrides: dict, field: str, message: str
) -> None:
    start = NOW - dt.timedelta(days=2)
    params = {**INCIDENT, "radius_m": 250, "window_start": start.isoformat(),
              "window_end": (start + dt.timedelta(hours=1)).isoformat(), **overrides}  # fmt: skip
    response = await client.get("/api/v1/agency/cameras", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field and message in error["message"]


async def test_owners_and_anonymous_people_cannot_search(client: Client, other_client: Client, area: dict) -> None:
    await as_owner(other_client, "second@example.com")
    start = NOW.isoformat()
    params = {**INCIDENT, "radius_m": 250, "window_start": start, "window_end": start}
    assert (await other_client.get("/api/v1/agency/cameras", params=params)).status_code == 403
    assert (await other_client.get("/console/search")).status_code == 403
    await other_client.send_json("POST", "/api/v1/auth/logout")
    assert (await other_client.get("/api/v1/agency/cameras", params=params)).status_code == 401


async def test_search_page_shows_results_and_sends_one_request_per_owner(
    client: Client, area: dict, db: AsyncSession
) -> None:
    empty = await client.get("/console/search")
    assert (
        empty.status_code == 200
        and "Find cameras near an incident" in empty.text
        and 'data-testid="results"' not in empty.text
    )
    page = await client.get("/console/search", params=search_params())
    assert page.status_code == 200 and "2 cameras within 250 m" in page.text
    assert page.text.count('data-testid="camera"') == 2 and "Garage" not in page.text
    assert page.text.index("Back door") < page.text.index("Alley")
    assert "Probably overwritten since" in page.text and "W (270°)" in page.text
    assert "Send request (no camera ticked)" in page.text  # neither camera sees the incident point
    assert "Pat Owner" not in page.text and "555-0100" not in page.text

    camera_ids = [area["back"]["id"], area["second"]["id"]]
    sent = await client.submit(
        "/console/requests",
        {**search_params(), "camera_ids": camera_ids, "case_number": "MPD-26-7000", "request_type": "warrant",
         "message": "Robbery at the corner store."},
    )  # fmt: skip
    assert sent.status_code == 200 and re.search(r"/console/requests\?case_number=MPD-26-7000&sent=2$", str(sent.url))
    assert "Sent 2 requests" in sent.text and sent.text.count('data-testid="request"') == 2
    requests = (await db.scalars(select(FootageRequest))).all()
    assert {r.request_type for r in requests} == {"warrant"}
    assert {r.incident_address for r in requests} == {"N Holton St & E Center St"}
    window_start = requests[0].window_start
    assert local(window_start) == search_params()["window_start"]  # typed in the investigator's zone


async def test_asking_only_one_owner_sends_one_request(client: Client, area: dict, db: AsyncSession) -> None:
    camera_ids = [area["back"]["id"], area["second"]["id"]]
    sent = await client.submit(
        "/console/requests",
        {**search_params(), "camera_ids": camera_ids, "case_number": "MPD-26-7001", "request_type": "voluntary",
         "only_owner_of": area["second"]["id"]},
    )  # fmt: skip
    assert "Sent 1 request." in sent.text
    (request,) = (await db.scalars(select(FootageRequest))).all()
    assert [c.name for c in request.cameras] == ["Alley"]


async def test_a_send_without_case_number_comes_back_with_results_and_saves_nothing(
    client: Client, area: dict, db: AsyncSession
) -> None:
    page = await client.submit(
        "/console/requests",
        {**search_params(), "camera_ids": [area["back"]["id"]], "case_number": " ", "request_type": "voluntary",
         "message": "Keep me"},
    )  # fmt: skip
    assert page.status_code == 400 and "Case number" in page.text and "is required" in page.text
    assert "Keep me</textarea>" in page.text and 'data-testid="camera"' in page.text
    nothing = await client.submit(
        "/console/requests", {**search_params(), "case_number": "MPD-1", "request_type": "voluntary"}
    )
    assert nothing.status_code == 400 and "Tick at least one camera" in nothing.text
    assert await db.scalar(select(func.count()).select_from(FootageRequest)) == 0


async def test_request_pages_follow_state_withdraw_and_record_the_contact_card(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    first = next(r for r in sent if r["cameras"][0]["name"] == "Back door")
    second = next(r for r in sent if r["cameras"][0]["name"] == "Alley")
    await as_owner(other_client, "second@example.com")
    await other_client.send_json(
        "POST", f"/api/v1/requests/{second['id']}/answer", {"answer": "no_footage", "message": "Camera was off"}
    )
    listing = await client.get("/console/requests", params={"case_number": "MPD-26-1234"})
    assert "Case MPD-26-1234" in listing.text and listing.text.count('data-testid="request"') == 2
    assert "No footage of that time: “Camera was off”" in listing.text
    assert "custody-report?case_number=MPD-26-1234&amp;format=csv" in listing.text

    page = await client.get(f"/console/requests/{first['id']}")
    assert 'data-testid="state">Sent<' in page.text and "No clips yet." in page.text
    assert "555-0100" not in page.text and "Show owner's contact details" in page.text
    card = await client.submit(f"/console/requests/{first['id']}/contact", {})
    assert 'data-testid="contact-card"' in card.text and "(414) 555-0100" in card.text and "Pat Owner" in card.text
    viewed = CustodyEvent.action == "contact_viewed"
    assert await db.scalar(select(func.count()).select_from(CustodyEvent).where(viewed)) == 1

    withdrawn = await client.submit(f"/console/requests/{first['id']}/withdraw", {})
    assert 'data-testid="state">Withdrawn<' in withdrawn.text and "Withdraw request" not in withdrawn.text
    again = await client.submit(f"/console/requests/{first['id']}/withdraw", {})
    assert again.status_code == 409 and "withdrawn" in again.text

    # Another agency sees none of it.
    await investigator(db, other_client, "det@other.example", "Other County SO")
    assert (await other_client.get(f"/console/requests/{first['id']}")).status_code == 404
    assert (await other_client.submit(f"/console/requests/{first['id']}/contact", {})).status_code == 404
    assert 'data-testid="request"' not in (await other_client.get("/console/requests")).text


async def test_clips_appear_on_the_request_page_and_opening_one_is_recorded(
    client: Client, area: dict, db: AsyncSession
) -> None:
    from tests.requests.test_evidence import CLIP, accepted_request, upload

    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id)
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det2@mpd.example", "Milwaukee PD")
    page = await client.get(f"/console/requests/{request_id}")
    assert 'data-testid="state">Clips uploaded<' in page.text and receipt["sha256"] in page.text
    assert await db.scalar(select(func.count()).select_from(CustodyEvent).where(CustodyEvent.action == "view")) == 0
    clip_page = await client.get(f"/console/clips/{receipt['id']}")
    assert receipt["sha256"] in clip_page.text and f"{len(CLIP):,} bytes" in clip_page.text
    assert f'href="/api/v1/agency/clips/{receipt["id"]}/download"' in clip_page.text
    assert await db.scalar(select(func.count()).select_from(CustodyEvent).where(CustodyEvent.action == "view")) == 1
