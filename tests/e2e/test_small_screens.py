"""Porchlight works on the narrowest phones: nothing scrolls sideways at 320 px."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import add_camera, add_site, new_owner, sign_up

pytestmark = pytest.mark.e2e

WIDTH = 320


def page_width(page: Any) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_overview_and_site_form_fit_a_320_px_screen(new_context: Any) -> None:
    page = new_context(viewport={"width": WIDTH, "height": 640}).new_page()
    sign_up(page, new_owner())
    add_site(page, "Riverside Laundromat and Dry Cleaning", address="1234 W Lisbon Avenue, Milwaukee, WI 53205")
    add_camera(page, "Parking lot, north corner", recorder="Cloud service")

    page.goto("/sites")
    expect(page.get_by_test_id("camera")).to_have_count(1)
    assert page_width(page) <= WIDTH, "the overview scrolls sideways"

    page.get_by_role("link", name="Add a site").click()
    expect(page.get_by_role("button", name="Save site")).to_be_visible()
    assert page_width(page) <= WIDTH, "the site form scrolls sideways"

    page.get_by_role("button", name="Save site").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page_width(page) <= WIDTH, "the site form with its error messages scrolls sideways"
