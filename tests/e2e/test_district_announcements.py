"""District announcements and leaving, in Chromium on a 320 px phone: the coordinator sees how many each audience
reaches, writes with the labelled fields, and sees the sent one counted; the member opens it from their
notifications, reads on their account what the district sees, and leaves after a confirmation. No page scrolls
sideways, nothing is blocked by the CSP, and axe finds nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import utcnow
from backend.districts.models import DistrictMember, MemberStatus
from backend.registry import service as registry
from backend.registry.models import Site, SiteKind
from backend.registry.schemas import SiteIn
from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, watch_for_problems
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

SMALL = {"viewport": {"width": 320, "height": 720}, "is_mobile": True, "has_touch": True}


def _district_with_a_member(database_url: str, tag: str) -> tuple[str, str]:
    """A coordinator and a joined member whose site is in the district; their emails."""
    coordinator, member = f"announce-{tag}@bid.example", f"member-{tag}@example.org"

    async def work(db: AsyncSession) -> None:
        user = await accounts.create_user(
            db, email=coordinator, password=DETECTIVE_PASSWORD, display_name="Casey", roles=[Role.COORDINATOR],
            district_name=f"Lakeside BID {tag}",
        )  # fmt: skip
        owner = await accounts.create_user(
            db, email=member, password=DETECTIVE_PASSWORD, display_name="Mo", roles=[Role.OWNER]
        )
        db.add(
            DistrictMember(
                district_id=user.district_id, business_name=f"Lakeside Deli {tag}", status=MemberStatus.JOINED.value,
                user_id=owner.id, match_key=member, email=f"deli-{tag}@example.org", phone="(414) 555-0123",
                joined_at=utcnow(),
            )
        )  # fmt: skip
        site = await registry.create_site(
            db, owner.id,
            SiteIn(name="Deli", address="301 W Lake St", latitude=43.06, longitude=-87.9, kind=SiteKind.BUSINESS,
                   contact_phone="+1 414 555 0142"),
        )  # fmt: skip
        stored = await db.get(Site, site.id)
        assert stored is not None
        stored.district_id = user.district_id
        await db.commit()

    seed.run(database_url, work)
    return coordinator, member


def _sign_in(page: Page, email: str, lands_on: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DETECTIVE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(f"{lands_on}$"))


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, page.url
    assert violations(page) == [], page.url


def test_a_coordinator_announces_and_a_member_reads_it_then_leaves_on_a_phone(
    new_context: Any, server_database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    coordinator, member = _district_with_a_member(server_database, tag)
    problems: list[str] = []

    desk = watch_for_problems(new_context(**SMALL).new_page(), problems)
    _sign_in(desk, coordinator, "/district")
    desk.goto("/district/announcements")
    expect(desk.get_by_label("All joined members (1 member)")).to_be_checked()
    expect(desk.get_by_label("Joined members who have not registered cameras yet (1 member)")).to_be_visible()
    _fits(desk)
    desk.get_by_label("Title").fill("Camera clinic on Friday")
    desk.get_by_label("Message").fill("Bring your questions.\nWe help you pair your box.")
    desk.get_by_role("button", name="Send announcement").click()
    expect(desk.get_by_role("status")).to_have_text("Sent “Camera clinic on Friday” to 1 member.")
    sent = desk.get_by_test_id("announcement").first
    expect(sent.get_by_test_id("recipients")).to_have_text("1")
    expect(sent.get_by_test_id("read")).to_have_text("0")
    _fits(desk)

    phone = watch_for_problems(new_context(**SMALL).new_page(), problems)
    _sign_in(phone, member, "/sites")
    phone.goto("/notifications")
    phone.get_by_role("link", name=f"Lakeside BID {tag}: Camera clinic on Friday").click()
    expect(phone.get_by_role("heading", name="Camera clinic on Friday", level=1)).to_be_visible()
    expect(phone.get_by_test_id("announcement-body")).to_have_text("Bring your questions.\nWe help you pair your box.")
    _fits(phone)

    phone.goto("/account")
    district = phone.get_by_test_id("member-district")
    expect(district.get_by_role("heading", name=f"Lakeside BID {tag}", level=3)).to_be_visible()
    expect(district.get_by_text(f"deli-{tag}@example.org")).to_be_visible()
    expect(district.get_by_text("Deli, 301 W Lake St")).to_be_visible()
    _fits(phone)
    district.get_by_role("link", name=f"Leave Lakeside BID {tag}").click()
    expect(phone.get_by_role("heading", name=f"Leave Lakeside BID {tag}?")).to_be_visible()
    _fits(phone)
    phone.get_by_role("button", name=f"Leave Lakeside BID {tag}").click()
    expect(phone).to_have_url(re.compile(r"/account\?left_district=1"))
    expect(phone.get_by_role("status").filter(has_text="You left the district")).to_be_visible()
    expect(phone.get_by_test_id("member-district")).to_have_count(0)

    desk.reload()
    expect(desk.get_by_label("All joined members (0 members)")).to_be_visible()
    # The reader left: the district sees "left" and nothing more, so their read no longer counts.
    expect(desk.get_by_test_id("announcement").first.get_by_test_id("read")).to_have_text("0")
    assert not problems, problems
