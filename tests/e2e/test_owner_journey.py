"""A camera owner on a phone: sign up, register a site and a camera, rename, pause and resume it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import add_camera, add_site, camera_item, fill_site_form, new_owner, sign_up

pytestmark = pytest.mark.e2e


def test_owner_registers_renames_pauses_and_resumes_a_camera(page: Page) -> None:
    sign_up(page, new_owner())
    expect(page.get_by_role("status")).to_contain_text("Welcome to Porchlight")

    site_url = add_site(page, "Corner bakery")
    add_camera(page, "Back door")

    page.goto("/sites")
    site = page.get_by_test_id("site").filter(has=page.get_by_role("link", name="Corner bakery"))
    expect(site).to_have_count(1)
    expect(camera_item(page, "Back door", within=site)).to_be_visible()

    page.goto(site_url)
    page.get_by_role("link", name="Edit Back door").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Back door")
    page.get_by_label("Name", exact=True).fill("Side gate")
    page.get_by_role("button", name="Save camera").click()
    expect(page).to_have_url(re.compile(re.escape(site_url) + r"(\?.*)?$"))
    expect(camera_item(page, "Side gate")).to_be_visible()
    expect(camera_item(page, "Back door")).to_have_count(0)

    camera = camera_item(page, "Side gate")
    expect(camera.get_by_text("Paused", exact=True)).to_have_count(0)
    camera.get_by_role("button", name="Pause Side gate").click()
    expect(camera.get_by_text("Paused", exact=True)).to_be_visible()
    expect(camera.get_by_role("button", name="Resume Side gate")).to_be_visible()

    page.goto("/sites")
    on_overview = camera_item(page, "Side gate", within=site)
    expect(on_overview.get_by_text("Paused", exact=True)).to_be_visible()

    page.goto(site_url)
    camera_item(page, "Side gate").get_by_role("button", name="Resume Side gate").click()
    expect(camera_item(page, "Side gate")).to_be_visible()
    expect(camera_item(page, "Side gate").get_by_text("Paused", exact=True)).to_have_count(0)
    expect(camera_item(page, "Side gate").get_by_role("button", name="Pause Side gate")).to_be_visible()

    page.goto("/sites")
    expect(camera_item(page, "Side gate")).to_be_visible()
    expect(camera_item(page, "Side gate").get_by_text("Paused", exact=True)).to_have_count(0)


def test_site_form_with_an_impossible_latitude_keeps_the_input_and_saves_nothing(page: Page) -> None:
    sign_up(page, new_owner())
    page.get_by_role("link", name="Add a site").click()
    fill_site_form(page, name="Corner bakery", latitude="123")
    page.get_by_role("button", name="Save site").click()

    expect(page.get_by_role("alert")).to_contain_text("Latitude must be at most 90")
    latitude = page.get_by_label("Latitude")
    expect(latitude).to_have_attribute("aria-invalid", "true")
    expect(page.locator("p.error#f-latitude-error")).to_have_text(re.compile("Latitude must be at most 90"))
    expect(latitude).to_have_accessible_description(re.compile("Latitude must be at most 90"))
    expect(latitude).to_have_value("123")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Corner bakery")
    expect(page.get_by_label("Street address")).to_have_value("2200 N Farwell Ave, Milwaukee, WI 53202")
    expect(page.get_by_label("Business")).to_be_checked()

    page.goto("/sites")
    expect(page.get_by_role("heading", name="No sites yet")).to_be_visible()
    expect(page.get_by_test_id("site")).to_have_count(0)
