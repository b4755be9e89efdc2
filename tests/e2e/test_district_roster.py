"""The coordinator's roster in Chromium on a 320 px phone: the funnel's bars drawn by classes (nothing refused by the
CSP), the roster filtered, a member's page, a member added with a mistake corrected, and a CSV roster previewed then
imported; nothing scrolls sideways and axe finds nothing."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.districts import service
from backend.districts.models import DistrictMember, MemberStatus
from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, watch_for_problems
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

WIDTH = 320


def _district(database_url: str, tag: str) -> str:
    """A coordinator (their email) and a roster: one business with a long name not invited yet, one invited ten
    days ago and one joined ten days ago with no site yet (both need a nudge)."""
    email = f"roster-{tag}@bid.example"

    async def work(db: AsyncSession) -> None:
        user = await accounts.create_user(
            db, email=email, password=DETECTIVE_PASSWORD, display_name="Casey", roles=[Role.COORDINATOR],
            district_name=f"Roster BID {tag}",
        )  # fmt: skip
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        rows = [
            ("Riverside Laundromat and Dry Cleaning of the Historic Third Ward", "", {}),
            ("Broadway Florist", "flowers@example.org",
             {"invited_at": long_ago, "invite_expires_at": long_ago + dt.timedelta(days=90)}),
            ("Water Street Wines", "wines@example.org",
             {"status": MemberStatus.JOINED.value, "invited_at": long_ago, "joined_at": long_ago}),
        ]  # fmt: skip
        for name, member_email, fields in rows:
            db.add(DistrictMember(district_id=user.district_id, business_name=name, email=member_email,
                                  match_key=service.match_key(name, member_email), **fields))  # fmt: skip
        await db.commit()

    seed.run(database_url, work)
    return email


def _fits(page: Page, what: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{what} scrolls sideways"
    assert violations(page) == [], what


def test_a_coordinator_works_the_roster_on_a_phone(new_context: Any, server_database: str, tmp_path: Any) -> None:
    email = _district(server_database, uuid.uuid4().hex[:8])
    problems: list[str] = []
    page = watch_for_problems(new_context(viewport={"width": WIDTH, "height": 720}).new_page(), problems)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DETECTIVE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile("/district$"))
    invited = page.get_by_test_id("funnel-invited")
    expect(invited).to_contain_text("2 of 3")
    bar = invited.locator(".funnel-fill")
    assert (
        0.5 < bar.evaluate("e => e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width") < 0.8
    )
    _fits(page, "the district's home")

    page.get_by_role("navigation", name="District").get_by_role("link", name="Members", exact=True).click()
    expect(page.get_by_test_id("member-row")).to_have_count(3)
    expect(page.locator(".roster-row.needs-nudge")).to_have_text([re.compile("Broadway Florist"),
                                                                  re.compile("Water Street Wines")])  # fmt: skip
    _fits(page, "the roster")
    page.get_by_label("Status").select_option("listed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("member-row")).to_have_count(2)

    page.get_by_role("link", name="Broadway Florist").click()
    expect(page.get_by_test_id("nudge")).to_contain_text("Invited over a week ago")
    expect(page.get_by_test_id("step-account")).to_contain_text("not yet")
    _fits(page, "a member's page")

    page.goto("/district/members/new")
    page.get_by_label("Business name").fill("Canal Bike Co")
    page.get_by_label("Latitude").fill("43.03")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("alert")).to_contain_text("Longitude is required")
    _fits(page, "the member form with its error")
    page.get_by_label("Longitude").fill("-87.91")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("Member added")

    page.goto("/district/import")
    roster = "Business name,Email,Notes\nCanal Bike Co,,x\nMarket Hall Cheese,cheese@example.org,\n=SUM(1;2),,\n"
    page.get_by_label("Roster CSV file").set_input_files(
        files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": roster.encode()}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("count-new")).to_contain_text("2")
    expect(page.get_by_test_id("count-duplicate")).to_contain_text("1")
    expect(page.get_by_test_id("formula-warning")).to_be_visible()
    _fits(page, "the import preview")
    page.get_by_role("button", name=re.compile(r"^Import 2 new")).click()
    expect(page.get_by_test_id("import-result")).to_contain_text("2 new members added")
    page.goto("/district/members")
    expect(page.get_by_test_id("member-row")).to_have_count(6)
    assert problems == []
