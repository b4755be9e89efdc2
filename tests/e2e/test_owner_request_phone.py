"""An owner answers a footage request on a phone 360 px wide: the answers sit in the lower half of the screen where
a thumb reaches them and cover nothing at the end of the page; Decline asks first. A clip's receipt fits the screen
(its SHA-256 wraps), shows its time in the owner's zone at once, the state badge follows the upload without a
reload, and the receipt can be saved, or shared where the phone has a share sheet. axe finds nothing on these pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.requests import service as requests
from backend.requests.models import RequestType
from backend.requests.schemas import AreaRequestIn
from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, PASSWORD, Owner, log_in, watch_for_problems
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

PHONE_360 = {"viewport": {"width": 360, "height": 780}}
# Times on the receipt are the owner's (America/Chicago), whatever zone the phone is set to.
ZONED_TIME = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2} [AP]M C[SD]T$")


def emergency_request(database_url: str, investigator_email: str, camera_ids: list[uuid.UUID], case: str) -> str:
    async def work(db: AsyncSession) -> str:
        detective = await accounts.get_user_by_email(db, investigator_email)
        assert detective is not None
        now = dt.datetime.now(dt.UTC)
        [sent] = await requests.send_area_request(
            db, detective,
            AreaRequestIn(camera_ids=camera_ids, case_number=case, request_type=RequestType.EMERGENCY,
                          incident_latitude=seed.INCIDENT[0], incident_longitude=seed.INCIDENT[1],
                          window_start=now - dt.timedelta(hours=1), window_end=now - dt.timedelta(minutes=30),
                          message="A child is missing; she was last seen walking north on Farwell."),
            ip="127.0.0.1",
        )  # fmt: skip
        return str(sent.id)

    return seed.run(database_url, work)


def an_owner_with_a_request(server_database: str, emergency: bool = False) -> tuple[Owner, str]:
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"phone-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detective = f"det-{tag}@mpd.example"
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD)
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Driveway {tag}")
    if emergency:
        return owner, emergency_request(server_database, detective, [camera], f"MPD-{tag}")
    [request_id] = seed.send_request(server_database, detective, [camera], f"MPD-{tag}")
    return owner, request_id


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= 360")


# Every block of the page's content the answer bar covers, scrolled to the end (none should be).
COVERED_AT_THE_END_JS = """(bar) => {
  window.scrollTo(0, document.documentElement.scrollHeight);
  const b = bar.getBoundingClientRect();
  return [...document.querySelector("main").children]
    .filter((el) => el !== bar && el.getClientRects().length)
    .filter((el) => { const r = el.getBoundingClientRect(); return r.bottom > b.top + 1 && r.top < b.bottom - 1; })
    .map((el) => el.outerHTML.slice(0, 80));
}"""


def test_the_answers_are_within_a_thumbs_reach_and_decline_asks_first(new_context: Any, server_database: str) -> None:
    owner, request_id = an_owner_with_a_request(server_database)
    problems: list[str] = []
    page = watch_for_problems(new_context(**PHONE_360).new_page(), problems)
    log_in(page, owner)
    page.goto(f"/requests/{request_id}")
    expect(page.get_by_test_id("voluntary-note")).to_contain_text("Answering is voluntary.")
    expect(page.get_by_test_id("requested-camera")).to_contain_text("at Corner bakery")

    # As the page opens, every answer is on screen, in its lower half.
    bar = page.get_by_test_id("answer-bar")
    for name in ("Share clips", "No footage of that time", "Camera was not recording", "Doesn't cover that area",
                 "Decline…"):  # fmt: skip
        box = bar.get_by_role("button" if name != "Decline…" else "link", name=name).bounding_box()
        assert box is not None and box["y"] >= 780 / 2 and box["y"] + box["height"] <= 780, (name, box)
    assert fits(page)
    assert violations(page) == []

    # A question makes the page longer (the conversation follows the answers); at its end the bar covers nothing.
    page.get_by_text("Need more information…").click()
    page.get_by_label("Your question for the investigator").fill("Which part of the evening do you need?")
    page.get_by_role("button", name="Send question").click()
    expect(page.get_by_test_id("message")).to_have_count(1)
    assert page.evaluate(COVERED_AT_THE_END_JS, bar.element_handle()) == []
    page.evaluate("window.scrollTo(0, 0)")
    box = bar.get_by_role("button", name="Share clips").bounding_box()
    assert box is not None and 780 / 2 <= box["y"] <= 780 - box["height"]

    # Decline asks first; Back leaves the request as it was.
    bar.get_by_role("link", name="Decline…").click()
    confirm = page.get_by_test_id("decline-confirm")
    expect(confirm.get_by_role("heading", name="Decline this request?")).to_be_visible()
    yes = confirm.get_by_role("button", name="Yes, decline").bounding_box()
    assert yes is not None and yes["y"] + yes["height"] <= 780
    assert violations(page) == []
    confirm.get_by_role("link", name="Back").click()
    expect(page.get_by_test_id("state")).to_have_text("Waiting for the investigator")
    page.get_by_test_id("answer-bar").get_by_role("link", name="Decline…").click()
    page.get_by_role("button", name="Yes, decline").click()
    expect(page.get_by_test_id("state")).to_have_text("Declined")
    expect(page.get_by_test_id("outcome")).to_contain_text("You declined this request on ")
    assert violations(page) == []
    assert problems == []


def test_an_emergency_stands_out_on_the_phone(new_context: Any, server_database: str) -> None:
    owner, request_id = an_owner_with_a_request(server_database, emergency=True)
    page = new_context(**PHONE_360).new_page()
    log_in(page, owner)
    page.goto("/requests")
    expect(page.get_by_test_id("emergency-note")).to_contain_text("Emergency: answer as soon as you can.")
    assert violations(page) == []
    page.goto(f"/requests/{request_id}")
    expect(page.get_by_test_id("request-type")).to_have_text("Emergency")
    expect(page.get_by_test_id("emergency-note")).to_contain_text("someone may be in danger")
    assert fits(page)
    assert violations(page) == []


SHARE_STUB = "navigator.share = (data) => { window.shared = data; return Promise.resolve(); };"


def test_a_receipt_fits_the_phone_shows_its_zone_at_once_and_can_be_saved_and_shared(
    new_context: Any, server_database: str
) -> None:
    owner, request_id = an_owner_with_a_request(server_database)
    problems: list[str] = []
    # The phone is set to Tokyo time; the owner's times are Chicago's.
    context = new_context(**PHONE_360, timezone_id="Asia/Tokyo", accept_downloads=True)
    context.add_init_script(SHARE_STUB)
    page = watch_for_problems(context.new_page(), problems)
    log_in(page, owner)
    page.goto(f"/requests/{request_id}")
    page.get_by_role("button", name="Share clips").click()
    expect(page.get_by_test_id("state")).to_have_text("Accepted")

    clip = os.urandom(300_000)
    sha256 = hashlib.sha256(clip).hexdigest()
    expect(page.get_by_label("Video files")).to_be_visible()  # shown once upload.js listens for a choice
    page.get_by_label("Video files").set_input_files({"name": "driveway.mp4", "mimeType": "video/mp4", "buffer": clip})
    receipt = page.get_by_test_id("upload").get_by_test_id("receipt-status")
    expect(receipt.get_by_test_id("sha256")).to_have_text(sha256)
    # Without a reload: the badge follows, the time has its zone, nothing is wider than the phone.
    expect(page.get_by_test_id("state")).to_have_text("Clips uploaded")
    shown = receipt.get_by_test_id("received-at").inner_text()
    assert ZONED_TIME.match(shown), shown
    assert fits(page), page.evaluate("document.documentElement.scrollWidth")
    assert violations(page) == []

    share = receipt.get_by_role("button", name="Share")
    expect(share).to_be_visible()
    share.click()
    page.wait_for_function("() => window.shared !== undefined")
    assert sha256 in page.evaluate("window.shared.text")

    with page.expect_download() as download:
        receipt.get_by_role("link", name="Save receipt").click()
    assert download.value.suggested_filename == f"receipt-{sha256[:12]}.txt"
    saved = open(download.value.path(), encoding="utf-8").read()
    assert f"SHA-256:  {sha256}" in saved and f"Received: {shown}" in saved

    # After a reload the page's receipt says the same, and still fits.
    page.reload()
    server_receipt = page.get_by_test_id("receipt")
    expect(server_receipt.get_by_test_id("sha256")).to_have_text(sha256)
    expect(server_receipt).to_contain_text(shown)
    expect(server_receipt.get_by_role("button", name="Share")).to_be_visible()
    assert fits(page)
    assert violations(page) == []
    assert problems == []

    # Where the browser has no share sheet, there is no Share button.
    plain = new_context(**PHONE_360).new_page()
    plain.add_init_script("delete Navigator.prototype.share;")
    log_in(plain, owner)
    plain.goto(f"/requests/{request_id}")
    expect(plain.get_by_test_id("receipt").get_by_role("link", name="Save receipt")).to_be_visible()
    expect(plain.get_by_test_id("receipt").get_by_role("button", name="Share")).to_be_hidden()
