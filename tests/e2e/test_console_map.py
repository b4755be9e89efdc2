"""Maps where a tile server is configured: the investigator places the incident by tapping the map, and sees the
results on a map (the incident, the search circle, a dot per camera listed, filled where the incident is in
view), drawn from the configured tiles with nothing blocked by the Content-Security-Policy."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e import seed
from tests.e2e.conftest import TileServer
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, log_in_agency

pytestmark = pytest.mark.e2e


def _centre(locator: Any) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_the_incident_is_placed_on_a_map_and_the_results_are_drawn_on_one(
    page: Any, server_database: str, tile_server: TileServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    detective, secret = f"map-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    seed.owner_with_camera(server_database, f"porch-{tag}@example.org", PASSWORD, camera=f"Porch {tag}", offset_m=40)
    page.set_viewport_size(DESK["viewport"])
    log_in_agency(page, detective, DETECTIVE_PASSWORD, secret)
    page.goto("/console/search")

    # Tapping the map moves the pin and fills the coordinates.
    picker = page.locator("[data-map]")
    expect(picker.locator(".map-tile").first).to_be_visible()
    latitude = page.get_by_label("Latitude")
    latitude.fill("")
    box = picker.bounding_box()
    picker.click(position={"x": box["width"] / 2, "y": box["height"] / 2 - 40})
    tapped = float(latitude.input_value())
    assert 43.0389 < tapped < 43.05, tapped  # north of the map's default centre, as tapped
    assert page.get_by_label("Longitude").input_value()

    page.get_by_label("Latitude").fill(str(seed.INCIDENT[0]))
    page.get_by_label("Longitude").fill(str(seed.INCIDENT[1]))
    page.get_by_label("Radius (metres)").fill("100")
    page.get_by_role("button", name="Search").click()

    results = page.locator("[data-results-map]")
    expect(results).to_be_visible()
    expect(results.locator(".map-tile").first).to_be_visible()
    rows = page.get_by_test_id("camera")
    dots = results.locator("[data-map-dot]")
    expect(dots).to_have_count(rows.count())
    assert rows.count() >= 1
    # Our camera stands 40 m north of the incident: its dot is straight above the pin, inside the circle.
    names = [row.locator(".camera-name").inner_text() for row in rows.all()]
    dot = dots.nth(names.index(f"Porch {tag}"))
    expect(dot).to_have_attribute("title", f"Porch {tag}, 40 m")
    pin_x, pin_y = _centre(results.locator("[data-map-pin]"))
    dot_x, dot_y = _centre(dot)
    circle = results.locator(".map-circle").bounding_box()
    assert abs(dot_x - pin_x) < 2 and 0 < pin_y - dot_y < circle["height"] / 2, (pin_x, pin_y, dot_x, dot_y, circle)
    # Its radius on screen is 100 m at the drawn zoom: the camera at 40 m sits at 0.4 of it.
    assert abs((pin_y - dot_y) / (circle["height"] / 2) - 0.4) < 0.05
    assert any(path.endswith(".png") for path in tile_server.requested)
