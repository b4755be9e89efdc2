"""The investigator plays a clip an owner sent, in the browser: the player on the clip page loads it, plays and
seeks (range requests), and the owner sees the view among the police accesses."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, Owner, log_in, log_in_agency
from tests.e2e.test_accessibility import violations

pytestmark = pytest.mark.e2e


def test_clip(path: Path) -> bytes:
    """Three seconds of ffmpeg's test picture as WebM (VP8), which every Chromium build plays."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=15",
         "-c:v", "libvpx", "-b:v", "200k", "-y", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()


test_clip.__test__ = False  # a helper, not a test


def test_the_investigator_plays_a_received_clip_and_the_owner_sees_it(
    new_context: Any, server_database: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"player-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detective, secret = f"det-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Back door {tag}")
    (request_id,) = seed.send_request(server_database, detective, [camera], f"MPD-{tag}")
    video = test_clip(tmp_path / "door.webm")

    # The owner sends the clip from the request page.
    phone = new_context().new_page()
    log_in(phone, owner)
    phone.goto(f"/requests/{request_id}")
    phone.get_by_role("button", name="Share clips").click()
    expect(phone.get_by_label("Video files")).to_be_visible()  # shown once upload.js listens for a choice
    phone.get_by_label("Video files").set_input_files(str(tmp_path / "door.webm"))
    receipt = phone.get_by_test_id("upload").get_by_test_id("receipt-status")
    expect(receipt).to_contain_text(hashlib.sha256(video).hexdigest(), timeout=30_000)

    # The investigator opens it and plays it in the page.
    desk = new_context(**DESK).new_page()
    log_in_agency(desk, detective, DETECTIVE_PASSWORD, secret)
    desk.goto(f"/console/requests/{request_id}")
    desk.get_by_role("link", name="door.webm").click()
    expect(desk.get_by_role("heading", name="door.webm", level=1)).to_be_visible()
    player = desk.get_by_test_id("clip-player")
    expect(player).to_be_visible()
    assert desk.evaluate("document.querySelector('video source').type") == "video/webm"
    assert violations(desk) == []  # the clip page with its player (axe-core)
    desk.wait_for_function("() => document.querySelector('video').readyState >= 2", timeout=15_000)
    assert 2.5 < desk.evaluate("document.querySelector('video').duration") < 3.5
    desk.evaluate("document.querySelector('video').muted = true")
    desk.evaluate("document.querySelector('video').play()")
    desk.wait_for_function("() => document.querySelector('video').currentTime > 0.3", timeout=15_000)
    # Seeking works: the player asks for the rest by range and goes on from there.
    desk.evaluate("document.querySelector('video').currentTime = 2")
    desk.wait_for_function(
        "() => { const v = document.querySelector('video'); return !v.seeking && v.currentTime >= 2; }",
        timeout=15_000,
    )
    assert desk.evaluate("document.querySelector('video').error") is None
    # The player fits the page: no sideways scroll.
    assert desk.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    # The owner sees that Milwaukee PD viewed the clip: one view for the page and its player.
    phone.goto("/account/access")
    accesses = phone.get_by_test_id("access")
    expect(accesses.filter(has_text="viewed your clip")).to_have_count(1)
    expect(accesses.filter(has_text="viewed your clip")).to_contain_text("Milwaukee PD")
