"""The console's search at a desk: only the camera that sees the incident starts ticked, "Tick none" and "Tick all"
work in place, the send button counts the owners as boxes are ticked, and a filter narrows the list; without
JavaScript the same buttons work through the server."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, log_in_agency

pytestmark = pytest.mark.e2e


def _search(page: Any) -> None:
    page.get_by_label("Latitude").fill(str(seed.INCIDENT[0]))
    page.get_by_label("Longitude").fill(str(seed.INCIDENT[1]))
    page.get_by_label("Radius (metres)").fill("100")
    page.get_by_role("button", name="Search").click()


def test_ticks_start_on_the_camera_that_sees_the_incident_and_the_send_button_follows(
    new_context: Any, server_database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    detective, secret = f"ticks-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    # Both face south from north of the incident; 30 m is as far as they see.
    seed.owner_with_camera(server_database, f"near-{tag}@example.org", PASSWORD, camera=f"Lot {tag} near", offset_m=20)
    seed.owner_with_camera(server_database, f"far-{tag}@example.org", PASSWORD, camera=f"Lot {tag} far", offset_m=60)

    page = new_context(**DESK).new_page()
    log_in_agency(page, detective, DETECTIVE_PASSWORD, secret)
    page.goto("/console/search")
    _search(page)
    near = page.get_by_test_id("camera").filter(has_text=f"Lot {tag} near")
    far = page.get_by_test_id("camera").filter(has_text=f"Lot {tag} far")
    expect(near.get_by_role("checkbox")).to_be_checked()
    expect(far.get_by_role("checkbox")).not_to_be_checked()
    expect(near.get_by_test_id("place")).to_contain_text("2200 block of N Farwell Ave")
    expect(page.get_by_text("Dana Rivera")).to_have_count(0)
    expect(page.get_by_test_id("ticked-summary")).to_contain_text(
        re.compile(r"sees? the incident point; (it is|they are) ticked")
    )
    send = page.locator("[data-send-button]")

    url = page.url
    page.get_by_role("button", name="Tick none").click()
    expect(page.get_by_role("checkbox", checked=True)).to_have_count(0)
    expect(send).to_have_text("Send request (no camera ticked)")
    assert page.url == url  # ticked in place, no reload
    far.get_by_role("checkbox").check()
    expect(send).to_have_text("Send request to 1 owner")
    near.get_by_role("checkbox").check()
    expect(send).to_have_text("Send request to 2 owners")
    page.get_by_role("button", name="Tick all").click()
    expect(page.locator('input[name="camera_ids"]:not(:checked)')).to_have_count(0)

    page.get_by_label("with the incident point in view").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"in_view=1"))
    expect(near).to_have_count(1)
    expect(far).to_have_count(0)
    expect(page.get_by_test_id("hidden-by-filters")).to_be_visible()

    # Without JavaScript the buttons ask the server, which ticks the list the same way.
    signed_in = page.context.storage_state()  # the same session: a second code in the same 30 s is refused
    plain = new_context(**DESK, java_script_enabled=False, storage_state=signed_in).new_page()
    plain.goto("/console/search")
    _search(plain)
    plain.get_by_role("button", name="Tick all").click()
    expect(plain).to_have_url(re.compile(r"ticks=all"))
    expect(plain.locator('input[name="camera_ids"]:not(:checked)')).to_have_count(0)
    expect(plain.locator("[data-send-button]")).to_contain_text(re.compile(r"Send request to \d+ owners"))
