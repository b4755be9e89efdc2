"""A coordinator's coverage page and API: joined members' in-district cameras with their view, the totals, offline
counts from the devices domain, blocks with no outward-facing camera, the boundary; nothing of another district,
of a member who left, of a site not placed in the district, and never the owner's police contact or account."""

from __future__ import annotations

import html
import uuid
from typing import Any

from litestar import Litestar
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.devices.models import DeviceCamera, EdgeDevice, Status
from backend.districts.models import District, DistrictMember, MemberStatus
from backend.registry.geo import point_in_polygon
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member, joined_member
from tests.helpers import add_camera, add_site
from tests.sharing.conftest import online_device

# The member's police contact (given on the site form) and account: a coordinator never reads them.
POLICE_CONTACT = {
    "contact_phone": "(414) 555-0177",
    "contact_email": "backoffice@holton-bakery.example",
    "contact_hours": "Mornings 6-11",
    "investigator_note": "Ask for the night manager",
}
OWNER_EMAIL = "owner-of-bakery@member.example"
# Around 2401 N Holton St (tests.helpers.SITE at 43.0589, -87.9050), [longitude, latitude].
AROUND_HOLTON = {
    "type": "Polygon",
    "coordinates": [[[-87.91, 43.05], [-87.90, 43.05], [-87.90, 43.07], [-87.91, 43.07], [-87.91, 43.05]]],
}


async def _district_world(app: Litestar, db: AsyncSession, coordinator: Coordinator, other: Coordinator) -> dict:
    """Riverside: a joined bakery (outdoor and indoor camera, a paired device with one of two cameras offline), a
    joined cafe with an indoor camera only (on another block, outside the boundary), a joined grocer whose site is
    not in the district, a member who left (their site still says Riverside), a listed member on a third block.
    Harbor: a joined member with a camera."""
    clients = [Client(app) for _ in range(5)]
    bakery = await joined_member(
        db, coordinator.district_id, clients[0], "Holton Bakery", email=OWNER_EMAIL,
        address="2401 N Holton St, Milwaukee, WI", **POLICE_CONTACT,
    )  # fmt: skip
    await db.execute(
        update(DistrictMember).where(DistrictMember.id == bakery.member.id).values(address="2415 N Holton St")
    )
    await db.commit()
    assert bakery.site_id is not None
    await add_camera(clients[0], bakery.site_id, name="Bakery front", placement="outdoor", bearing_deg=270)
    await add_camera(clients[0], bakery.site_id, name="Bakery till", placement="indoor", bearing_deg=90)
    async with Client(app) as box:
        device = await online_device(clients[0], box, bakery.site_id, "front", "till")
    await db.execute(update(EdgeDevice).where(EdgeDevice.id == uuid.UUID(device.id)).values(status=Status.OFFLINE))
    await db.execute(
        update(DeviceCamera)
        .where(DeviceCamera.device_id == uuid.UUID(device.id), DeviceCamera.key == "till")
        .values(status=Status.OFFLINE)
    )
    await db.commit()

    cafe = await joined_member(
        db, coordinator.district_id, clients[1], "Brady Cafe", address="900 E Brady St, Milwaukee, WI",
        latitude=43.0530, longitude=-87.8990,
    )  # fmt: skip
    assert cafe.site_id is not None
    await add_camera(clients[1], cafe.site_id, name="Cafe counter", placement="indoor")

    grocer = await joined_member(db, coordinator.district_id, clients[2], "Elsewhere Grocer", with_site=False)
    elsewhere = await add_site(grocer.owner, name="Grocer warehouse", address="3100 W Lisbon Ave")
    await add_camera(grocer.owner, elsewhere["id"], name="Warehouse yard")

    gone = await joined_member(db, coordinator.district_id, clients[3], "Former Florist", address="2430 N Holton St")
    assert gone.site_id is not None
    await add_camera(gone.owner, gone.site_id, name="Florist door")
    await db.execute(
        update(DistrictMember)
        .where(DistrictMember.id == gone.member.id)
        .values(status=MemberStatus.LEFT.value, user_id=None)
    )
    await db.commit()
    await add_member(db, coordinator.district_id, "Farwell Books", address="1510 N Farwell Ave, Milwaukee")

    harbor = await joined_member(db, other.district_id, clients[4], "Harbor Chandlery", address="2440 N Holton St")
    assert harbor.site_id is not None
    await add_camera(harbor.owner, harbor.site_id, name="Dock camera")
    await db.commit()
    for client in clients:
        await client.aclose()
    return {"bakery_site": bakery.site_id}


async def coverage(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/district/coverage", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_coverage_counts_joined_members_in_district_cameras_only(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    found = await coverage(coordinator.client)

    assert found["district"] == "Riverside BID"
    # Bakery (2) and cafe (1); not the grocer's site outside the district, the florist who left, or Harbor's.
    assert found["totals"] == {
        "members_joined": 3, "sites": 2, "cameras": 3, "outdoor_cameras": 1, "cameras_outside_boundary": None,
    }  # fmt: skip
    assert sorted(c["business_name"] for c in found["cameras"]) == ["Brady Cafe", "Holton Bakery", "Holton Bakery"]
    front = next(c for c in found["cameras"] if c["placement"] == "outdoor")
    assert front["block"] == "2400 block of N Holton St"
    assert (front["bearing_deg"], front["field_of_view_deg"], front["range_m"]) == (270, 110, 25)
    assert (front["latitude"], front["longitude"]) == (43.0589, -87.9050)
    # By street, then block: Brady St before Holton St.
    assert [c["block"] for c in found["cameras"]] == [
        "900 block of E Brady St", "2400 block of N Holton St", "2400 block of N Holton St",
    ]  # fmt: skip
    assert found["offline"] == {
        "devices_paired": 1, "devices_offline": 1, "device_cameras": 2, "device_cameras_offline": 1,
    }  # fmt: skip


async def test_uncovered_blocks_are_where_to_recruit_next(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    found = await coverage(coordinator.client)
    # Holton St has the bakery's outdoor camera; Brady St only an indoor one; Farwell Ave a listed member only.
    # The florist left (not counted), Harbor's chandlery is another district's.
    assert found["uncovered_blocks"] == [
        {"block": "1500 block of N Farwell Ave", "members": 1, "sites": 0},
        {"block": "900 block of E Brady St", "members": 0, "sites": 1},
    ]
    assert found["uncovered_blocks_total"] == 2

    page = (await coordinator.client.get("/district/coverage")).text
    uncovered = page[page.index("Blocks with no outward-facing camera") :]
    assert "1500 block of N Farwell Ave" in uncovered and "900 block of E Brady St" in uncovered
    assert "2400 block of N Holton St" not in uncovered


async def test_a_boundary_counts_the_cameras_outside_it(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    await db.execute(update(District).where(District.id == coordinator.district_id).values(boundary=AROUND_HOLTON))
    await db.commit()
    found = await coverage(coordinator.client)
    assert found["totals"]["cameras_outside_boundary"] == 1  # the cafe at -87.8990, east of the outline
    assert [c["business_name"] for c in found["cameras"] if c["outside_boundary"]] == ["Brady Cafe"]
    assert found["boundary"] == AROUND_HOLTON
    page = (await coordinator.client.get("/district/coverage")).text
    assert "Outside the district's boundary</dt><dd>1</dd>" in page


def test_point_in_polygon_by_ray_casting() -> None:
    square = AROUND_HOLTON
    assert point_in_polygon(43.0589, -87.9050, square)
    assert not point_in_polygon(43.0530, -87.8990, square)  # east
    assert not point_in_polygon(43.08, -87.905, square)  # north
    # An L shape: the notch is outside, both arms inside.
    ell = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2], [0, 0]]]}
    assert point_in_polygon(0.5, 0.5, ell) and point_in_polygon(1.5, 0.5, ell) and point_in_polygon(0.5, 1.5, ell)
    assert not point_in_polygon(1.5, 1.5, ell)
    # A hole is outside.
    holed = {
        "type": "Polygon",
        "coordinates": [
            [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]],
            [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]],
        ],
    }
    assert point_in_polygon(0.5, 0.5, holed) and not point_in_polygon(2, 2, holed)


async def test_the_coordinator_never_reads_the_owners_police_contact_or_account(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    page = html.unescape((await coordinator.client.get("/district/coverage")).text)
    api = (await coordinator.client.get("/api/v1/district/coverage")).text
    assert "Holton Bakery" in page and "Holton Bakery" in api
    for secret in [*POLICE_CONTACT.values(), OWNER_EMAIL, "Holton Bakery owner", "Bakery front", "Bakery till",
                   "2401 N Holton St", "Former Florist", "Elsewhere Grocer", "Harbor Chandlery"]:  # fmt: skip
        assert secret not in page, secret
        assert secret not in api, secret


async def test_another_districts_coordinator_sees_only_their_own(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    harbor = await coverage(other_coordinator.client)
    assert harbor["district"] == "Harbor BID"
    assert [c["business_name"] for c in harbor["cameras"]] == ["Harbor Chandlery"]
    assert harbor["totals"]["cameras"] == 1 and harbor["offline"]["devices_paired"] == 0
    page = (await other_coordinator.client.get("/district/coverage")).text
    assert "Holton Bakery" not in page and "Brady Cafe" not in page and "Farwell" not in page


async def test_owners_and_investigators_are_refused(app: Litestar, db: AsyncSession, client: Client) -> None:
    await joined_member(db, (await _a_district(db)).id, client, "Somebody's Shop")
    assert (await client.get("/api/v1/district/coverage")).status_code == 403
    assert (await client.get("/district/coverage")).status_code == 403
    async with Client(app) as anonymous:
        assert (await anonymous.get("/api/v1/district/coverage")).status_code == 401


async def _a_district(db: AsyncSession) -> District:
    district = District(name="Lonely BID")
    db.add(district)
    await db.commit()
    return district


async def test_the_camera_list_pages_with_a_cursor(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    everything = (await coverage(coordinator.client))["cameras"]
    seen, after = [], None
    for _ in range(5):
        page = await coverage(coordinator.client, limit=2, **({"after": after} if after else {}))
        seen += page["cameras"]
        after = page["next_cursor"]
        if after is None:
            break
    assert [c["id"] for c in seen] == [c["id"] for c in everything]
    assert len(seen) == 3

    refused = await coordinator.client.get("/api/v1/district/coverage", params={"after": "bm90LWEtY3Vyc29y"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0]["field"] == "after"
    too_many = await coordinator.client.get("/api/v1/district/coverage", params={"limit": 501})
    assert too_many.status_code == 400

    first = await coordinator.client.get("/district/coverage", params={"after": None})
    assert first.status_code == 200


async def test_the_page_lists_cameras_by_block_and_the_numbers(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    await _district_world(app, db, coordinator, other_coordinator)
    page = (await coordinator.client.get("/district/coverage")).text
    assert page.startswith("<!doctype html>")
    assert "Members joined</dt><dd>3</dd>" in page
    assert "Cameras registered</dt><dd>3</dd>" in page
    assert "Facing outward (outdoor)</dt><dd>1</dd>" in page
    assert "<strong>1</strong> of 1 paired edge device offline" in page
    assert '<th scope="rowgroup" colspan="5">2400 block of N Holton St' in page
    assert "W (270°)" in page and "E (90°)" in page
    assert "data-coverage-map" not in page  # no tiles configured: the list alone


async def test_a_coordinator_without_a_district_is_told_what_to_do(app: Litestar, db: AsyncSession) -> None:
    from backend.accounts import service as accounts
    from backend.accounts.models import Role
    from tests.helpers import PASSWORD

    user = await accounts.create_user(
        db, email="nodistrict@example.com", password=PASSWORD, display_name="N", roles=[Role.COORDINATOR],
        district_name="Vanishing BID",
    )  # fmt: skip
    await db.execute(update(type(user)).where(type(user).id == user.id).values(district_id=None))
    await db.commit()
    async with Client(app) as browser:
        await browser.send_json("POST", "/api/v1/auth/login", {"email": "nodistrict@example.com", "password": PASSWORD})
        response = await browser.get("/district/coverage")
    assert response.status_code == 404
    assert "Ask an administrator" in response.text
