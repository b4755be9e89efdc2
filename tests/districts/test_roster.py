"""The coordinator's roster: members in name order a page at a time, the onboarding funnel per member and as district
totals, filters, one member's page, adding, editing and removing members, the CSV export; scoped to the district."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid

from litestar import Litestar
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import utcnow
from backend.districts import service
from backend.districts.models import DistrictMember, MemberStatus
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member, joined_member
from tests.helpers import add_camera
from tests.sharing.conftest import online_device

POLICE_PHONE = "(414) 555-0199"  # what the member told the police on their site: never shown to the coordinator
POLICE_EMAIL = "back-office-for-police@example.net"
POLICE_HOURS = "Ring the bell after 22:00"
POLICE_NOTE = "Recorder key is under the till"
POLICE_ONLY = [POLICE_PHONE, POLICE_EMAIL, POLICE_HOURS, POLICE_NOTE]


async def many_members(db: AsyncSession, district_id: uuid.UUID, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(), "district_id": district_id, "business_name": f"Shop {n % 50:02d}",
            "match_key": f"shop{n}@example.org", "email": f"shop{n}@example.org", "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]  # fmt: skip
    await db.execute(insert(DistrictMember), rows)
    await db.commit()


async def test_the_roster_pages_through_every_member_once_in_name_order(
    coordinator: Coordinator, db: AsyncSession
) -> None:
    await many_members(db, coordinator.district_id, 250)  # 50 names, five members each: the id breaks the ties
    seen: list[tuple[str, str]] = []
    after = None
    pages = 0
    while True:
        params = {"after": after} if after else {}
        response = await coordinator.client.get("/api/v1/district/members", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["members"]) <= 100
        seen += [(m["business_name"], m["id"]) for m in body["members"]]
        after = body["next"]
        if after is None:
            break
    assert pages == 3
    assert len(seen) == 250 and len({member_id for _, member_id in seen}) == 250
    assert [name for name, _ in seen] == sorted(name for name, _ in seen)

    # The page shows 100 and links to the next page with its cursor.
    page = await coordinator.client.get("/district/members")
    assert page.text.count('data-testid="member-row"') == 100
    next_link = re.search(r'href="(/district/members\?[^"]*after=[^"]+)"', page.text)
    assert next_link is not None
    second = await coordinator.client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.text.count('data-testid="member-row"') == 100
    assert "First page" in second.text

    small = await coordinator.client.get("/api/v1/district/members", params={"limit": 7})
    assert len(small.json()["members"]) == 7
    too_many = await coordinator.client.get("/api/v1/district/members", params={"limit": 101})
    assert too_many.status_code == 400
    forged = await coordinator.client.get("/api/v1/district/members", params={"after": "not-a-cursor"})
    assert forged.status_code == 400 and forged.json()["errors"][0]["field"] == "after"


async def funnel_world(app: Litestar, db: AsyncSession, coordinator: Coordinator) -> dict[str, DistrictMember]:
    """A member at each step of the funnel, one who left and one in another district's roster."""
    district = coordinator.district_id
    long_ago = utcnow() - dt.timedelta(days=10)
    members = {
        "listed": await add_member(db, district, "Aardvark Antiques"),
        "invited": await add_member(db, district, "Bakery Bianca", email="bianca@example.org",
                                    invited_at=long_ago, invite_expires_at=long_ago + dt.timedelta(days=90)),
    }  # fmt: skip
    async with Client(app) as a, Client(app) as b, Client(app) as c, Client(app) as d, Client(app) as e:
        joined = await joined_member(db, district, a, "Cobbler Carl", with_site=False, joined_at=long_ago)
        site = await joined_member(db, district, b, "Deli Dora", contact_phone=POLICE_PHONE,
                                   contact_email=POLICE_EMAIL, contact_hours=POLICE_HOURS,
                                   investigator_note=POLICE_NOTE)  # fmt: skip
        cameras = await joined_member(db, district, c, "Emporium Eve")
        await add_camera(cameras.owner, cameras.site_id)
        device = await joined_member(db, district, d, "Florist Finn")
        await add_camera(device.owner, device.site_id)
        async with Client(app) as box:
            await online_device(device.owner, box, device.site_id, "front")
        sharing = await joined_member(db, district, e, "Grocer Gina")
        await add_camera(sharing.owner, sharing.site_id)
        async with Client(app) as box:
            paired = await online_device(sharing.owner, box, sharing.site_id, "front")
        on = await sharing.owner.send_json("PATCH", f"/api/v1/devices/{paired.id}", {"share_on_alert": True})
        assert on.status_code == 200, on.text
    members.update(joined=joined.member, site=site.member, cameras=cameras.member, device=device.member,
                   sharing=sharing.member)  # fmt: skip
    members["left"] = await add_member(
        db, district, "Haberdasher Hal", status=MemberStatus.LEFT.value, invited_at=long_ago,
        joined_at=long_ago, left_at=utcnow() - dt.timedelta(days=1),
    )  # fmt: skip
    return members


async def test_totals_count_each_step_across_all_members_and_each_row_shows_its_furthest_step(
    app: Litestar, coordinator: Coordinator, db: AsyncSession
) -> None:
    members = await funnel_world(app, db, coordinator)
    district = (await coordinator.client.get("/api/v1/district")).json()
    assert district["name"] == coordinator.district
    reached = {step["step"]: step["reached"] for step in district["steps"]}
    # Seven members on the roster (the one who left is counted apart); each step counts those who reached it.
    assert district["members"] == 7
    assert reached == {"invited": 6, "account": 5, "site": 4, "cameras": 3, "device": 2, "share_on_alert": 1}
    assert district["by_status"] == {"listed": 2, "pending": 0, "joined": 5, "left": 1}
    assert district["needs_nudge"] == 2  # invited 10 days ago with no account; joined 10 days ago with no site

    rows = {m["business_name"]: m for m in (await coordinator.client.get("/api/v1/district/members")).json()["members"]}
    assert rows["Aardvark Antiques"]["furthest_step"] is None
    assert rows["Bakery Bianca"]["furthest_step"] == "invited"
    assert rows["Bakery Bianca"]["needs_nudge"] == service.NUDGE_INVITE
    assert rows["Cobbler Carl"]["needs_nudge"] == service.NUDGE_SITE
    assert rows["Deli Dora"]["furthest_step"] == "site" and rows["Deli Dora"]["needs_nudge"] is None
    assert rows["Grocer Gina"]["furthest_step"] == "share_on_alert"
    assert all(step["reached_at"] for step in rows["Grocer Gina"]["steps"])
    assert rows["Haberdasher Hal"]["status"] == "left"

    home = await coordinator.client.get("/district")
    assert home.status_code == 200
    for link in ("/district/members", "/district/import", "/district/coverage", "/district/announcements"):
        assert f'href="{link}"' in home.text
    funnel = re.search(r'data-testid="funnel-device">.*?</li>', home.text, re.S)
    assert funnel is not None and "<strong>2</strong> of 7" in funnel.group(0)
    assert "style=" not in home.text  # the bars are classes (CSP forbids inline styles)

    page = await coordinator.client.get("/district/members")
    assert page.text.count("Needs a nudge</span>") == 2
    assert "Left on" in page.text
    # A member who left: nothing from their account, whatever it holds now.
    hal = await coordinator.client.get(f"/district/members/{members['left'].id}")
    assert "Left on" in hal.text and "The district sees nothing more from their account" in hal.text
    assert (await coordinator.client.get(f"/district/members/{members['sharing'].id}")).text.count("not yet") == 0


async def test_share_on_alert_turned_off_is_not_reached_and_turned_on_again_dates_from_then(
    app: Litestar, coordinator: Coordinator, db: AsyncSession
) -> None:
    """Share on alert is a permission the owner may take back: the step is "allowed now", dated since it was on."""
    async with Client(app) as phone, Client(app) as box:
        sharing = await joined_member(db, coordinator.district_id, phone, "Grocer Gina")
        await add_camera(sharing.owner, sharing.site_id)
        paired = await online_device(sharing.owner, box, sharing.site_id, "front")

        async def share_on_alert(on: bool) -> tuple[int, str | None]:
            changed = await phone.send_json("PATCH", f"/api/v1/devices/{paired.id}", {"share_on_alert": on})
            assert changed.status_code == 200, changed.text
            district = (await coordinator.client.get("/api/v1/district")).json()
            member = (await coordinator.client.get(f"/api/v1/district/members/{sharing.member.id}")).json()
            reached = {step["step"]: step["reached"] for step in district["steps"]}["share_on_alert"]
            return reached, {step["step"]: step["reached_at"] for step in member["steps"]}["share_on_alert"]

        reached, first_on = await share_on_alert(True)
        assert reached == 1 and first_on is not None
        assert await share_on_alert(False) == (0, None)
        page = await coordinator.client.get(f"/district/members/{sharing.member.id}")
        step = re.search(r'data-testid="step-share_on_alert">.*?</li>', page.text, re.S)
        assert step is not None and "not yet" in step.group(0)
        reached, again_on = await share_on_alert(True)
        page = await coordinator.client.get(f"/district/members/{sharing.member.id}")
        step = re.search(r'data-testid="step-share_on_alert">.*?</li>', page.text, re.S)
        assert step is not None and "since " in step.group(0)  # the date it has been on since
        assert reached == 1 and again_on is not None
        assert dt.datetime.fromisoformat(again_on) > dt.datetime.fromisoformat(first_on)


async def test_filters_by_status_step_not_reached_nudge_and_name(
    app: Litestar, coordinator: Coordinator, db: AsyncSession
) -> None:
    await funnel_world(app, db, coordinator)

    async def names(**params: str) -> list[str]:
        response = await coordinator.client.get("/api/v1/district/members", params=params)
        assert response.status_code == 200, response.text
        return [m["business_name"] for m in response.json()["members"]]

    assert await names(status="listed") == ["Aardvark Antiques", "Bakery Bianca"]
    assert await names(status="left") == ["Haberdasher Hal"]
    assert await names(missing="cameras") == [
        "Aardvark Antiques", "Bakery Bianca", "Cobbler Carl", "Deli Dora", "Haberdasher Hal"
    ]  # fmt: skip
    assert await names(missing="share_on_alert", status="joined") == [
        "Cobbler Carl", "Deli Dora", "Emporium Eve", "Florist Finn"
    ]  # fmt: skip
    assert await names(nudge="true") == ["Bakery Bianca", "Cobbler Carl"]
    assert await names(q="GROCER") == ["Grocer Gina"]
    assert await names(q="%") == []  # the search is text, not a pattern
    assert (await coordinator.client.get("/api/v1/district/members", params={"status": "gone"})).status_code == 400

    page = await coordinator.client.get("/district/members", params={"missing": "device", "q": "deli"})
    assert page.text.count('data-testid="member-row"') == 1 and "Deli Dora" in page.text
    assert (await coordinator.client.get("/district/members", params={"nudge": "1"})).text.count("member-row") == 2
    nothing = await coordinator.client.get("/district/members", params={"q": "zzz"})
    assert "No member matches" in nothing.text


async def test_adding_editing_and_removing_a_member(coordinator: Coordinator, db: AsyncSession) -> None:
    client = coordinator.client
    form = {"business_name": "Ivy Books", "contact_name": "Ivy", "email": " Ivy@Books.example ",
            "phone": "414-555-0101", "address": "12 Water St", "latitude": "43.05", "longitude": "-87.9"}  # fmt: skip
    added = await client.submit("/district/members/new", form)
    assert added.status_code == 200 and "Member added" in added.text
    member = await db.scalar(select(DistrictMember).where(DistrictMember.business_name == "Ivy Books"))
    assert member is not None and member.email == "ivy@books.example" and member.invited_at is None
    assert member.status == "listed" and member.latitude == 43.05

    # The same business again (its email, however written) is refused, naming the member already there.
    again = await client.submit(
        "/district/members/new", {**form, "business_name": "Ivy's", "email": "IVY@books.example"}
    )
    assert again.status_code == 400
    assert "Ivy Books is already on the roster with this email" in again.text
    assert 'value="Ivy&#39;s"' in again.text  # the values are kept
    # Without an email, the name and address (punctuation and case aside) say it is the same business.
    await client.submit("/district/members/new", {"business_name": "Joe's Diner", "address": "5 Main St."})
    same = await client.submit("/district/members/new", {"business_name": "JOE S  DINER", "address": "5 main st"})
    assert "Joe&#39;s Diner is already on the roster with this name and address" in same.text

    bad = await client.submit(
        "/district/members/new", {"business_name": " ", "email": "not-an-email", "latitude": "43.1", "longitude": ""}
    )
    assert bad.status_code == 400
    assert "Business name is required" in bad.text and "Email is not in the expected format" in bad.text
    half = await client.submit("/district/members/new", {"business_name": "Half", "latitude": "43.1"})
    assert "Longitude is required when a latitude is given" in half.text
    far = await client.submit("/district/members/new", {"business_name": "Far", "latitude": "95", "longitude": "0"})
    assert "Latitude must be at most 90" in far.text
    count = await db.scalar(select(func.count()).select_from(DistrictMember))
    assert count == 2  # nothing half-saved

    edit = await client.submit(f"/district/members/{member.id}/edit", {**form, "phone": "", "contact_name": "Ivy Ng"})
    assert "Saved." in edit.text and "Ivy Ng" in edit.text
    await db.refresh(member)
    assert member.phone == "" and member.contact_name == "Ivy Ng"
    clash = await client.submit(
        f"/district/members/{member.id}/edit", {"business_name": "Joe's Diner", "address": "5 Main St"}
    )
    assert clash.status_code == 400 and "already on the roster" in clash.text
    await db.refresh(member)
    assert member.business_name == "Ivy Books"

    api = await client.send_json(
        "PATCH", f"/api/v1/district/members/{member.id}", {"latitude": None, "longitude": None}
    )
    assert api.status_code == 200 and api.json()["latitude"] is None
    half_api = await client.send_json(
        "PATCH", f"/api/v1/district/members/{member.id}", {"latitude": 10.0, "longitude": None}
    )
    assert half_api.status_code == 400 and half_api.json()["errors"][0]["field"] == "longitude"
    created = await client.send_json("POST", "/api/v1/district/members", {"business_name": "Kite Shop", "email": "x"})
    assert created.status_code == 400 and created.json()["errors"][0]["field"] == "email"

    removed = await client.submit(f"/district/members/{member.id}/remove", {})
    assert removed.status_code == 200 and "Ivy Books was removed from the roster" in removed.text
    assert await db.get(DistrictMember, member.id, populate_existing=True) is None


async def test_a_joined_member_cannot_be_removed_by_the_coordinator(
    coordinator: Coordinator, db: AsyncSession, client: Client
) -> None:
    joined = await joined_member(db, coordinator.district_id, client, "Lantern Cafe")
    page = await coordinator.client.get(f"/district/members/{joined.member.id}")
    assert "leaves the district themselves" in page.text and "Yes, remove" not in page.text
    refused = await coordinator.client.submit(f"/district/members/{joined.member.id}/remove", {})
    assert refused.status_code == 409 and "You cannot remove them" in refused.text
    api = await coordinator.client.send_json("DELETE", f"/api/v1/district/members/{joined.member.id}")
    assert api.status_code == 409
    assert await db.get(DistrictMember, joined.member.id) is not None


async def test_another_districts_coordinator_reaches_none_of_its_members(
    app: Litestar, coordinator: Coordinator, other_coordinator: Coordinator, db: AsyncSession
) -> None:
    members = await funnel_world(app, db, coordinator)
    theirs = await add_member(db, other_coordinator.district_id, "Harbor Hardware")
    other = other_coordinator.client
    for member in members.values():
        for path in (f"/district/members/{member.id}", f"/district/members/{member.id}/edit",
                     f"/api/v1/district/members/{member.id}"):  # fmt: skip
            assert (await other.get(path)).status_code == 404, path
        assert (
            await other.submit(f"/district/members/{member.id}/edit", {"business_name": "Taken"})
        ).status_code == 404
        assert (await other.submit(f"/district/members/{member.id}/remove", {})).status_code == 404
        patched = await other.send_json("PATCH", f"/api/v1/district/members/{member.id}", {"business_name": "Taken"})
        assert patched.status_code == 404
        assert (await other.send_json("DELETE", f"/api/v1/district/members/{member.id}")).status_code == 404
    assert await db.scalar(select(func.count()).where(DistrictMember.business_name == "Taken")) == 0
    assert await db.scalar(select(func.count()).select_from(DistrictMember)) == len(members) + 1

    lists = [await other.get(path) for path in ("/district", "/district/members", "/district/members.csv",
                                                "/api/v1/district", "/api/v1/district/members")]  # fmt: skip
    for response in lists:
        assert response.status_code == 200
        assert not any(member.business_name in response.text for member in members.values())
    assert "Harbor Hardware" in lists[1].text and (await other.get(f"/district/members/{theirs.id}")).status_code == 200
    assert (await other.get("/api/v1/district")).json()["members"] == 1


async def test_the_coordinator_never_sees_what_a_member_told_the_police(
    app: Litestar, coordinator: Coordinator, db: AsyncSession
) -> None:
    members = await funnel_world(app, db, coordinator)
    deli = members["site"]
    pages = [
        await coordinator.client.get(path)
        for path in ("/district", "/district/members", "/district/members.csv", f"/district/members/{deli.id}",
                     f"/district/members/{deli.id}/edit", "/api/v1/district", "/api/v1/district/members",
                     f"/api/v1/district/members/{deli.id}")
    ]  # fmt: skip
    for response in pages:
        assert response.status_code == 200, response.url
        assert not [secret for secret in POLICE_ONLY if secret in response.text], response.url
        if response.url.path not in ("/district", "/api/v1/district"):  # the totals name nobody
            assert "Deli Dora" in response.text, response.url


async def test_the_roster_downloads_as_a_spreadsheet_safe_csv(
    app: Litestar, coordinator: Coordinator, db: AsyncSession
) -> None:
    members = await funnel_world(app, db, coordinator)
    formula = '=HYPERLINK("http://evil.example","Click")'
    await add_member(db, coordinator.district_id, formula, phone="+1 414 555 0100", latitude=43.05, longitude=-87.9,
                     contact_name="-1+2")  # fmt: skip
    await add_member(db, coordinator.district_id, "Sum Phone", phone="+1+SUM(A1)")
    response = await coordinator.client.get("/district/members.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.match(r'attachment; filename="riverside-bid-members-\d{4}-\d{2}-\d{2}\.csv"',
                    response.headers["content-disposition"])  # fmt: skip
    rows = list(csv.reader(io.StringIO(response.text)))
    header = rows[0]
    assert header[:8] == ["Business name", "Contact name", "Email", "Phone", "Street address", "Latitude",
                          "Longitude", "Status"]  # fmt: skip
    assert "Invited (America/Chicago)" in header and "Share on alert allowed (America/Chicago)" in header
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert len(by_name) == len(members) + 2
    quoted = by_name["'" + formula]
    assert quoted["Contact name"] == "'-1+2" and quoted["Longitude"] == "-87.9"  # numbers stay numbers
    # A phone number runs nothing: written as it is, as the import reads it (one rule, service.starts_like_formula).
    assert quoted["Phone"] == "+1 414 555 0100" and by_name["Sum Phone"]["Phone"] == "'+1+SUM(A1)"
    gina = by_name["Grocer Gina"]
    reached = dt.datetime.fromisoformat(gina["Share on alert allowed (America/Chicago)"])
    assert reached.utcoffset() in (dt.timedelta(hours=-5), dt.timedelta(hours=-6))
    assert by_name["Bakery Bianca"]["Needs a nudge"] == service.NUDGE_INVITE


async def test_a_coordinator_without_a_district_is_told_what_to_do(app: Litestar, db: AsyncSession) -> None:
    from tests.districts.conftest import sign_in_coordinator

    async with Client(app) as browser:
        alone = await sign_in_coordinator(db, browser, "solo@example.org", "Nowhere BID")
        await db.execute(update(DistrictMember).values(district_id=alone.district_id))  # nothing to move
        from backend.accounts.models import User

        await db.execute(update(User).where(User.id == alone.user_id).values(district_id=None))
        await db.commit()
        home = await browser.get("/district")
        assert home.status_code == 200 and service.NO_DISTRICT in home.text
        members = await browser.get("/district/members")
        assert members.status_code == 404 and service.NO_DISTRICT in members.text
        api = await browser.get("/api/v1/district")
        assert api.status_code == 404 and api.json()["detail"] == service.NO_DISTRICT


async def test_the_demo_district_has_an_outline_and_members_at_every_step(db: AsyncSession) -> None:
    from backend import demo
    from backend.accounts import service as accounts

    await demo.seed(db)
    coordinator = await accounts.get_user_by_email(db, "coordinator@demo.porchlight.test")
    assert coordinator is not None
    district = await service.coordinated_district(db, coordinator)
    ring = district.boundary["coordinates"][0]  # type: ignore[index]
    assert district.boundary["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5  # type: ignore[index]
    _, lat, lon, _ = demo.NEIGHBOURHOODS[0]
    assert min(p[0] for p in ring) < lon < max(p[0] for p in ring)  # [lon, lat] order
    assert min(p[1] for p in ring) < lat < max(p[1] for p in ring)
    totals = await service.totals(db, coordinator)
    assert all(step.reached > 0 for step in totals.steps) and totals.needs_nudge > 0
    assert all(count > 0 for count in totals.by_status.values())
    assert 30 <= totals.members <= 60
    await demo.seed(db)  # again: nothing more
    assert (await service.totals(db, coordinator)).members == totals.members
