"""On a phone, a police request's notification clears when the owner opens it, and the app icon's badge follows
the unread count (navigator.setAppBadge, recorded here since a test browser has no home screen)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, PASSWORD, Owner, log_in

pytestmark = pytest.mark.e2e

RECORD_BADGE = """
window.__badges = [];
navigator.setAppBadge = (n) => { window.__badges.push(n); return Promise.resolve(); };
navigator.clearAppBadge = () => { window.__badges.push(0); return Promise.resolve(); };
"""


def test_opening_the_request_notification_clears_it_and_the_badge(new_context: Any, server_database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"badge-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detective = f"det-{tag}@mpd.example"
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=pyotp.random_base32())
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Back door {tag}")
    [request_id] = seed.send_request(server_database, detective, [camera], f"MPD-{tag}")

    context = new_context()  # a phone
    context.add_init_script(RECORD_BADGE)
    page = context.new_page()
    log_in(page, owner)
    assert page.evaluate("window.__badges") == [1]
    expect(page.get_by_role("link", name=re.compile("Notifications"))).to_contain_text("1")

    page.get_by_role("link", name=re.compile("Notifications")).click()
    item = page.get_by_test_id("notification")
    expect(item).to_contain_text("new")
    item.get_by_role("link", name="Police request footage").click()
    expect(page).to_have_url(re.compile(f"/requests/{request_id}$"))
    assert page.evaluate("window.__badges") == [0]

    page.get_by_role("link", name=re.compile("Notifications")).click()
    expect(page.get_by_text("0 unread")).to_be_visible()
    expect(page.get_by_test_id("notification")).not_to_contain_text("new")
