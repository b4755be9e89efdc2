"""Announcements: a coordinator writes to the district's joined members (all, or those who have not reached a step);
only joined members with an account receive them, in-app and by push (not on a device that muted the kind); the
coordinator sees delivered and read; the limits refuse with nothing saved; another district sees none of it."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from dataclasses import dataclass

from litestar import Litestar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import User
from backend.db import utcnow
from backend.devices.models import EdgeDevice, Status
from backend.districts.announcements import PAGE_SIZE, tag_of
from backend.districts.models import DistrictAnnouncement, DistrictMember, MemberStatus
from backend.notifications import service as notifications
from backend.notifications.models import Kind, Notification
from push.fake_service import FakePushService
from push.worker import DeliveryWorker
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member, joined_member
from tests.helpers import add_camera, sign_up, subscribed_browser

API = "/api/v1/district/announcements"
PAGE = "/district/announcements"
NOTICE = {
    "title": "Street fair on Saturday",
    "body": "Bring your camera questions to our booth.\nWe help you register.",
}


@dataclass
class Roster:
    """A district's members at every stage, by what they are: their owner accounts' ids (None: no account)."""

    users: dict[str, uuid.UUID | None]
    members: dict[str, DistrictMember]


async def user_of(db: AsyncSession, email: str) -> User:
    user = await accounts.get_user_by_email(db, email)
    assert user is not None
    return user


async def paired_device(db: AsyncSession, owner_id: uuid.UUID, site_id: str, status: Status = Status.ONLINE) -> None:
    """A device the owner paired at the site (saved directly: pairing is tested with the devices)."""
    db.add(
        EdgeDevice(
            owner_id=owner_id, site_id=uuid.UUID(site_id), name="Core box", status=status.value, paired_at=utcnow()
        )
    )
    await db.commit()


async def roster(app: Litestar, db: AsyncSession, coordinator: Coordinator, other_district_id: uuid.UUID) -> Roster:
    """Joined members: with a device, with cameras but no device, with a site only, without a site; a listed, a
    pending and a left member; a joined member of another district."""
    users: dict[str, uuid.UUID | None] = {}
    members: dict[str, DistrictMember] = {}
    district = coordinator.district_id
    async with Client(app) as a, Client(app) as b, Client(app) as c, Client(app) as d, Client(app) as e:
        with_device = await joined_member(db, district, a, "Device Deli", email="device@member.example")
        await add_camera(a, with_device.site_id)
        await paired_device(db, with_device.member.user_id, with_device.site_id)
        with_cameras = await joined_member(db, district, b, "Camera Cafe", email="cameras@member.example")
        await add_camera(b, with_cameras.site_id)
        site_only = await joined_member(db, district, c, "Site Salon", email="site@member.example")
        no_site = await joined_member(
            db, district, d, "Nosite Newsstand", email="nosite@member.example", with_site=False
        )
        elsewhere = await joined_member(db, other_district_id, e, "Harbor Hardware", email="harbor@member.example")
    for name, joined in [("device", with_device), ("cameras", with_cameras), ("site", site_only), ("no_site", no_site),
                         ("elsewhere", elsewhere)]:  # fmt: skip
        users[name], members[name] = joined.member.user_id, joined.member
    members["listed"] = await add_member(db, district, "Listed Laundry", email="listed@member.example")
    users["listed"] = None
    async with Client(app) as pending_owner, Client(app) as left_owner:
        pending = uuid.UUID((await sign_up(pending_owner, "pending@member.example"))["id"])
        left = uuid.UUID((await sign_up(left_owner, "left@member.example"))["id"])
    members["pending"] = await add_member(
        db, district, "Pending Pizza", email="pending@member.example", status=MemberStatus.PENDING.value,
        user_id=pending, joined_at=utcnow(),
    )  # fmt: skip
    members["left"] = await add_member(
        db, district, "Left Lamps", email="left@member.example", status=MemberStatus.LEFT.value, left_at=utcnow()
    )
    users["pending"], users["left"] = pending, left  # accounts that must hear nothing
    return Roster(users, members)


async def received(db: AsyncSession, announcement_id: str) -> set[uuid.UUID]:
    """Whose in-app notifications carry the announcement."""
    rows = await db.scalars(select(Notification.user_id).where(Notification.tag == tag_of(uuid.UUID(announcement_id))))
    return set(rows)


async def count(db: AsyncSession, model: type, *where: object) -> int:
    return await db.scalar(select(func.count()).select_from(model).where(*where))  # type: ignore[arg-type]


async def age_announcements(db: AsyncSession, district_id: uuid.UUID, hours: float = 25) -> None:
    """Move the district's announcements back in time (out of the 24-hour limit's window)."""
    sent = await db.execute(
        select(DistrictAnnouncement.id, DistrictAnnouncement.created_at).where(
            DistrictAnnouncement.district_id == district_id
        )
    )
    for announcement_id, created_at in sent.all():
        await db.execute(
            update(DistrictAnnouncement)
            .where(DistrictAnnouncement.id == announcement_id)
            .values(created_at=created_at - dt.timedelta(hours=hours))
        )
    await db.commit()


async def send(coordinator: Coordinator, audience: str = "all", **fields: str) -> dict:
    response = await coordinator.client.send_json("POST", API, {**NOTICE, "audience": audience, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_each_audience_reaches_its_joined_members_only(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    district = await roster(app, db, coordinator, other_coordinator.district_id)
    users = district.users

    audiences = (await coordinator.client.get(f"{API}/audiences")).json()
    assert {a["audience"]: a["members"] for a in audiences} == {"all": 4, "no_site": 1, "no_cameras": 2, "no_device": 3}
    # Before sending, the page says how many each audience reaches.
    page = html.unescape((await coordinator.client.get(PAGE)).text)
    assert "All joined members (4 members)" in page
    assert "Joined members who have not registered a site yet (1 member)" in page
    assert "Joined members who have not paired a device yet (3 members)" in page

    expected = {
        "all": {"device", "cameras", "site", "no_site"},
        "no_site": {"no_site"},
        "no_cameras": {"site", "no_site"},
        "no_device": {"cameras", "site", "no_site"},
    }
    for audience, names in expected.items():
        sent = await send(coordinator, audience, title=f"To {audience}")
        assert sent["recipients"] == len(names)
        assert await received(db, sent["id"]) == {users[name] for name in names}, audience
        await age_announcements(db, coordinator.district_id)  # the limit is tested on its own
    # Listed (no account), pending, left members and another district's member received nothing from the district.
    for name in ("pending", "left", "elsewhere"):
        assert await count(db, Notification, Notification.user_id == users[name]) == 0, name


async def test_the_push_arrives_decrypted_and_not_on_a_device_that_muted_announcements(
    app: Litestar,
    db: AsyncSession,
    coordinator: Coordinator,
    push_service: FakePushService,
    worker: DeliveryWorker,
) -> None:
    async with Client(app) as first, Client(app) as second, Client(app) as third:
        await joined_member(db, coordinator.district_id, first, "Open Ears", email="ears@member.example")
        muting = await joined_member(db, coordinator.district_id, second, "Quiet Books", email="quiet@member.example")
        await joined_member(db, coordinator.district_id, third, "No Phone", email="nophone@member.example")
        ears = await subscribed_browser(db, push_service, await user_of(db, "ears@member.example"))
        quiet = await subscribed_browser(db, push_service, await user_of(db, "quiet@member.example"))
        [device] = await notifications.list_subscriptions(db, muting.member.user_id, None)
        await notifications.update_subscription(
            db, muting.member.user_id, device.id, muted_kinds=[Kind.DISTRICT_ANNOUNCEMENT]
        )

        sent = await send(coordinator)
        assert sent["recipients"] == 3
        assert await worker.run_once() == 1  # one device wants it

        [message] = push_service.messages(ears)
        notification = message.json()["notification"]
        assert notification["title"] == "Riverside BID: Street fair on Saturday"
        assert notification["body"].startswith("Bring your camera questions to our booth.")
        assert notification["navigate"] == f"/announcements/{sent['id']}"
        assert push_service.messages(quiet) == []
        # Everyone who was sent it has it in the app, muted or without a device.
        assert len(await received(db, sent["id"])) == 3

        # Delivered: one member's device accepted it; read: nobody opened it yet.
        listed = (await coordinator.client.get(API)).json()["items"]
        assert [(a["recipients"], a["delivered"], a["read"]) for a in listed] == [(3, 1, 0)]
        # The muted member reads it in the app; the one who got the push opens it too.
        assert (await second.get(f"/announcements/{sent['id']}")).status_code == 200
        assert (await first.get(f"/announcements/{sent['id']}")).status_code == 200
        assert (await second.get(f"/announcements/{sent['id']}")).status_code == 200  # again: read once

    one = (await coordinator.client.get(f"{API}/{sent['id']}")).json()
    assert (one["recipients"], one["delivered"], one["read"]) == (3, 1, 2)
    page = (await coordinator.client.get(PAGE)).text
    assert re.search(r'data-testid="delivered">1<', page) and re.search(r'data-testid="read">2<', page)
    assert "at least one of their phones or computers accepted" in page  # what delivered means, in plain words
    detail = (await coordinator.client.get(f"{PAGE}/{sent['id']}")).text
    assert "Bring your camera questions" in detail and 'data-testid="read">2' in detail


async def test_limits_refuse_with_the_message_beside_the_field_and_save_nothing(
    app: Litestar, db: AsyncSession, coordinator: Coordinator
) -> None:
    async with Client(app) as owner:
        await joined_member(db, coordinator.district_id, owner, "Busy Bee", email="bee@member.example")
    client = coordinator.client

    too_long = await client.send_json("POST", API, {"title": "t" * 81, "body": "b" * 1001, "audience": "all"})
    assert too_long.status_code == 400
    assert {e["field"]: e["message"] for e in too_long.json()["errors"]} == {
        "title": "Title must be at most 80 characters",
        "body": "Message must be at most 1000 characters",
    }
    page = await client.submit(PAGE, {"title": "t" * 81, "body": "kept text", "audience": "all"})
    assert page.status_code == 400
    assert 'id="f-title-error">Title must be at most 80 characters<' in page.text
    assert 'value="' + "t" * 81 + '"' in page.text and ">kept text</textarea>" in page.text  # values kept

    # A 1,000-character message whose line breaks a browser sent as CR LF still fits.
    lines = "\r\n".join(["x" * 99] * 10)  # 990 characters and 9 line breaks as the textarea counts them
    assert (await client.submit(PAGE, {"title": "Lines", "body": lines, "audience": "all"})).status_code == 200
    await age_announcements(db, coordinator.district_id)

    # Nobody in the audience: refused, beside the audience.
    nobody = await client.send_json("POST", API, {**NOTICE, "audience": "no_site"})
    assert nobody.status_code == 400
    assert nobody.json()["errors"][0]["field"] == "audience" and "nobody" in nobody.json()["errors"][0]["message"]
    page = await client.submit(PAGE, {**NOTICE, "audience": "no_site"})
    assert page.status_code == 400 and 'id="f-audience-error">Send to: nobody is in this audience' in page.text
    assert (
        await count(db, DistrictAnnouncement, DistrictAnnouncement.created_at > utcnow() - dt.timedelta(hours=1)) == 0
    )

    # Three in 24 hours; the fourth is refused, saying when the next may go.
    for n in range(3):
        await send(coordinator, title=f"Notice {n}")
    notified = await count(db, Notification)
    fourth = await client.send_json("POST", API, {**NOTICE, "audience": "all"})
    assert fourth.status_code == 429 and int(fourth.headers["retry-after"]) > 23 * 3600
    assert "at most 3 announcements in 24 hours" in fourth.json()["detail"]
    page = await client.submit(PAGE, {"title": "Fourth", "body": "Once more", "audience": "all"})
    assert page.status_code == 429
    assert re.search(r'id="f-send-error">A district sends at most 3 announcements in 24 hours\. The next can be sent '
                     r"after \w{3} \d", page.text)  # fmt: skip
    assert 'href="#f-send"' in page.text and 'value="Fourth"' in page.text
    assert await count(db, DistrictAnnouncement) == 4  # the one with line breaks, then three
    assert await count(db, Notification) == notified
    assert "The next can be sent after" in (await client.get(PAGE)).text

    # A day after the first of the three, one more may go.
    await db.execute(
        update(DistrictAnnouncement)
        .where(DistrictAnnouncement.title == "Notice 0")
        .values(created_at=utcnow() - dt.timedelta(hours=24, minutes=1))
    )
    await db.commit()
    assert (await client.send_json("POST", API, {**NOTICE, "audience": "all"})).status_code == 201


async def test_another_districts_coordinator_sees_none_of_its_announcements(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    async with Client(app) as owner:
        await joined_member(db, coordinator.district_id, owner, "Riverside Rugs")
    sent = await send(coordinator, title="Riverside only")
    other = other_coordinator.client
    assert (await other.get(API)).json()["items"] == []
    assert (await other.get(f"{API}/{sent['id']}")).status_code == 404
    assert (await other.get(f"{API}?before={sent['id']}")).status_code == 404
    assert (await other.get(f"{PAGE}/{sent['id']}")).status_code == 404
    assert "Riverside only" not in (await other.get(PAGE)).text
    assert {a["members"] for a in (await other.get(f"{API}/audiences")).json()} == {0}
    # Harbor BID has no joined member: its send is refused, and Riverside's members hear nothing from it.
    refused = await other.send_json("POST", API, {**NOTICE, "audience": "all"})
    assert refused.status_code == 400
    assert await count(db, DistrictAnnouncement) == 1


async def test_only_a_recipient_opens_the_members_page_of_an_announcement(
    app: Litestar, db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator
) -> None:
    async with Client(app) as member, Client(app) as latecomer, Client(app) as stranger:
        joined = await joined_member(db, coordinator.district_id, member, "Reader Books")
        body = "Line one of the whole text.\n" + "More words. " * 60
        sent = await send(coordinator, title="Full text inside", body=body)
        await joined_member(db, coordinator.district_id, latecomer, "Late Lamps")  # joined after it was sent
        await sign_up(stranger, "stranger@example.com")

        page = await member.get(f"/announcements/{sent['id']}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "Full text inside" in text and "From Riverside BID" in text and body.strip() in text
        read_at = await db.scalar(
            select(Notification.read_at)
            .where(Notification.user_id == joined.member.user_id)
            .execution_options(populate_existing=True)
        )
        assert read_at is not None
        for outsider in (latecomer, stranger):
            assert (await outsider.get(f"/announcements/{sent['id']}")).status_code == 404
        assert (await member.get(f"/announcements/{uuid.uuid4()}")).status_code == 404
        assert (await coordinator.client.get(f"/announcements/{sent['id']}")).status_code == 403  # not an owner
    # The notification leads there.
    navigate = await db.scalar(select(Notification.navigate).where(Notification.user_id == joined.member.user_id))
    assert navigate == f"/announcements/{sent['id']}"


async def test_the_list_pages_through_many_announcements_newest_first(
    app: Litestar, db: AsyncSession, coordinator: Coordinator
) -> None:
    start = utcnow() - dt.timedelta(days=60)
    for n in range(PAGE_SIZE + 5):
        db.add(
            DistrictAnnouncement(
                district_id=coordinator.district_id, title=f"Old notice {n:02}", body="Text", audience="all",
                recipients=1, created_at=start + dt.timedelta(days=n // 2),  # two a day: equal times are ordered too
            )
        )  # fmt: skip
    await db.commit()
    first = (await coordinator.client.get(API)).json()
    assert len(first["items"]) == PAGE_SIZE and first["next_before"]
    second = (await coordinator.client.get(API, params={"before": first["next_before"]})).json()
    assert len(second["items"]) == 5 and second["next_before"] is None
    titles = [a["title"] for a in first["items"] + second["items"]]
    assert len(set(titles)) == PAGE_SIZE + 5
    times = [a["created_at"] for a in first["items"] + second["items"]]
    assert times == sorted(times, reverse=True)
    page = (await coordinator.client.get(PAGE)).text
    assert f'href="/district/announcements?before={first["next_before"]}"' in page
    older = (await coordinator.client.get(PAGE, params={"before": first["next_before"]})).text
    assert older.count('data-testid="announcement"') == 5 and "Newest announcements" in older
