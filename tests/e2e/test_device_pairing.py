"""An owner on a phone pairs an edge device by the code the real agent shows, and sees its camera turn healthy
without reloading; a wrong code is refused beside the field with the values kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.agent_process import SIMULATED_CAMERA, Agent
from tests.e2e.helpers import add_site, new_owner, sign_up

pytestmark = pytest.mark.e2e


def test_owner_pairs_a_device_by_its_code_and_sees_its_camera_turn_healthy(
    page: Page, server_url: str, tmp_path: Path
) -> None:
    sign_up(page, new_owner("devices"))
    add_site(page, "Corner bakery")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Devices").click()
    expect(page.get_by_role("heading", name="No devices yet")).to_be_visible()
    page.get_by_role("link", name="Add a device").click()
    page.get_by_label("Code shown on the device").fill("BBBB-BBBB")
    page.get_by_label("Name for the device").fill("Storefront core")
    page.get_by_role("button", name="Add device").click()
    expect(page.get_by_role("alert")).to_contain_text("No device is showing that code")
    expect(page.get_by_label("Name for the device")).to_have_value("Storefront core")
    expect(page.get_by_label("Code shown on the device")).to_have_attribute("aria-invalid", "true")

    config = tmp_path / "edge.toml"
    pairing = Agent("pair", "--server", server_url, "--config", str(config))
    agent = None
    try:
        link = pairing.wait_for_line(lambda line: "/devices/add?code=" in line, timeout=20)
        code = re.search(r"code=([A-Z]{4}-[A-Z]{4})", link).group(1)
        page.get_by_label("Code shown on the device").fill(code.lower().replace("-", ""))  # as typed on a phone
        page.get_by_role("button", name="Add device").click()
        expect(page.get_by_role("heading", name="Storefront core", level=1)).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("Device added")
        pairing.wait_for_line(lambda line: line.startswith("Paired as Storefront core"), timeout=20)

        with config.open("a") as file:
            file.write(SIMULATED_CAMERA)
        agent = Agent("run", "--config", str(config), "--interval", "1")
        health = page.get_by_test_id("device-health")
        camera = health.get_by_test_id("device-camera").filter(has_text="Front door")
        expect(camera.get_by_text("Video OK")).to_be_visible(timeout=20_000)  # the page updates itself
        expect(health.get_by_text("Online")).to_be_visible()
        expect(camera).to_contain_text("1920×1080")
        page.set_viewport_size({"width": 320, "height": 640})  # the narrowest phones: nothing scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, "the device page scrolls sideways"
    finally:
        pairing.stop()
        if agent is not None:
            agent.stop()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Devices").click()
    device = page.get_by_test_id("device").filter(has_text="Storefront core")
    expect(device).to_contain_text("1 of 1 camera sending video")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320, "the device list scrolls sideways"
