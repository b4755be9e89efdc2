"""A question and its answer: on a phone 360 px wide, the owner asks the investigator through "Need more
information…" and sees it sent; at a desk the investigator reads it and replies; the owner, told by a notification,
reads the reply, and each side sees whose turn it is. Nothing is wider than the phone's screen, and axe finds
nothing on either side's page with its conversation."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, Owner, log_in, log_in_agency, watch_for_problems
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e

QUESTION = "Which part of the evening do you need? My camera only covers the driveway."
REPLY = "The driveway is what we need: 21:30 to 22:00, thank you."


def fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_owner_asks_on_a_phone_the_investigator_replies_and_the_owner_reads_it(
    new_context: Any, server_database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"asks-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detective, secret = f"det-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Driveway {tag}")
    [request_id] = seed.send_request(server_database, detective, [camera], f"MPD-{tag}")
    problems: list[str] = []

    # The owner, on a phone, asks.
    phone = watch_for_problems(new_context().new_page(), problems)
    log_in(phone, owner)
    phone.goto(f"/requests/{request_id}")
    phone.get_by_text("Need more information…").click()
    phone.get_by_label("Your question for the investigator").fill(QUESTION)
    phone.get_by_role("button", name="Send question").click()
    expect(phone).to_have_url(re.compile(f"/requests/{request_id}\\?written=1"))
    expect(phone.get_by_test_id("sent-notice")).to_contain_text("Sent to the investigator")
    expect(phone.get_by_test_id("state")).to_have_text("Waiting for the investigator")
    expect(phone.get_by_test_id("message")).to_have_count(1)
    expect(phone.get_by_test_id("message")).to_contain_text(QUESTION)
    assert fits_the_screen(phone)

    # The investigator, at a desk, reads the question and replies.
    desk = watch_for_problems(new_context(**DESK).new_page(), problems)
    log_in_agency(desk, detective, DETECTIVE_PASSWORD, secret)
    desk.goto("/console/requests")
    row = desk.get_by_test_id("request").filter(has_text=f"Driveway {tag}")
    expect(row.get_by_test_id("state")).to_have_text("Waiting for you")
    desk.get_by_role("link", name=re.compile(f"Driveway {tag}")).click()
    expect(desk.get_by_test_id("message")).to_contain_text(QUESTION)
    desk.get_by_label("Your reply to the owner").fill(REPLY)
    desk.get_by_role("button", name="Send", exact=True).click()
    expect(desk.get_by_test_id("sent-notice")).to_be_visible()
    expect(desk.get_by_test_id("state")).to_have_text("Waiting for the owner")
    assert violations(desk) == []

    # The owner is told, opens the notification, and reads the reply under their question.
    phone.goto("/notifications")
    phone.get_by_role("link", name="Milwaukee PD wrote to you").click()
    expect(phone).to_have_url(re.compile(f"/requests/{request_id}$"))
    messages = phone.get_by_test_id("message")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_contain_text(QUESTION)
    expect(messages.nth(1)).to_contain_text(REPLY)
    expect(messages.nth(1)).to_contain_text("Milwaukee PD")
    expect(phone.get_by_test_id("state")).to_have_text("Waiting for you")
    expect(phone.get_by_label("Your message to the investigator")).to_be_visible()
    assert fits_the_screen(phone)
    assert violations(phone) == []
    assert not problems, f"the pages reported problems: {problems}"
