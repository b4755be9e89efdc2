"""Invites, the coordinator's side: a member's personal invite sent by email (through the outbox, to a real SMTP
server), nudged at most once a day (and a district's daily cap), revoked, printed on a QR poster; the district-wide
link turned off, renewed, and the businesses that joined through it approved or declined. Another district's
coordinator gets a 404 for every one of these, and nothing changes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.db import utcnow
from backend.districts import invites, service
from backend.districts.models import District, DistrictMember, MemberSource, MemberStatus
from backend.notifications.mail import SmtpMailer
from push.worker import DeliveryWorker
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member
from tests.helpers import sign_up
from tests.smtp import Smtp, email_worker, running_smtp


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    with running_smtp(tmp_path) as server:
        yield server


async def fresh(db: AsyncSession, member_id: uuid.UUID) -> DistrictMember:
    db.expire_all()
    return await db.get_one(DistrictMember, member_id)


def token_of(link: str) -> str:
    return link.rsplit("/join/", 1)[1]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


async def test_an_invite_email_goes_through_the_outbox_to_a_real_smtp_server_with_its_link(
    db: AsyncSession, coordinator: Coordinator, worker: DeliveryWorker, smtp: Smtp
) -> None:
    member = await add_member(
        db, coordinator.district_id, "Corner Bakery", email="ana@bakery.example", contact_name="Ana Baker",
        address="2401 N Holton St",
    )  # fmt: skip
    page = await coordinator.client.submit(f"/district/members/{member.id}/invite", {}, follow_redirects=False)
    assert page.status_code in (302, 303), page.text
    assert page.headers["location"] == f"/district/members/{member.id}?invite=sent"

    sent = await fresh(db, member.id)
    assert sent.invited_at is not None and sent.last_emailed_at is not None and sent.emails_sent == 1
    expires = aware(sent.invite_expires_at)
    assert expires is not None and abs(expires - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)

    inbox, server, client_tls = smtp
    assert inbox.messages == []  # queued in the outbox by the request; sent by the worker, never inside it
    assert await email_worker(worker, SmtpMailer(server, "p@example.org", client_tls)).run_once() == 1
    [message] = inbox.messages
    assert message["To"] == "ana@bakery.example"
    assert message["Subject"] == "Riverside BID invites Corner Bakery to Porchlight"
    text = message.get_content()
    assert "Hello Ana Baker," in text
    link = re.search(r"https?://\S+/join/(\S+)", text)
    assert link is not None
    assert link.group(1) == invites.member_token("test-secret-key-not-for-production", sent)
    assert f"{expires.astimezone(dt.UTC):%Y}" in text and "for one account" in text
    assert "never your footage" in text

    # The link opens the invite's page.
    async with Client(coordinator.client.app) as phone:
        landing = await phone.get(f"/join/{link.group(1)}")
    assert landing.status_code == 200
    assert "Riverside BID invites Corner Bakery" in landing.text

    # The member page says where it stands and shows the link.
    shown = await coordinator.client.get(f"/district/members/{member.id}?invite=sent")
    assert "The invite is on its way to ana@bakery.example" in shown.text
    assert link.group(1) in shown.text


async def test_a_nudge_is_one_a_day_per_member_and_says_when_it_can_go_again(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    member = await add_member(db, coordinator.district_id, "Corner Bakery", email="ana@bakery.example")
    api = coordinator.client
    first = await api.send_json("POST", f"/api/v1/district/members/{member.id}/invite")
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "valid" and first.json()["emails_sent"] == 1
    assert first.json()["next_email_at"] is not None

    again = await api.send_json("POST", f"/api/v1/district/members/{member.id}/nudge")
    assert again.status_code == 429
    assert 23 * 3600 < int(again.headers["retry-after"]) <= 24 * 3600 + 1
    assert "you can send it again after" in again.json()["detail"]

    page = await api.submit(f"/district/members/{member.id}/nudge", {})
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert "you can send it again after" in page.text
    assert (await fresh(db, member.id)).emails_sent == 1  # nothing more was sent

    # A day later the nudge goes, and the link works for 90 days from then.
    yesterday = utcnow() - dt.timedelta(hours=25)
    await db.execute(update(DistrictMember).where(DistrictMember.id == member.id).values(last_emailed_at=yesterday,
                     invite_expires_at=yesterday + dt.timedelta(days=90)))  # fmt: skip
    await db.commit()
    nudged = await api.submit(f"/district/members/{member.id}/nudge", {}, follow_redirects=False)
    assert nudged.headers["location"] == f"/district/members/{member.id}?invite=nudged"
    after = await fresh(db, member.id)
    assert after.emails_sent == 2
    assert aware(after.invite_expires_at) > utcnow() + dt.timedelta(days=89, hours=23)


async def test_a_district_sends_at_most_its_daily_cap_of_invite_emails(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(), "district_id": coordinator.district_id, "business_name": f"Shop {n}",
            "email": f"shop{n}@example.org", "match_key": f"shop{n}@example.org", "status": "listed",
            "source": "import", "invite_version": 1, "emails_sent": 1, "invited_at": now,
            "invite_expires_at": now + dt.timedelta(days=90), "last_emailed_at": now - dt.timedelta(minutes=n),
            "created_at": now, "updated_at": now,
        }
        for n in range(invites.DISTRICT_DAILY_EMAILS)
    ]  # fmt: skip
    await db.execute(insert(DistrictMember), rows)
    await db.commit()
    member = await add_member(db, coordinator.district_id, "One Too Many", email="late@example.org")

    refused = await coordinator.client.send_json("POST", f"/api/v1/district/members/{member.id}/invite")
    assert refused.status_code == 429
    assert "200 invite emails in the last 24 hours" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0
    assert (await fresh(db, member.id)).invited_at is None


async def test_a_member_without_an_email_is_told_to_add_one_or_print_a_poster(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    member = await add_member(db, coordinator.district_id, "No Mail Deli", address="1 Main St")
    api = await coordinator.client.send_json("POST", f"/api/v1/district/members/{member.id}/invite")
    assert api.status_code == 400
    assert api.json()["errors"][0]["field"] == "email"
    page = await coordinator.client.submit(f"/district/members/{member.id}/invite", {})
    assert page.status_code == 400
    assert "has no email address on the roster" in page.text
    assert (await fresh(db, member.id)).invited_at is None

    shown = await coordinator.client.get(f"/district/members/{member.id}")
    assert 'data-testid="no-email"' in shown.text
    assert "Print a poster" in shown.text


async def test_a_revoked_invite_stops_every_copy_and_a_new_one_can_be_issued(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    member = await add_member(db, coordinator.district_id, "Corner Bakery", email="ana@bakery.example")
    first = await coordinator.client.send_json("POST", f"/api/v1/district/members/{member.id}/invite")
    old = token_of(first.json()["link"])

    revoked = await coordinator.client.submit(f"/district/members/{member.id}/revoke", {}, follow_redirects=False)
    assert revoked.headers["location"] == f"/district/members/{member.id}?invite=revoked"
    after = await fresh(db, member.id)
    assert after.invite_revoked_at is not None and after.invite_version == 2
    async with Client(coordinator.client.app) as phone:
        gone = await phone.get(f"/join/{old}")
        assert gone.status_code == 410
        assert "This invite was withdrawn" in gone.text and "Riverside BID" in gone.text

        # Revoking twice: nothing to revoke.
        twice = await coordinator.client.send_json("POST", f"/api/v1/district/members/{member.id}/revoke")
        assert twice.status_code == 409

        # A new one (printed this time: no email within the day): a new link; the old one stays dead.
        printed = await coordinator.client.submit(f"/district/members/{member.id}/poster", {})
        assert printed.status_code == 200 and printed.url.path == f"/district/members/{member.id}/poster"
        renewed = await fresh(db, member.id)
        assert renewed.invite_revoked_at is None
        new = invites.member_token("test-secret-key-not-for-production", renewed)
        assert new != old and new in printed.text
        assert (await phone.get(f"/join/{new}")).status_code == 200
        assert (await phone.get(f"/join/{old}")).status_code == 410


async def test_the_poster_is_a_print_ready_page_with_an_inline_qr_code_and_a_downloadable_svg(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    member = await add_member(db, coordinator.district_id, "Corner Bakery", address="2401 N Holton St")
    browser = coordinator.client
    before = await browser.get(f"/district/members/{member.id}/poster")
    assert before.status_code == 200
    assert 'data-testid="poster-not-ready"' in before.text and "Press “Print a poster” first" in before.text
    assert "<svg" not in before.text
    assert (await fresh(db, member.id)).invited_at is None  # reading it changed nothing
    assert (await browser.get(f"/district/members/{member.id}/poster.svg")).status_code == 409

    poster = await browser.submit(f"/district/members/{member.id}/poster", {})
    assert poster.status_code == 200
    marked = await fresh(db, member.id)
    assert marked.invited_at is not None and marked.invite_expires_at is not None and marked.emails_sent == 0
    link = invites.invite_link(coordinator.client.app.state.settings, marked)
    assert link in poster.text
    assert 'class="poster-page"' in poster.text and "Corner Bakery" in poster.text and "Riverside BID" in poster.text
    svg = re.search(r'<div class="poster-qr"[^>]*>(.*?)</div>', poster.text, re.S)
    assert svg is not None and svg.group(1).startswith("<svg") and "<title>" in svg.group(1)
    assert "style=" not in poster.text and "<script>" not in poster.text  # strict CSP: nothing inline

    download = await browser.get(f"/district/members/{member.id}/poster.svg")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("image/svg+xml")
    assert download.headers["content-disposition"] == 'attachment; filename="invite-corner-bakery.svg"'
    assert download.content.lstrip().startswith(b"<?xml") and b"<svg" in download.content

    # Printing counts as invited: the funnel's first step.
    row = await service.roster_row(db, await _user(db, coordinator), member.id)
    assert row.steps[service.Step.INVITED] is not None


async def _user(db: AsyncSession, coordinator: Coordinator) -> User:
    return await db.get_one(User, coordinator.user_id)


async def test_a_member_who_left_or_joined_cannot_be_invited_through_their_row(
    db: AsyncSession, coordinator: Coordinator
) -> None:
    left = await add_member(
        db, coordinator.district_id, "Gone Grocer", email="gone@example.org", status=MemberStatus.LEFT.value,
        left_at=utcnow() - dt.timedelta(days=3),
    )  # fmt: skip
    refused = await coordinator.client.send_json("POST", f"/api/v1/district/members/{left.id}/invite")
    assert refused.status_code == 409
    assert "left the district on" in refused.json()["detail"]
    page = await coordinator.client.submit(f"/district/members/{left.id}/poster", {})
    assert page.status_code == 409 and "cannot be invited again through this roster row" in page.text
    assert (await fresh(db, left.id)).invited_at is None


async def test_another_districts_coordinator_gets_404_for_every_invite_action_and_nothing_changes(
    db: AsyncSession, coordinator: Coordinator, other_coordinator: Coordinator, client: Client
) -> None:
    member = await add_member(db, coordinator.district_id, "Corner Bakery", email="ana@bakery.example")
    await sign_up(client, "pending@example.org")
    pending = await add_member(
        db, coordinator.district_id, "Waiting Cafe", email="wait@example.org", status=MemberStatus.PENDING.value,
        source=MemberSource.DISTRICT_LINK.value, user_id=uuid.UUID((await client.get("/api/v1/me")).json()["id"]),
    )  # fmt: skip
    other = other_coordinator.client
    for path in ("invite", "nudge", "revoke", "poster"):
        assert (await other.submit(f"/district/members/{member.id}/{path}", {})).status_code == 404, path
    for path in ("invite", "nudge", "revoke"):
        answer = await other.send_json("POST", f"/api/v1/district/members/{member.id}/{path}")
        assert answer.status_code == 404, path
        assert "Corner Bakery" not in answer.text
    for path in ("poster", "poster.svg"):
        answer = await other.get(f"/district/members/{member.id}/{path}")
        assert answer.status_code == 404 and "Corner Bakery" not in answer.text, path
    for action in ("approve", "decline"):
        assert (await other.submit(f"/district/pending/{pending.id}/{action}", {})).status_code == 404
        assert (await other.send_json("POST", f"/api/v1/district/pending/{pending.id}/{action}")).status_code == 404
    # Their own district's link page lists nobody of Riverside's.
    own = await other.get("/district/join-link")
    assert own.status_code == 200 and "Waiting Cafe" not in own.text
    assert (await other.get("/api/v1/district/join-link")).json()["pending"] == []

    pending_id = pending.id
    untouched = await fresh(db, member.id)
    assert (untouched.invited_at, untouched.emails_sent, untouched.invite_version) == (None, 0, 1)
    assert (await fresh(db, pending_id)).status == MemberStatus.PENDING.value


async def test_the_district_link_makes_pending_members_whom_the_coordinator_approves_or_declines(
    db: AsyncSession, coordinator: Coordinator, client: Client, other_client: Client
) -> None:
    state = await coordinator.client.get("/api/v1/district/join-link")
    assert state.status_code == 200
    link = state.json()["link"]
    assert state.json()["enabled"] is True and state.json()["pending"] == []
    token = token_of(link)
    assert token.startswith("d.")

    await sign_up(client, "first@shop.example", name="Fran First")
    joined = await client.send_json(
        "POST", f"/api/v1/join/{token}", {"business_name": "First Shop", "address": "10 Water St"}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "pending"
    await sign_up(other_client, "second@shop.example", name="Sam Second")
    missing = await other_client.send_json("POST", f"/api/v1/join/{token}", {"business_name": " "})
    assert missing.status_code == 400
    assert {e["field"] for e in missing.json()["errors"]} == {"business_name", "address"}
    second = await other_client.send_json(
        "POST", f"/api/v1/join/{token}",
        {"business_name": "Second Shop", "address": "12 Water St", "contact_name": "Sam", "phone": "414 555 0199"},
    )  # fmt: skip
    assert second.status_code == 200, second.text

    page = await coordinator.client.get("/district/join-link")
    assert page.status_code == 200
    assert link in page.text and "First Shop" in page.text and "Second Shop" in page.text
    # Contact left blank: blank on the roster (never the account's name or sign-in email); given: what they gave.
    assert "Fran First" not in page.text and "first@shop.example" not in page.text
    assert "414 555 0199" in page.text
    pending = {p["business_name"]: p["id"] for p in (await coordinator.client.get("/api/v1/district/join-link")).json()[
        "pending"]}  # fmt: skip

    approved = await coordinator.client.submit(f"/district/pending/{pending['First Shop']}/approve", {})
    assert approved.status_code == 200 and "Approved" in approved.text
    first = await fresh(db, uuid.UUID(pending["First Shop"]))
    assert (first.status, first.source) == (MemberStatus.JOINED.value, MemberSource.DISTRICT_LINK.value)
    assert first.joined_at is not None
    declined = await coordinator.client.send_json("POST", f"/api/v1/district/pending/{pending['Second Shop']}/decline")
    assert declined.status_code == 204
    db.expire_all()
    assert await db.get(DistrictMember, uuid.UUID(pending["Second Shop"])) is None
    again = await coordinator.client.send_json("POST", f"/api/v1/district/pending/{pending['First Shop']}/approve")
    assert again.status_code == 409  # not waiting any more


async def test_the_district_link_can_be_turned_off_and_renewed_and_old_copies_stop_working(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    old = token_of((await coordinator.client.get("/api/v1/district/join-link")).json()["link"])
    off = await coordinator.client.submit("/district/join-link/off", {})
    assert off.status_code == 200 and 'data-testid="link-off"' in off.text
    async with Client(coordinator.client.app) as phone:
        closed = await phone.get(f"/join/{old}")
        assert closed.status_code == 410 and "This district link is turned off" in closed.text
        await sign_up(client, "late@shop.example")
        refused = await client.send_json("POST", f"/api/v1/join/{old}", {"business_name": "Late", "address": "1 St"})
        assert refused.status_code == 410
        assert (await coordinator.client.get("/district/join-link/poster.svg")).status_code == 409

        renewed = await coordinator.client.send_json("POST", "/api/v1/district/join-link", {"action": "renew"})
        assert renewed.status_code == 200
        assert renewed.json()["enabled"] is True and renewed.json()["version"] == 2
        new = token_of(renewed.json()["link"])
        assert new != old
        replaced = await phone.get(f"/join/{old}")
        assert replaced.status_code == 410 and "This district link was replaced" in replaced.text
        assert (await phone.get(f"/join/{new}")).status_code == 200
    poster = await coordinator.client.get("/district/join-link/poster")
    assert renewed.json()["link"] in poster.text and "<svg" in poster.text
    bad = await coordinator.client.send_json("POST", "/api/v1/district/join-link", {"action": "explode"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "action"
    pending = await db.scalar(select(DistrictMember).where(DistrictMember.district_id == coordinator.district_id))
    assert pending is None  # nobody joined through a link that was off


async def test_a_business_already_on_the_roster_joining_through_the_district_link_waits_beside_its_row(
    db: AsyncSession, coordinator: Coordinator, client: Client
) -> None:
    """Its roster row is not taken over (anyone could type that email): the coordinator sees both and decides."""
    listed = await add_member(db, coordinator.district_id, "Corner Bakery", email="ana@bakery.example")
    listed_id = listed.id
    token = token_of((await coordinator.client.get("/api/v1/district/join-link")).json()["link"])
    await sign_up(client, "ana@bakery.example", name="Ana")
    joined = await client.send_json(
        "POST", f"/api/v1/join/{token}", {"business_name": "Corner Bakery", "address": "2401 N Holton St"}
    )
    assert joined.status_code == 200, joined.text
    rows = (await db.scalars(select(DistrictMember).where(DistrictMember.district_id == coordinator.district_id))).all()
    assert sorted(row.status for row in rows) == ["listed", "pending"]
    untouched = await fresh(db, listed_id)
    assert (untouched.status, untouched.user_id) == (MemberStatus.LISTED.value, None)
    twice = await client.send_json("POST", f"/api/v1/join/{token}", {"business_name": "Again", "address": "1 St"})
    assert twice.status_code == 409 and "already asked to join Riverside BID" in twice.json()["detail"]


def test_an_invite_token_is_the_same_as_it_was_printed_so_posters_already_on_doors_keep_working() -> None:
    """Tokens are derived, not stored: a change in how they are signed would kill every printed poster."""
    member = DistrictMember(id=uuid.UUID("12345678-1234-5678-1234-567812345678"), invite_version=2)
    district = District(id=uuid.UUID("87654321-4321-8765-4321-876543218765"), join_link_version=3)
    assert invites.member_token("printed-secret", member) == "EjRWeBI0VngSNFZ4EjRWeA.mD5ekP_PfreGJM68DcHq2w"
    assert invites.district_token("printed-secret", district) == "d.h2VDIUMhh2VDIYdlQyGHZQ.7G9XjmBn8O1uieg8r0osgQ"
