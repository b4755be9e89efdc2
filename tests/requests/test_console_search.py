"""The console's search as an investigator works through it: the cameras that see the incident point start ticked
(and the page says so), filters narrow the list without JavaScript, rows with the same name are told apart by
their block (never the owner's contact), an empty search says what to do, and the send button counts owners."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.requests.models import FootageRequest
from tests.conftest import Client
from tests.helpers import add_camera, add_site, sign_up
from tests.requests.conftest import NOW, as_owner, investigator

INCIDENT = (43.0600, -87.9000)
M_LAT = 1 / 111_320
M_LON = 1 / (111_320 * math.cos(math.radians(INCIDENT[0])))
START = NOW - dt.timedelta(days=5)


def local(moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo("America/Chicago")).strftime("%Y-%m-%dT%H:%M")


def params(**overrides: object) -> dict:
    return {
        "latitude": INCIDENT[0], "longitude": INCIDENT[1], "radius_m": 250, "window_start": local(START),
        "window_end": local(START + dt.timedelta(minutes=30)), "incident_address": "", **overrides,
    }  # fmt: skip


async def owner_with(client: Client, email: str, name: str, address: str, north_m: float, east_m: float, **site):
    await sign_up(client, email, name=name)
    return await add_site(
        client, address=address, latitude=INCIDENT[0] + north_m * M_LAT, longitude=INCIDENT[1] + east_m * M_LON,
        contact_email=email.replace("@", ".contact@"), **site,
    )  # fmt: skip


@pytest.fixture
async def lots(client: Client, other_client: Client, db: AsyncSession) -> dict[str, str]:
    """Three owners with a "Parking lot" each around the incident point: two see it (one also has an indoor
    "Lobby" that does), one faces away and keeps 2 days (the window, 5 days ago, is probably gone)."""
    a = await owner_with(client, "ana@example.com", "Ana Quill", "2401 N Holton St, Milwaukee", 20, 0,
                         contact_phone="(414) 555-0101")  # fmt: skip
    a_lot = await add_camera(client, a["id"], name="Parking lot", bearing_deg=180, field_of_view_deg=90, range_m=30,
                             retention_days=30)  # fmt: skip
    lobby = await add_camera(client, a["id"], name="Lobby", bearing_deg=180, field_of_view_deg=90, range_m=30,
                             placement="indoor", retention_days=30)  # fmt: skip
    b = await owner_with(other_client, "ben@example.com", "Ben Ruiz", "1210 E Center St #4", 0, 30,
                         contact_phone="(414) 555-0102")  # fmt: skip
    b_lot = await add_camera(other_client, b["id"], name="Parking lot", bearing_deg=90, range_m=50, retention_days=2)
    await other_client.send_json("POST", "/api/v1/auth/logout")
    c = await owner_with(other_client, "cy@example.com", "Cy Stone", "3300 N Oakland Ave", 0, -40,
                         contact_phone="(414) 555-0103")  # fmt: skip
    c_lot = await add_camera(other_client, c["id"], name="Parking lot", bearing_deg=90, range_m=50, retention_days=30)
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det@mpd.example", "Milwaukee PD")
    return {"a_lot": a_lot["id"], "lobby": lobby["id"], "b_lot": b_lot["id"], "c_lot": c_lot["id"]}


def rows(html: str) -> dict[str, bool]:
    """Each listed camera's id, and whether its box is ticked."""
    boxes = re.findall(r'name="camera_ids" value="([0-9a-f-]+)" data-owner="\d+"( checked)?>', html)
    return {camera_id: bool(checked) for camera_id, checked in boxes}


async def test_the_cameras_that_see_the_incident_start_ticked_and_the_page_says_so(
    client: Client, lots: dict[str, str]
) -> None:
    page = await client.get("/console/search", params=params())
    assert page.status_code == 200 and "4 cameras within 250 m" in page.text
    assert rows(page.text) == {lots["a_lot"]: True, lots["lobby"]: True, lots["c_lot"]: True, lots["b_lot"]: False}
    assert "3 cameras see the incident point; they are ticked." in page.text
    assert "Send request to 2 owners" in page.text  # Ana (two cameras) and Cy


async def test_rows_with_one_name_are_told_apart_by_their_block_and_show_no_contact(
    client: Client, lots: dict[str, str]
) -> None:
    page = await client.get("/console/search", params=params())
    assert page.text.count('<span class="camera-name">Parking lot</span>') == 3
    places = re.findall(r'data-testid="place">([^<]*)<', page.text)
    assert places == [
        "2400 block of N Holton St · owner 1", "2400 block of N Holton St · owner 1",
        "1200 block of E Center St · owner 2", "3300 block of N Oakland Ave · owner 3",
    ]  # fmt: skip
    assert "20 m N" in page.text and "30 m E" in page.text and "40 m W" in page.text
    for private in ("Ana Quill", "Ben Ruiz", "Cy Stone", "555-010", "contact@example.com", "@example.com", "2401",
                    "1210", "#4"):  # fmt: skip
        assert private not in page.text, private


@pytest.mark.parametrize(
    ("chosen", "shown", "hidden"),
    [
        ({"in_view": "1"}, {"a_lot", "lobby", "c_lot"}, 1),
        ({"outdoor": "1"}, {"a_lot", "b_lot", "c_lot"}, 1),
        ({"still_kept": "1"}, {"a_lot", "lobby", "c_lot"}, 1),
        ({"in_view": "1", "outdoor": "1"}, {"a_lot", "c_lot"}, 2),
        ({}, {"a_lot", "lobby", "b_lot", "c_lot"}, 0),
    ],
)
async def test_each_filter_narrows_the_list_without_javascript(
    client: Client, lots: dict[str, str], chosen: dict, shown: set, hidden: int
) -> None:
    page = await client.get("/console/search", params={**params(), **chosen, "ticks": "view"})
    assert set(rows(page.text)) == {lots[name] for name in shown}
    for name in ("in_view", "outdoor", "still_kept"):  # the filter form shows what is on
        box = re.search(rf'<input type="checkbox" name="{name}" value="1"( checked)?>', page.text)
        assert box is not None and bool(box.group(1)) == (name in chosen)
        # ... and the send form carries it, so a send that comes back keeps the list as it was
        assert (f'<input type="hidden" name="{name}" value="1">' in page.text) == (name in chosen)
    if hidden:
        assert f"{hidden} camera{'s' if hidden > 1 else ''} hidden by the filters." in page.text
    else:
        assert 'data-testid="hidden-by-filters"' not in page.text


async def test_filters_that_match_nothing_say_so(client: Client, lots: dict[str, str]) -> None:
    # 10 m west of Ben's lot, which faces east: it is the only camera within 25 m, and it does not see the point.
    near_b = {"latitude": INCIDENT[0], "longitude": INCIDENT[1] + 20 * M_LON, "radius_m": 25}
    page = await client.get("/console/search", params={**params(**near_b), "in_view": "1"})
    assert "No camera listed matches these filters." in page.text and rows(page.text) == {}
    assert "Send request" not in page.text


async def test_tick_all_and_tick_none_and_the_send_button_follows(client: Client, lots: dict[str, str]) -> None:
    every = await client.get("/console/search", params={**params(), "ticks": "all"})
    assert set(rows(every.text).values()) == {True} and "Send request to 3 owners" in every.text
    assert "All 4 cameras listed are ticked." in every.text
    none = await client.get("/console/search", params={**params(), "ticks": "none"})
    assert set(rows(none.text).values()) == {False} and "Send request (no camera ticked)" in none.text
    one = await client.get("/console/search", params={**params(), "ticks": "all", "outdoor": "1", "in_view": "1"})
    assert "Send request to 2 owners" in one.text


async def test_an_empty_search_says_so_and_offers_a_wider_one(client: Client, lots: dict[str, str]) -> None:
    far = {"latitude": 43.1, "longitude": -87.95}
    page = await client.get("/console/search", params=params(**far))
    assert page.status_code == 200 and "No camera is registered within 250 m of the incident point." in page.text
    assert "Widen the radius (up to 2000 m) and search again" in page.text
    link = re.search(r'href="(/console/search\?[^"]+)" data-testid="widen">search within 500 m<', page.text)
    assert link is not None and "radius_m=500" in link.group(1) and link.group(1).count("radius_m") == 1
    assert 'data-testid="results"' not in page.text and "Send request" not in page.text
    widest = await client.get("/console/search", params=params(**far, radius_m=2000))
    assert "This is the widest search: check the incident point." in widest.text


async def test_the_server_sends_what_was_ticked_and_a_send_that_comes_back_keeps_the_ticks(
    client: Client, lots: dict[str, str], db: AsyncSession
) -> None:
    back = await client.submit(
        "/console/requests",
        {**params(), "in_view": "1", "camera_ids": [lots["lobby"]], "case_number": "", "request_type": "voluntary"},
    )
    assert back.status_code == 400 and "Case number" in back.text
    assert rows(back.text) == {lots["a_lot"]: False, lots["lobby"]: True, lots["c_lot"]: False}  # filter kept
    assert "Send request to 1 owner<" in back.text
    assert await db.scalar(select(func.count()).select_from(FootageRequest)) == 0

    sent = await client.submit(
        "/console/requests",
        {**params(), "camera_ids": [lots["a_lot"], lots["c_lot"]], "case_number": "MPD-26-1",
         "request_type": "voluntary"},
    )  # fmt: skip
    assert "Sent 2 requests" in sent.text
    requests = (await db.scalars(select(FootageRequest))).all()
    assert sorted(c.name for r in requests for c in r.cameras) == ["Parking lot", "Parking lot"]


async def test_asking_only_one_owner_works_for_a_camera_not_ticked(
    client: Client, lots: dict[str, str], db: AsyncSession
) -> None:
    sent = await client.submit(
        "/console/requests",
        {**params(), "camera_ids": [lots["a_lot"], lots["c_lot"]], "only_owner_of": lots["b_lot"],
         "case_number": "MPD-26-2", "request_type": "voluntary"},
    )  # fmt: skip
    assert "Sent 1 request." in sent.text
    (request,) = (await db.scalars(select(FootageRequest))).all()
    assert [c.camera_id for c in request.cameras] == [uuid.UUID(lots["b_lot"])]


async def test_an_owner_cannot_use_the_console_search_with_filters(
    client: Client, other_client: Client, lots: dict[str, str]
) -> None:
    await as_owner(other_client, "cy@example.com")
    page = await other_client.get("/console/search", params={**params(), "in_view": "1", "ticks": "all"})
    assert page.status_code == 403 and "Parking lot" not in page.text
