"""A coordinator's coverage map in Chromium: each listed camera drawn as its viewing cone (outdoor filled, indoor
outlined) with the district's boundary, on the configured tiles, nothing blocked by the CSP; the page fits a
320 px phone and axe finds nothing. An administrator draws a district's boundary by tapping the map."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.districts.models import District, DistrictMember, MemberStatus
from backend.registry import service as registry
from backend.registry.models import Placement, Recorder, Site, SiteKind
from backend.registry.schemas import CameraIn, SiteIn
from tests.e2e import seed
from tests.e2e.conftest import TileServer
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, watch_for_problems
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

AT = (43.0589, -87.9050)
# [longitude, latitude], around AT.
BOUNDARY = {
    "type": "Polygon",
    "coordinates": [[[-87.907, 43.057], [-87.903, 43.057], [-87.903, 43.061], [-87.907, 43.061], [-87.907, 43.057]]],
}


def _district_with_a_member(database_url: str, tag: str) -> tuple[str, str]:
    """A district with a boundary, its coordinator, and a joined member's site in it with an outdoor and an indoor
    camera; the coordinator's email and the district's id."""
    coordinator = f"coverage-{tag}@bid.example"

    async def work(db: AsyncSession) -> str:
        user = await accounts.create_user(
            db, email=coordinator, password=DETECTIVE_PASSWORD, display_name="Casey", roles=[Role.COORDINATOR],
            district_name=f"Coverage BID {tag}",
        )  # fmt: skip
        district = await db.get(District, user.district_id)
        assert district is not None
        district.boundary = BOUNDARY
        owner = await accounts.create_user(
            db, email=f"member-{tag}@example.org", password=DETECTIVE_PASSWORD, display_name="Mo", roles=[Role.OWNER]
        )
        db.add(
            DistrictMember(
                district_id=district.id, business_name=f"Holton Bakery {tag}", status=MemberStatus.JOINED.value,
                user_id=owner.id, match_key=f"member-{tag}@example.org", address="2401 N Holton St",
            )
        )  # fmt: skip
        site = await registry.create_site(
            db, owner.id,
            SiteIn(name="Bakery", address="2401 N Holton St", latitude=AT[0], longitude=AT[1], kind=SiteKind.BUSINESS,
                   contact_phone="+1 414 555 0199"),
        )  # fmt: skip
        for name, placement, bearing in (("Front", Placement.OUTDOOR, 270), ("Till", Placement.INDOOR, 90)):
            await registry.create_camera(
                db, owner.id, site.id,
                CameraIn(name=name, bearing_deg=bearing, placement=placement, recorder=Recorder.NVR_DVR,
                         retention_days=14, range_m=40),
            )  # fmt: skip
        stored = await db.get(Site, site.id)
        assert stored is not None
        stored.district_id = district.id
        await db.commit()
        return str(district.id)

    return coordinator, seed.run(database_url, work)


def _sign_in(page: Page, email: str, lands_on: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DETECTIVE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(f"{lands_on}$"))


def test_the_coverage_map_draws_cones_and_the_boundary_and_fits_a_phone(
    new_context: Any, server_database: str, tile_server: TileServer
) -> None:
    coordinator, _ = _district_with_a_member(server_database, uuid.uuid4().hex[:8])
    problems: list[str] = []
    page = watch_for_problems(new_context(viewport={"width": 320, "height": 720}).new_page(), problems)
    _sign_in(page, coordinator, "/district")
    page.goto("/district/coverage")

    drawn = page.locator("[data-coverage-map]")
    expect(drawn).to_be_visible()
    expect(drawn.locator(".map-tile").first).to_be_visible()
    expect(drawn.locator("[data-map-cone]")).to_have_count(2)
    expect(drawn.locator(".map-cone.outdoor")).to_have_count(1)
    expect(drawn.locator(".map-cone.indoor")).to_have_count(1)
    expect(drawn.locator("[data-map-boundary]")).to_have_count(1)
    # The outdoor camera faces west: its cone lies left of the camera, inside the map.
    cone = drawn.locator(".map-cone.outdoor").bounding_box()
    origin = drawn.locator(".map-cone-origin").first.bounding_box()
    box = drawn.bounding_box()
    assert cone["x"] < origin["x"] and cone["x"] + cone["width"] <= origin["x"] + origin["width"], (cone, origin)
    assert box["x"] <= cone["x"] and cone["x"] + cone["width"] <= box["x"] + box["width"]
    assert any(path.endswith(".png") for path in tile_server.requested)

    # The list says all of it, and nothing scrolls sideways at 320 px.
    cameras = page.get_by_test_id("coverage-cameras")
    expect(cameras.get_by_role("rowgroup").filter(has_text="2400 block of N Holton St")).to_have_count(1)
    expect(cameras.get_by_text("W (270°)")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert "555 0199" not in page.content()
    assert violations(page) == []
    assert not problems, problems


def test_an_administrator_draws_a_boundary_on_the_map(
    new_context: Any, server_database: str, tile_server: TileServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    _, district_id = _district_with_a_member(server_database, tag)
    admin = f"admin-{tag}@city.example"

    async def make_admin(db: AsyncSession) -> None:
        await accounts.create_user(db, email=admin, password=DETECTIVE_PASSWORD, display_name="Ada", roles=[Role.ADMIN])

    seed.run(server_database, make_admin)
    problems: list[str] = []
    page = watch_for_problems(new_context(**DESK).new_page(), problems)
    _sign_in(page, admin, "/admin/users")
    page.get_by_role("link", name="Districts").click()
    expect(page.get_by_test_id("districts")).to_contain_text(f"Coverage BID {tag}")
    assert violations(page) == []
    page.get_by_role("link", name=f"Coverage BID {tag}").click()

    field = page.get_by_label("Boundary (GeoJSON)")
    assert json.loads(field.input_value()) == BOUNDARY
    drawing = page.locator("[data-boundary-map]")
    expect(drawing).to_be_visible()
    expect(drawing.locator("[data-map-corner]")).to_have_count(4)  # the stored outline, read from the field
    assert violations(page) == []
    page.get_by_role("button", name="Start again").click()
    assert field.input_value() == ""
    box = drawing.bounding_box()
    for x, y in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.7)):
        drawing.click(position={"x": box["width"] * x, "y": box["height"] * y})
    expect(drawing.locator("[data-map-corner]")).to_have_count(3)
    expect(page.locator("[data-boundary-status]")).to_have_text("3 corners; the outline closes back to the first.")
    drawn = json.loads(field.input_value())
    ring = drawn["coordinates"][0]
    assert drawn["type"] == "Polygon" and len(ring) == 4 and ring[0] == ring[-1]
    assert ring[0][1] > ring[2][1] and ring[0][0] < ring[1][0]  # north-west, north-east, then south
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(f"Saved Coverage BID {tag}")

    async def stored(db: AsyncSession) -> Any:
        return await db.scalar(select(District.boundary).where(District.id == uuid.UUID(district_id)))

    assert seed.run(server_database, stored) == drawn
    assert not problems, problems
