"""An owner on a phone shares a site's cameras in two taps from the app's start screen, sees the countdown tick and
the cameras shared, stops, and sees the summary. The edge device is paired and reports a healthy camera over HTTP,
as the agent would (no agent needed: nothing here plays video)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.devices.conftest import GRANT, health, report
from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, add_site, new_owner, sign_up

pytestmark = pytest.mark.e2e


def pair_a_sending_device(page: Page, server_url: str) -> None:
    """The box asks for a code, the owner types it on the phone, the box collects its credential and reports its
    camera sending video."""
    with httpx.Client(base_url=server_url, timeout=10) as box:
        started = box.post("/device/v1/device_authorization", data={"client_id": "porchlight-edge"}).json()
        page.goto(f"/devices/add?code={started['user_code']}")
        page.get_by_label("Name for the device").fill("Storefront core")
        page.get_by_role("button", name="Add device").click()
        expect(page.get_by_role("heading", name="Storefront core", level=1)).to_be_visible()
        token = box.post(
            "/device/v1/token",
            data={"grant_type": GRANT, "device_code": started["device_code"], "client_id": "porchlight-edge"},
        )
        assert token.status_code == 200, token.text
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        beat = box.post("/device/v1/heartbeat", json=report(health("front", name="Front door")), headers=auth)
        assert beat.status_code == 200, beat.text


def test_owner_shares_in_two_taps_sees_the_countdown_stops_and_sees_the_summary(
    page: Page, server_url: str, server_database: str
) -> None:
    # The program's live desk agency (live sharing needs one).
    seed.investigator(server_database, f"desk-{uuid.uuid4().hex[:8]}@mpd.example", DETECTIVE_PASSWORD)
    sign_up(page, new_owner("share"))
    add_site(page, "Corner bakery")
    pair_a_sending_device(page, server_url)

    page.goto("/?source=pwa")  # the installed app opens here and lands on the owner's start screen
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Share now").click()  # tap 1
    expect(page.get_by_role("heading", name="Share now", level=1)).to_be_visible()
    expect(page.get_by_label("Corner bakery")).to_be_checked()  # the only site: chosen already
    expect(page.get_by_label("30 min")).to_be_checked()
    expect(page.get_by_text("Nothing is recorded by Porchlight. In an emergency call 911.")).to_be_visible()
    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, "the share form scrolls sideways"
    page.get_by_role("button", name="Start sharing").click()  # tap 2

    expect(page.get_by_role("heading", name="Sharing live: Corner bakery", level=1)).to_be_visible()
    clock = page.get_by_test_id("share-countdown")
    expect(clock).to_have_text(re.compile(r"^(30:00|29:5\d)$"))
    first = clock.inner_text()
    expect(clock).not_to_have_text(first, timeout=3000)  # it ticks without a reload
    expect(page.get_by_role("status")).to_contain_text("Sharing started")
    expect(page.get_by_text("Front door")).to_be_visible()
    expect(page.get_by_text("Nobody has said they are watching yet.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, "the live share screen scrolls sideways"

    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("heading", name="Share of Corner bakery ended", level=1)).to_be_visible()
    summary = page.get_by_test_id("share-summary")
    expect(summary).to_contain_text("Ended by the owner")
    expect(summary).to_contain_text("Front door")
    expect(page.get_by_text("Nobody at the live desk opened your video.")).to_be_visible()
    expect(page.get_by_role("button", name="Stop sharing")).to_have_count(0)
