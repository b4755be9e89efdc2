"""An owner on a phone shares clips: the progress bar moves, a dropped connection does not lose the upload, and
the receipt shows the SHA-256 of exactly the bytes chosen."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, PASSWORD, Owner, log_in

pytestmark = pytest.mark.e2e

PROGRESS_VALUES_JS = """() => {
  window.seenProgress = [];
  new MutationObserver(() => {
    const bar = document.querySelector("[data-upload-list] progress");
    if (bar) window.seenProgress.push(bar.value);
  }).observe(document.querySelector("[data-upload-list]"), {subtree: true, childList: true, characterData: true,
                                                          attributes: true});
}"""


def test_owner_shares_a_clip_with_a_moving_progress_bar_through_a_dropped_connection(
    new_context: Any, server_database: str
) -> None:
    owner = Owner(email=f"clips-{uuid.uuid4().hex[:8]}@example.org", password=PASSWORD, name="Dana Rivera")
    detective = f"det-{uuid.uuid4().hex[:8]}@mpd.example"
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD)
    camera = seed.owner_with_camera(server_database, owner.email, owner.password)
    seed.send_request(server_database, detective, [camera], "MPD-26-0042")

    page: Page = new_context().new_page()
    log_in(page, owner)
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("link", name=re.compile("Milwaukee PD")).click()
    page.get_by_role("button", name="Share clips").click()
    expect(page.get_by_test_id("state")).to_have_text("Accepted")
    expect(page.get_by_role("heading", name="Send clips")).to_be_visible()

    # A slow phone connection: 9 MB (two pieces) at about 2 MB/s, so the bar has time to move.
    clip = os.urandom(9_000_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def network(offline: bool) -> None:
        conditions = {"offline": offline, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 2_000_000}
        cdp.send("Network.emulateNetworkConditions", conditions)

    network(offline=False)
    page.evaluate(PROGRESS_VALUES_JS)
    expect(page.get_by_label("Video files")).to_be_visible()  # shown once upload.js listens for a choice
    page.get_by_label("Video files").set_input_files({"name": "back-door.mp4", "mimeType": "video/mp4", "buffer": clip})
    upload = page.get_by_test_id("upload")
    expect(upload).to_contain_text("back-door.mp4")
    expect(upload.get_by_text(re.compile(r"MB of 9\.0 MB sent \(\d+%\)"))).to_be_visible()

    # The signal drops (the piece under way still lands; the next one cannot start), then comes back:
    # sending continues by itself from the byte the server has.
    page.wait_for_function("() => window.seenProgress.some(v => v > 500000)")
    network(offline=True)
    expect(upload).to_contain_text("Connection lost")
    network(offline=False)

    expect(upload.get_by_test_id("receipt-status")).to_contain_text(hashlib.sha256(clip).hexdigest(), timeout=30_000)
    seen = page.evaluate("window.seenProgress")
    between = sorted({v for v in seen if 0 < v < len(clip)})
    assert len(between) >= 3, f"the progress bar hardly moved: {seen}"

    page.reload()
    expect(page.get_by_test_id("state")).to_have_text("Clips uploaded")
    receipt = page.get_by_test_id("receipt")
    expect(receipt.get_by_test_id("sha256")).to_have_text(hashlib.sha256(clip).hexdigest())
    expect(receipt).to_contain_text("9.0 MB")
    receipt.get_by_label("Note for the investigator").fill("The camera clock runs 5 minutes fast.")
    receipt.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("status").filter(has_text="Note saved.")).to_be_visible()
    expect(page.get_by_label("Note for the investigator")).to_have_value("The camera clock runs 5 minutes fast.")
