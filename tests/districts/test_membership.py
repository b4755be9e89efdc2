"""A member's side of a district: the account page says which district sees what about them (and what it never
sees), and they can leave (a pending member withdraws): the coordinator then sees "left" and nothing more, their
sites leave the district, and no new announcement reaches them."""

from __future__ import annotations

import html
import uuid

from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import utcnow
from backend.devices.models import DeviceCamera, EdgeDevice, Status
from backend.districts import service
from backend.districts.models import DistrictMember, MemberStatus
from backend.notifications.models import Notification
from backend.registry.models import Site
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member, joined_member
from tests.districts.test_announcements import send
from tests.helpers import add_camera, add_site, sign_up

ROSTER = {
    "contact_name": "Rosa Roster",
    "phone": "(414) 555-0177",
    "address": "2401 N Holton St, Milwaukee",
}


async def fresh(db: AsyncSession, member: DistrictMember) -> DistrictMember:
    found = await db.scalar(
        select(DistrictMember).where(DistrictMember.id == member.id).execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def offline_device(db: AsyncSession, owner_id: uuid.UUID, site_id: str) -> None:
    """A paired device that went offline with one of its two cameras reported offline (saved directly)."""
    device = EdgeDevice(
        owner_id=owner_id, site_id=uuid.UUID(site_id), name="Back office box", status=Status.OFFLINE.value,
        paired_at=utcnow(),
    )  # fmt: skip
    db.add(device)
    await db.flush()
    db.add_all(
        [
            DeviceCamera(device_id=device.id, key="front", name="Front", status=Status.OFFLINE.value),
            DeviceCamera(device_id=device.id, key="back", name="Back", status=Status.ONLINE.value),
        ]
    )
    await db.commit()


async def test_the_account_page_says_what_the_district_sees_and_never_sees(
    app: Litestar, db: AsyncSession, coordinator: Coordinator
) -> None:
    async with Client(app) as owner:
        joined = await joined_member(
            db, coordinator.district_id, owner, "Holton Hardware", email="roster-desk@hardware.example"
        )
        for column, value in ROSTER.items():
            setattr(joined.member, column, value)
        await db.commit()
        assert joined.site_id
        await add_camera(owner, joined.site_id, name="Loading dock", bearing_deg=180, range_m=40)
        await offline_device(db, joined.member.user_id, joined.site_id)
        await add_site(owner, name="Lake cottage", kind="home", contact_phone="(414) 555-0133")  # not in the district

        page = html.unescape((await owner.get("/account")).text)
        district = page[page.index('id="district-heading"') :]
        assert "Your district" in district and "Riverside BID" in district
        for value in ["Holton Hardware", "Rosa Roster", "roster-desk@hardware.example", "(414) 555-0177",
                      "2401 N Holton St, Milwaukee"]:  # fmt: skip
            assert value in district, value
        assert "Site registered: " in district and "Device paired: " in district
        assert "Share on alert allowed: not yet" in district
        assert "Holton Hardware, 2401 N Holton St" in district  # the site that is part of the district
        assert "Lake cottage" not in district
        assert "Loading dock (Holton Hardware): faces S (180°), sees about 40 m" in district
        assert "Offline now, as counts only: 1 device and 1 camera." in district
        assert "What it never sees" in district and "Footage requests from police" in district
        assert "The contact details you gave the police for your sites" in district
        assert "555-0133" not in page and "555-0100" not in district  # the sites' police contacts are not shown
        assert 'href="/account/districts/' in district and "Leave Riverside BID" in district

        api = (await owner.get("/api/v1/me/districts")).json()
        [mine] = api
        assert mine["district"] == "Riverside BID" and mine["status"] == "joined"
        assert mine["roster"] == {"business_name": "Holton Hardware", "email": "roster-desk@hardware.example",
                                  **ROSTER}  # fmt: skip
        assert [s["name"] for s in mine["sites"]] == ["Holton Hardware"]
        assert [(c["name"], c["facing"], c["bearing_deg"]) for c in mine["cameras"]] == [("Loading dock", "S", 180)]
        assert (mine["devices_offline"], mine["cameras_offline"]) == (1, 1)
        steps = {s["step"]: s["reached_at"] for s in mine["steps"]}
        assert steps["site"] and steps["cameras"] and steps["device"] and steps["share_on_alert"] is None

    # An owner who is in no district sees no district section.
    async with Client(app) as loner:
        await sign_up(loner, "loner@example.com")
        assert 'id="district-heading"' not in (await loner.get("/account")).text
        assert (await loner.get("/api/v1/me/districts")).json() == []


async def test_leaving_clears_the_link_the_sites_and_the_next_announcement(
    app: Litestar, db: AsyncSession, coordinator: Coordinator
) -> None:
    async with Client(app) as owner, Client(app) as neighbour:
        leaving = await joined_member(db, coordinator.district_id, owner, "Leaving Lamps")
        staying = await joined_member(db, coordinator.district_id, neighbour, "Staying Stationery")
        assert leaving.site_id
        await add_camera(owner, leaving.site_id)
        user_id = leaving.member.user_id

        confirm = await owner.get(f"/account/districts/{coordinator.district_id}/leave")
        assert confirm.status_code == 200
        text = html.unescape(confirm.text)
        assert "Leave Riverside BID?" in text and "<strong>Leaving Lamps</strong>" in text
        assert 'action="/account/districts/' in text

        left = await owner.submit(f"/account/districts/{coordinator.district_id}/leave", {})
        assert left.status_code == 200 and left.url.path == "/account"
        assert "You left the district" in left.text
        assert "Leave Riverside BID" not in left.text  # the account page no longer lists it

        member = await fresh(db, leaving.member)
        assert member.status == MemberStatus.LEFT.value and member.left_at is not None and member.user_id is None
        site_district = await db.scalar(
            select(Site.district_id)
            .where(Site.id == uuid.UUID(leaving.site_id))
            .execution_options(populate_existing=True)
        )
        assert site_district is None
        # The coordinator's funnel sees no step past the member's leaving: no site, cameras or device.
        row = (
            await db.execute(service.members_with_steps(coordinator.district_id).where(DistrictMember.id == member.id))
        ).one()
        assert (row.site, row.cameras, row.device, row.share_on_alert) == (None, None, None, None)
        seen = (await coordinator.client.get(f"/api/v1/district/members/{member.id}")).json()
        assert seen["status"] == "left"
        assert [s["step"] for s in seen["steps"] if s["reached_at"]] == ["invited", "account"]  # from before leaving

        sent = await send(coordinator, title="After you left")
        assert sent["recipients"] == 1
        tags = set(await db.scalars(select(Notification.tag).where(Notification.user_id == user_id)))
        assert f"announcement:{sent['id']}" not in tags
        assert (await owner.get(f"/announcements/{sent['id']}")).status_code == 404
        assert staying.member.user_id in set(
            await db.scalars(select(Notification.user_id).where(Notification.tag == f"announcement:{sent['id']}"))
        )

        # Leaving twice, or a district one is not in: 404, and nothing changes.
        assert (await owner.send_json("DELETE", f"/api/v1/me/districts/{coordinator.district_id}")).status_code == 404
        assert (await owner.submit(f"/account/districts/{coordinator.district_id}/leave", {})).status_code == 404
        assert (await owner.get(f"/account/districts/{coordinator.district_id}/leave")).status_code == 404
        assert (await owner.get("/api/v1/me/districts")).json() == []


async def test_a_pending_member_withdraws_and_nobody_else_can_remove_a_member(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    async with Client(app) as pending_owner, Client(app) as joined_owner, Client(app) as stranger:
        account = await sign_up(pending_owner, "pending@member.example")
        pending = await add_member(
            db, coordinator.district_id, "Pending Pies", email="pending@member.example",
            status=MemberStatus.PENDING.value, user_id=uuid.UUID(account["id"]),
        )  # fmt: skip
        page = (await pending_owner.get("/account")).text
        assert "its coordinator has not approved you yet" in page and "Withdraw from Riverside BID" in page
        joined = await joined_member(db, coordinator.district_id, joined_owner, "Joined Jewels")
        await sign_up(stranger, "stranger@example.com")

        # Not one's own membership: 404 everywhere, to owners and coordinators alike.
        for client in (stranger, other_coordinator.client, coordinator.client):
            response = await client.send_json("DELETE", f"/api/v1/me/districts/{coordinator.district_id}")
            assert response.status_code in (403, 404)
        # A member of Riverside cannot leave Harbor (they are not in it).
        harbor = f"/api/v1/me/districts/{other_coordinator.district_id}"
        assert (await joined_owner.send_json("DELETE", harbor)).status_code == 404
        assert (await fresh(db, joined.member)).status == MemberStatus.JOINED.value

        withdrawn = await pending_owner.send_json("DELETE", f"/api/v1/me/districts/{coordinator.district_id}")
        assert withdrawn.status_code == 204
        member = await fresh(db, pending)
        assert (member.status, member.user_id) == (MemberStatus.LEFT.value, None) and member.left_at is not None
        assert (await fresh(db, joined.member)).status == MemberStatus.JOINED.value


async def test_a_member_who_left_is_a_business_name_and_left_to_the_coordinator_and_reads_stop_counting(
    app: Litestar, db: AsyncSession, coordinator: Coordinator
) -> None:
    """The account page promises the district "sees that you left and nothing more": not the contact, address or
    position they gave, and not whether they open an old announcement."""
    async with Client(app) as owner, Client(app) as neighbour:
        leaving = await joined_member(
            db, coordinator.district_id, owner, "Leaving Lamps", email="lamps-desk@lamps.example"
        )
        for column, value in {**ROSTER, "latitude": 43.0589, "longitude": -87.905}.items():
            setattr(leaving.member, column, value)
        await db.commit()
        await joined_member(db, coordinator.district_id, neighbour, "Staying Stationery")
        before = await send(coordinator, title="Before you left")
        assert (await neighbour.get(f"/announcements/{before['id']}")).status_code == 200

        assert (await owner.send_json("DELETE", f"/api/v1/me/districts/{coordinator.district_id}")).status_code == 204
        member = await fresh(db, leaving.member)
        assert (member.business_name, member.contact_name, member.email, member.phone, member.address) == (
            "Leaving Lamps", "", "", "", "",
        )  # fmt: skip
        assert (member.latitude, member.longitude) == (None, None)
        seen = [
            (await coordinator.client.get(f"/api/v1/district/members/{member.id}")).text,
            (await coordinator.client.get("/api/v1/district/members")).text,
            (await coordinator.client.get("/district/members.csv")).text,
            (await coordinator.client.get(f"/district/members/{member.id}")).text,
        ]
        assert all("Leaving Lamps" in text for text in seen)
        for text in seen:
            for value in ["lamps-desk@lamps.example", "Rosa Roster", "555-0177", "2401 N Holton St", "43.0589"]:
                assert value not in html.unescape(text), value

        # They still have the old notification and may open it; the coordinator's count does not learn of it.
        assert (await owner.get(f"/announcements/{before['id']}")).status_code == 200
        counted = (await coordinator.client.get(f"/api/v1/district/announcements/{before['id']}")).json()
        assert (counted["recipients"], counted["read"]) == (2, 1)  # the neighbour, who is still a member
