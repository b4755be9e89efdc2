"""Administrators' districts: the list with coordinators, a new district, its name and boundary (pasted GeoJSON,
checked by one function the command line uses too); every bad boundary is told clearly and nothing is saved."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.districts.admin import BOUNDARY_MAX_VERTICES, BoundaryError, parse_boundary
from backend.districts.models import District
from tests.conftest import Client
from tests.districts.conftest import DISTRICT, Coordinator, add_member
from tests.helpers import PASSWORD, sign_up

SQUARE = [[-87.91, 43.05], [-87.90, 43.05], [-87.90, 43.07], [-87.91, 43.07]]  # open: the ring is closed for you
CLOSED = {"type": "Polygon", "coordinates": [[*SQUARE, SQUARE[0]]]}


def _circle(corners: int) -> list[list[float]]:
    import math

    return [[-87.9 + 0.01 * math.cos(2 * math.pi * i / corners), 43.05 + 0.01 * math.sin(2 * math.pi * i / corners)]
            for i in range(corners)]  # fmt: skip


@pytest.mark.parametrize(
    "pasted",
    [
        {"type": "Polygon", "coordinates": [SQUARE]},
        {"type": "Feature", "properties": {"name": "Ward"}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": CLOSED, "properties": {}}]},
        {"type": "Polygon", "coordinates": [[[*p, 180.0] for p in SQUARE]]},  # an altitude is dropped
    ],
)
def test_a_boundary_is_stored_as_one_closed_polygon(pasted: dict[str, Any]) -> None:
    assert parse_boundary(json.dumps(pasted)) == CLOSED


def test_an_empty_boundary_is_no_boundary() -> None:
    assert parse_boundary("  \n ") is None


BAD_BOUNDARIES = [
    ("{not json", "is not valid JSON"),
    ('"Polygon"', "must be a GeoJSON object"),
    (json.dumps({"type": "Point", "coordinates": [-87.9, 43.05]}), "is a Point; it must be a Polygon geometry"),
    (json.dumps({"type": "Feature", "geometry": {"type": "LineString", "coordinates": SQUARE}}), "is LineString"),
    (json.dumps({"type": "FeatureCollection", "features": []}), "holds 0 features; it must hold exactly one"),
    (json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": CLOSED}] * 2}), "holds 2"),
    (json.dumps({"type": "Polygon", "coordinates": []}), "has no coordinates"),
    (json.dumps({"type": "Polygon", "coordinates": [SQUARE[:2]]}), "has 2 corners; it needs at least 3"),
    (json.dumps({"type": "Polygon", "coordinates": [[*SQUARE[:2], SQUARE[0]]]}), "has 2 corners"),
    (json.dumps({"type": "Polygon", "coordinates": [[[-87.9, 43.05], ["a", 1], [1, 2]]]}), "Position 2 of the outline"),
    (
        json.dumps({"type": "Polygon", "coordinates": [[[43.05, -87.9], [43.06, -87.9], [43.06, -91]]]}),
        "Position 3 of the outline has latitude -91",
    ),  # fmt: skip
    (json.dumps({"type": "Polygon", "coordinates": [[[-187.9, 43.05], [1, 2], [2, 2]]]}), "longitude -187.9"),
    (
        json.dumps({"type": "Polygon", "coordinates": [_circle(BOUNDARY_MAX_VERTICES + 1)]}),
        f"has {BOUNDARY_MAX_VERTICES + 1:,} corners; at most {BOUNDARY_MAX_VERTICES:,}",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("text", "words"), BAD_BOUNDARIES)
def test_a_bad_boundary_says_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(BoundaryError) as refused:
        parse_boundary(text)
    assert words in str(refused.value)


def test_the_most_corners_allowed_fit() -> None:
    parsed = parse_boundary(json.dumps({"type": "Polygon", "coordinates": [_circle(BOUNDARY_MAX_VERTICES)]}))
    assert parsed is not None and len(parsed["coordinates"][0]) == BOUNDARY_MAX_VERTICES + 1


async def _admin(db: AsyncSession, client: Client) -> None:
    await accounts.create_user(
        db, email="admin@example.com", password=PASSWORD, display_name="Ada Admin", roles=[Role.ADMIN]
    )
    signed_in = await client.send_json(
        "POST", "/api/v1/auth/login", {"email": "admin@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text


def _error(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="f-{field}-error">([^<]*)</p>', page)
    return html.unescape(found.group(1)) if found else ""


async def test_an_administrator_creates_and_edits_a_district(
    db: AsyncSession, client: Client, coordinator: Coordinator
) -> None:
    await _admin(db, client)
    await add_member(db, coordinator.district_id, "Corner Bakery")
    listed = await client.get("/admin/districts")
    assert listed.status_code == 200
    assert DISTRICT in listed.text and "Casey Coordinator" in listed.text
    assert "1 on the roster, 0 joined" in listed.text

    created = await client.submit("/admin/districts", {"name": "  Third   Ward BID ", "boundary": json.dumps(CLOSED)})
    assert created.status_code == 200
    district = await db.scalar(select(District).where(District.name == "Third Ward BID"))
    assert district is not None and district.boundary == CLOSED
    assert str(created.url).endswith(f"/admin/districts/{district.id}?created=Third+Ward+BID")
    assert "Created Third Ward BID" in created.text
    assert json.dumps(CLOSED) in html.unescape(created.text)  # the form shows the boundary to edit

    edited = await client.submit(f"/admin/districts/{district.id}", {"name": "Historic Third Ward", "boundary": ""})
    assert edited.status_code == 200 and "Saved Historic Third Ward" in edited.text
    await db.refresh(district)
    assert (district.name, district.boundary) == ("Historic Third Ward", None)


async def test_a_district_name_is_its_own(db: AsyncSession, client: Client, coordinator: Coordinator) -> None:
    await _admin(db, client)
    refused = await client.submit("/admin/districts", {"name": DISTRICT.upper(), "boundary": ""})
    assert refused.status_code == 400
    assert _error(refused.text, "name") == f"A district named {DISTRICT} already exists; choose another name"
    assert 'value="RIVERSIDE BID"' in refused.text  # kept for the fix
    assert await db.scalar(select(func.count()).select_from(District)) == 1

    other = (await client.submit("/admin/districts", {"name": "Harbor BID"})).url.path.rsplit("/", 1)[1]
    renamed = await client.submit(f"/admin/districts/{other}", {"name": "riverside bid", "boundary": ""})
    assert renamed.status_code == 400 and "already exists" in _error(renamed.text, "name")
    assert await db.scalar(select(District.name).where(District.name == "Harbor BID")) == "Harbor BID"


async def test_a_district_name_is_its_own_in_every_alphabet(db: AsyncSession, client: Client) -> None:
    """Letter case beyond ASCII (SQLite's lower() folds only A-Z): "ÉGLISE BID" is the name "Église BID" has."""
    await _admin(db, client)
    assert (await client.submit("/admin/districts", {"name": "Église BID"})).status_code == 200
    refused = await client.submit("/admin/districts", {"name": "ÉGLISE  BID"})
    assert refused.status_code == 400
    assert _error(refused.text, "name") == "A district named Église BID already exists; choose another name"
    assert await db.scalar(select(func.count()).select_from(District)) == 1
    # The same rule names a coordinator's district by hand (porchlight users create --district).
    casey = await accounts.create_user(
        db, email="casey@example.com", password=PASSWORD, display_name="Casey", roles=[Role.COORDINATOR],
        district_name="église bid",
    )  # fmt: skip
    assert casey.district_id == await db.scalar(select(District.id))
    assert await db.scalar(select(func.count()).select_from(District)) == 1


@pytest.mark.parametrize(("text", "words"), BAD_BOUNDARIES)
async def test_every_bad_boundary_comes_back_beside_its_field_and_nothing_is_saved(
    db: AsyncSession, client: Client, text: str, words: str
) -> None:
    await _admin(db, client)
    district = District(name="Riverside BID", boundary=CLOSED)
    db.add(district)
    await db.commit()

    new = await client.submit("/admin/districts", {"name": "New BID", "boundary": text})
    assert new.status_code == 400 and new.headers["content-type"].startswith("text/html")
    assert words in _error(new.text, "boundary")
    assert _error(new.text, "boundary").startswith("Boundary: ")
    assert 'href="#f-boundary"' in new.text  # the error summary links to the field
    edit = await client.submit(f"/admin/districts/{district.id}", {"name": "Renamed BID", "boundary": text})
    assert edit.status_code == 400 and words in _error(edit.text, "boundary")
    assert 'value="Renamed BID"' in edit.text

    assert await db.scalar(select(func.count()).select_from(District)) == 1
    await db.refresh(district)
    assert (district.name, district.boundary) == ("Riverside BID", CLOSED)


async def test_name_and_boundary_errors_are_told_together(db: AsyncSession, client: Client) -> None:
    await _admin(db, client)
    refused = await client.submit("/admin/districts", {"name": " ", "boundary": "[1, 2"})
    assert _error(refused.text, "name") == "Name is required"
    assert "not valid JSON" in _error(refused.text, "boundary")
    too_long = await client.submit("/admin/districts", {"name": "x" * 201})
    assert _error(too_long.text, "name") == "Name must be at most 200 characters"
    assert await db.scalar(select(func.count()).select_from(District)) == 0


async def test_only_administrators_manage_districts(
    app: Litestar, db: AsyncSession, client: Client, coordinator: Coordinator
) -> None:
    await sign_up(client, "owner@example.com")
    for caller in (client, coordinator.client):
        assert (await caller.get("/admin/districts")).status_code == 403
        assert (await caller.submit("/admin/districts", {"name": "Sneaky BID"})).status_code == 403
        assert (
            await caller.submit(f"/admin/districts/{coordinator.district_id}", {"name": "Taken"})
        ).status_code == 403
    async with Client(app) as anonymous:
        page = await anonymous.get("/admin/districts", follow_redirects=False)
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    assert await db.scalar(select(func.count()).select_from(District)) == 1
    assert await db.scalar(select(District.name)) == DISTRICT


async def test_an_unknown_district_is_a_404(db: AsyncSession, client: Client) -> None:
    await _admin(db, client)
    missing = "00000000-0000-0000-0000-000000000007"
    assert (await client.get(f"/admin/districts/{missing}")).status_code == 404
    assert (await client.submit(f"/admin/districts/{missing}", {"name": "X"})).status_code == 404


async def test_an_administrator_creates_a_coordinator_who_must_choose_a_password(
    db: AsyncSession, client: Client, app: Litestar, coordinator: Coordinator
) -> None:
    await _admin(db, client)
    page = f"/admin/districts/{coordinator.district_id}"
    taken = {"email": "casey@riverside-bid.example", "display_name": "Robin", "password": "password"}
    wrong = await client.submit(f"{page}/coordinators", taken)
    assert (
        wrong.status_code == 400 and "already exists" in _error(wrong.text, "email") and _error(wrong.text, "password")
    )
    assert 'value="Robin"' in wrong.text  # what was typed comes back, never the password

    made = await client.submit(
        f"{page}/coordinators", {"email": "Robin@Example.com ", "display_name": " Robin Reyes ", "password": PASSWORD}
    )
    assert made.status_code == 200 and "Created robin@example.com" in made.text and "Robin Reyes" in made.text
    robin = await accounts.get_user_by_email(db, "robin@example.com")
    assert robin is not None and robin.district_id == coordinator.district_id and robin.must_change_password
    assert robin.role_names == {Role.COORDINATOR}
    async with Client(app) as phone:
        signed_in = await phone.send_json(
            "POST", "/api/v1/auth/login", {"email": "robin@example.com", "password": PASSWORD}
        )
        assert signed_in.status_code == 200
        assert (await phone.get("/district")).url.path == "/password/choose"  # their own password first


async def test_only_administrators_create_coordinators(
    db: AsyncSession, client: Client, coordinator: Coordinator
) -> None:
    await sign_up(client, "owner@example.com")
    for caller in (client, coordinator.client):
        refused = await caller.submit(
            f"/admin/districts/{coordinator.district_id}/coordinators",
            {"email": "sneaky@example.com", "display_name": "Sneaky", "password": PASSWORD},
        )
        assert refused.status_code == 403
    assert await accounts.get_user_by_email(db, "sneaky@example.com") is None


async def test_a_coordinator_named_to_a_district_in_other_letters_joins_that_district(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    """`porchlight users create --district` names a district by hand: letter case and spaces do not make another."""
    robin = await accounts.create_user(
        db, email="robin@example.com", password=PASSWORD, display_name="Robin", roles=[Role.COORDINATOR],
        district_name=f"  {DISTRICT.upper()} ",
    )  # fmt: skip
    assert robin.district_id == coordinator.district_id
    assert await db.scalar(select(func.count()).select_from(District)) == 1
