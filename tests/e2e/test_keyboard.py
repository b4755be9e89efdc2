"""Keyboard only: signing in and answering a footage request with Tab, Shift+Tab, Space and Enter, each focused
control showing where the focus is."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import seed
from tests.e2e.helpers import DETECTIVE_PASSWORD, PASSWORD, Owner

pytestmark = pytest.mark.e2e


def focused(page: Page) -> dict[str, str]:
    """The focused element: its tag, accessible-ish name, and whether the focus is drawn (outline or shadow)."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
            return {
                tag: el.tagName.toLowerCase(),
                name: (label || el.getAttribute('aria-label') || el.innerText || el.value || '').trim(),
                drawn: String((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                              || style.boxShadow !== 'none'),
            };
        }"""
    )


def tab_to(page: Page, name: str | re.Pattern[str], limit: int = 40) -> None:
    """Tab until the control named `name` has the focus, which must be drawn."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if name.search(now["name"]) if isinstance(name, re.Pattern) else now["name"] == name:
            assert now["drawn"] == "true", f"the focus on {now} is not visible"
            return
    raise AssertionError(f"{name!r} was not reached with Tab in {limit} presses")


def sign_in_with_keys(page: Page, owner: Owner) -> None:
    page.goto("/login")
    tab_to(page, "Email")
    page.keyboard.type(owner.email)
    tab_to(page, "Password")
    page.keyboard.type(owner.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/sites$"))


def test_signing_in_with_the_keyboard_alone(new_context: Any, server_database: str) -> None:
    owner = Owner(email=f"keys-{uuid.uuid4().hex[:8]}@example.org", password=PASSWORD, name="Dana Rivera")
    seed.owner_with_camera(server_database, owner.email, owner.password)
    page = new_context().new_page()
    page.goto("/login")
    tab_to(page, "Skip to content")  # the first stop skips the header
    sign_in_with_keys(page, owner)
    expect(page.get_by_role("heading", name="My cameras", level=1)).to_be_visible()


def test_answering_a_request_with_the_keyboard_alone(new_context: Any, server_database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"keys-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detective = f"keys-det-{tag}@mpd.example"
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=pyotp.random_base32())
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Gate {tag}")
    request_id = seed.send_request(server_database, detective, [camera], f"KEYS-{tag}")[0]

    page = new_context().new_page()
    sign_in_with_keys(page, owner)
    tab_to(page, "Requests")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/requests$"))
    tab_to(page, re.compile(f"KEYS-{tag}|Milwaukee PD"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/requests/{request_id}$"))
    tab_to(page, re.compile(r"^No footage"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("state").first).to_contain_text(re.compile("no footage", re.I))
