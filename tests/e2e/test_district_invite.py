"""The invite journey in Chromium: a district's coordinator sends a member business its invite from the member's page;
the email goes out through a real SMTP server; the owner opens the link on a phone, signs up with the form filled in
from the roster, finds the site form filled in and ticked "Part of" the district, adds the first camera; and the
coordinator sees the funnel move (account, site and cameras dated).

This test runs its own Porchlight (the `mailing_server` fixture, with PORCHLIGHT_SMTP_URL) on its own database, as
the password reset's does: the e2e server of the other tests saves mail to its development mailbox."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.districts import service
from backend.districts.models import DistrictMember
from tests.e2e.conftest import PHONE, TIMEOUT_MS, MailingServer
from tests.e2e.helpers import DESK, PASSWORD, add_camera, new_owner, off_the_loop, watch_for_problems
from tests.e2e.seed import run
from tests.e2e.test_accessibility import violations
from tests.smtp import Inbox

pytestmark = pytest.mark.e2e

PHONE_390: dict[str, Any] = {**PHONE, "viewport": {"width": 390, "height": 844}}
DISTRICT = "Riverside BID"


def seed(database_url: str, coordinator_email: str, member_email: str) -> uuid.UUID:
    """A district's coordinator and a member business on its roster (as an import would have put it)."""

    async def work(db: AsyncSession) -> uuid.UUID:
        coordinator = await accounts.create_user(
            db, email=coordinator_email, password=PASSWORD, display_name="Casey Coordinator",
            roles=[Role.COORDINATOR], district_name=DISTRICT,
        )  # fmt: skip
        member = DistrictMember(
            district_id=coordinator.district_id, business_name="Corner Bakery", contact_name="Dana Rivera",
            email=member_email, address="2200 N Farwell Ave, Milwaukee, WI 53202", latitude=43.0587,
            longitude=-87.8841, source="import", match_key=service.match_key("Corner Bakery", member_email),
        )  # fmt: skip
        db.add(member)
        await db.commit()
        return member.id

    return run(database_url, work)


def invite_link(inbox: Inbox, email: str, timeout_s: float = 20.0) -> str:
    """The path of the invite link in the mail to `email`, once the server's delivery worker has sent it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in inbox.messages:
            if message["To"] == email:
                assert message["Subject"] == f"{DISTRICT} invites Corner Bakery to Porchlight"
                link = re.search(r"https?://\S+(/join/\S+)", message.get_content())
                assert link, message.get_content()
                return link.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no invite email to {email} within {timeout_s} s: {[m['Subject'] for m in inbox.messages]}")


def looks_right(page: Page) -> None:
    """No sideways scroll on the phone, and axe (WCAG 2.1 AA) finds nothing."""
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), page.url
    assert violations(page) == [], page.url


def test_an_invite_emailed_by_the_coordinator_leads_a_phone_to_its_first_camera_and_moves_the_funnel(
    browser: Any, mailing_server: MailingServer, mail: tuple[str, Inbox]
) -> None:
    url, database_url = mailing_server
    owner = new_owner("bakery")
    coordinator_email = f"casey-{uuid.uuid4().hex[:6]}@riverside-bid.example"
    member_id = off_the_loop(seed, database_url, coordinator_email, owner.email)
    problems: list[str] = []
    desk = browser.new_context(base_url=url, **DESK)
    phone_context = browser.new_context(base_url=url, **PHONE_390)
    try:
        for context in (desk, phone_context):
            context.set_default_timeout(TIMEOUT_MS)
        coordinator = watch_for_problems(desk.new_page(), problems)
        phone = watch_for_problems(phone_context.new_page(), problems)

        # The coordinator sends the invite from the member's page.
        coordinator.goto("/login")
        coordinator.get_by_label("Email").fill(coordinator_email)
        coordinator.get_by_label("Password").fill(PASSWORD)
        coordinator.get_by_role("button", name="Sign in").click()
        expect(coordinator).to_have_url(re.compile(r"/district$"))
        coordinator.goto(f"/district/members/{member_id}")
        invite = coordinator.get_by_test_id("invite")
        expect(invite).to_contain_text("Not invited yet")
        invite.get_by_role("button", name="Send invite by email").click()
        expect(coordinator.get_by_role("status")).to_contain_text(f"The invite is on its way to {owner.email}")
        expect(coordinator.get_by_test_id("step-invited")).to_have_class("reached")
        assert violations(coordinator) == []

        # The owner opens the emailed link on a phone.
        phone.goto(invite_link(mail[1], owner.email))
        expect(phone.get_by_role("heading", name=f"{DISTRICT} invites Corner Bakery", level=1)).to_be_visible()
        expect(phone.get_by_text("Never your footage")).to_be_visible()
        looks_right(phone)
        phone.get_by_role("link", name="Create your account").click()

        # Sign-up is filled in from the roster.
        expect(phone.get_by_test_id("invited")).to_contain_text(f"{DISTRICT} invites Corner Bakery")
        expect(phone.get_by_label("Email")).to_have_value(owner.email)
        expect(phone.get_by_label("Your name")).to_have_value("Dana Rivera")
        looks_right(phone)
        phone.get_by_label("Password").fill(owner.password)
        phone.get_by_role("button", name="Create account").click()

        # The site form: filled in, a business, part of the district.
        expect(phone).to_have_url(re.compile(r"/sites/new\?district="))
        expect(phone.get_by_test_id("site-prefilled")).to_be_visible()
        expect(phone.get_by_label("Name", exact=True)).to_have_value("Corner Bakery")
        expect(phone.get_by_label("Street address")).to_have_value("2200 N Farwell Ave, Milwaukee, WI 53202")
        expect(phone.get_by_label("Latitude")).to_have_value("43.0587")
        expect(phone.get_by_label("Longitude")).to_have_value("-87.8841")
        expect(phone.get_by_role("group", name="Home or business").get_by_label("Business")).to_be_checked()
        expect(phone.get_by_label(f"Part of {DISTRICT}")).to_be_checked()
        looks_right(phone)
        phone.get_by_label("Phone").fill("+1 414 555 0134")
        phone.get_by_role("button", name="Save site").click()
        expect(phone.get_by_role("heading", name="Corner Bakery", level=1)).to_be_visible()

        # Then the first camera.
        add_camera(phone, "Front door")
        looks_right(phone)

        # The coordinator sees the funnel move.
        coordinator.reload()
        for step in ("invited", "account", "site", "cameras"):
            expect(coordinator.get_by_test_id(f"step-{step}")).to_have_class("reached")
        expect(coordinator.get_by_test_id("step-device")).to_have_class("not-yet")
        expect(coordinator.get_by_test_id("invite")).to_contain_text("the invite has been used")

        # The district link for a meeting, and its print-ready poster.
        coordinator.get_by_role("link", name="the district link").click()
        expect(coordinator.get_by_role("heading", name="District link", level=1)).to_be_visible()
        assert violations(coordinator) == []
        coordinator.get_by_role("link", name="Print the poster").click()
        expect(coordinator.get_by_test_id("poster-qr").locator("svg")).to_be_visible()
        assert violations(coordinator) == []
        coordinator.emulate_media(media="print")
        expect(coordinator.locator(".topbar")).to_be_hidden()
        expect(coordinator.get_by_role("button", name="Print this poster")).to_be_hidden()
        expect(coordinator.get_by_test_id("poster-qr").locator("svg")).to_be_visible()
        coordinator.emulate_media(media="screen")
        expect(coordinator.get_by_role("button", name="Print this poster")).to_be_visible()

        # The link has done its work: opened again by someone else, it says so.
        with browser.new_context(base_url=url, **PHONE_390) as stranger_context:
            stranger = stranger_context.new_page()
            answer = stranger.goto(invite_link(mail[1], owner.email))
            assert answer is not None and answer.status == 410
            expect(stranger.get_by_role("heading", name="This invite has been used")).to_be_visible()
    finally:
        desk.close()
        phone_context.close()
    assert problems == []
