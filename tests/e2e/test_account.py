"""An owner can leave: deleting the account from the Account page ends every way back in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import add_site, new_owner, sign_up

pytestmark = pytest.mark.e2e


def test_deleted_account_can_no_longer_sign_in(page: Page) -> None:
    owner = new_owner()
    sign_up(page, owner)
    add_site(page, "Corner bakery")

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("link", name="Download my data (JSON)")).to_be_visible()
    page.get_by_text("Delete my account…").click()
    page.get_by_label("Type your password to confirm").fill(owner.password)
    page.get_by_role("button", name="Delete my account and all my cameras").click()

    expect(page).to_have_url(re.compile(r"/account/deleted$"))
    expect(page.get_by_role("heading", name="Your account has been deleted")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    page.goto("/login")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    expect(page).to_have_url(re.compile(r"/login$"))

    page.goto("/sites")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
