"""The whole footage request in two browsers: an investigator at a desk asks the owners near an incident; one
owner shares a clip from a phone, another answers "no footage"; the investigator downloads the clip and checks
its hash; the owner sees every police access."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, Owner, log_in, log_in_agency

pytestmark = pytest.mark.e2e


def owner_page(new_context: Any, owner: Owner) -> Page:
    page = new_context().new_page()
    log_in(page, owner)
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("link", name=re.compile("Milwaukee PD")).click()
    return page


def test_investigator_asks_owners_one_shares_a_clip_one_has_no_footage(
    new_context: Any, server_database: str, tmp_path: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    sharer = Owner(email=f"sharer-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    other = Owner(email=f"other-{tag}@example.org", password=PASSWORD, name="Sam Lee")
    detective, secret = f"det-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    seed.owner_with_camera(server_database, sharer.email, sharer.password, camera=f"Back door {tag}", offset_m=20)
    seed.owner_with_camera(server_database, other.email, other.password, camera=f"Alley {tag}", offset_m=60)
    case = f"MPD-{tag}"

    # The investigator searches around the incident and asks both owners.
    desk = new_context(**DESK).new_page()
    log_in_agency(desk, detective, DETECTIVE_PASSWORD, secret)
    desk.get_by_role("link", name="Find cameras").first.click()
    desk.get_by_label("Latitude").fill(str(seed.INCIDENT[0]))
    desk.get_by_label("Longitude").fill(str(seed.INCIDENT[1]))
    desk.get_by_label("Address or place").fill("2200 N Farwell Ave")
    desk.get_by_label("Radius (metres)").fill("100")
    desk.get_by_role("button", name="Search").click()
    rows = desk.get_by_test_id("camera")
    expect(rows.filter(has_text=f"Back door {tag}")).to_contain_text("20 m")
    expect(rows.filter(has_text=f"Alley {tag}")).to_contain_text("60 m")
    expect(desk.get_by_text("Dana Rivera")).to_have_count(0)  # no owner names in the results
    for row in rows.all():  # only this test's two owners (only the one that sees the incident starts ticked)
        row.get_by_role("checkbox").set_checked(tag in row.locator(".camera-name").inner_text())
    desk.get_by_label("Case number").fill(case)
    desk.get_by_label("Warrant or court order").check()
    desk.get_by_label("Message to the owners").fill("Car break-in on Farwell around noon.")
    desk.get_by_role("button", name=re.compile(r"Send request to \d+ owners")).click()
    expect(desk.get_by_role("status")).to_contain_text("Sent 2 requests")
    expect(desk.get_by_test_id("request")).to_have_count(2)

    # The first owner, on a phone, shares a clip; the bar moves on a slow connection.
    phone = owner_page(new_context, sharer)
    expect(phone.get_by_role("heading", name="Milwaukee PD asks for video")).to_be_visible()
    expect(phone.get_by_text("Warrant or court order")).to_be_visible()
    phone.get_by_role("button", name="Share clips").click()
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 2_000_000},
    )
    clip = os.urandom(3_000_000)
    expect(phone.get_by_label("Video files")).to_be_visible()  # shown once upload.js listens for a choice
    phone.get_by_label("Video files").set_input_files(
        {"name": "back-door.mp4", "mimeType": "video/mp4", "buffer": clip}
    )
    bar = phone.get_by_test_id("upload").get_by_role("progressbar")
    phone.wait_for_function("() => document.querySelector('[data-upload-list] progress').value > 0")
    midway = bar.evaluate("bar => bar.value")
    assert 0 < midway < len(clip), "the progress bar did not move through the upload"
    digest = hashlib.sha256(clip).hexdigest()
    expect(phone.get_by_test_id("receipt-status")).to_contain_text(digest)

    # The second owner has nothing: two taps.
    second = owner_page(new_context, other)
    second.get_by_role("button", name="No footage of that time").click()
    expect(second.get_by_test_id("state")).to_have_text("No footage")

    # The investigator follows both, opens the clip and downloads it: the hash matches.
    desk.get_by_role("link", name="Sent requests").click()
    desk.get_by_label("Case number").fill(case)
    desk.get_by_role("button", name="Show").click()
    shared = desk.get_by_test_id("request").filter(has_text=f"Back door {tag}")
    expect(shared.get_by_test_id("state")).to_have_text("Clips uploaded")
    nothing = desk.get_by_test_id("request").filter(has_text=f"Alley {tag}")
    expect(nothing.get_by_test_id("state")).to_have_text("No footage")
    expect(nothing).to_contain_text("No footage of that time")
    shared.get_by_role("link", name=f"Back door {tag}").click()
    expect(desk.get_by_test_id("clip").get_by_test_id("sha256")).to_have_text(digest)
    desk.get_by_role("link", name="back-door.mp4").click()
    expect(desk.get_by_test_id("sha256")).to_have_text(digest)
    with desk.expect_download() as download_info:
        desk.get_by_role("link", name="Download the clip").click()
    download = download_info.value
    assert download.suggested_filename == "back-door.mp4"
    saved = tmp_path / "downloaded.mp4"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == digest

    # The owner sees who viewed and downloaded the clip.
    phone.goto("/account/access")
    accesses = phone.get_by_test_id("access")
    expect(accesses.filter(has_text="downloaded your clip")).to_have_count(1)
    expect(accesses.filter(has_text="viewed your clip")).to_have_count(1)
    expect(accesses.filter(has_text="sent you a footage request")).to_contain_text(case)
