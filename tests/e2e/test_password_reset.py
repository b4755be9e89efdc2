"""Forgot password on a phone, with the email going through a real SMTP server: the owner asks for a link, reads it
in the mail the server received, sets a new password, every device is signed out, and the new password works.

This test runs its own Porchlight (with PORCHLIGHT_SMTP_URL) on its own database: the e2e server of the other
tests saves mail to its development mailbox, and its delivery worker would take this mail too if they shared one."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, TIMEOUT_MS, MailingServer
from tests.e2e.helpers import PASSWORD, new_owner, sign_up
from tests.smtp import Inbox

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "porch-light-evening-77"


def reset_link(inbox: Inbox, email: str, timeout_s: float = 20.0) -> str:
    """The path of the reset link in the mail to `email`, once the server's delivery worker has sent it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in inbox.messages:
            if message["To"] == email and message["Subject"] == "Reset your Porchlight password":
                link = re.search(r"https?://\S+(/password/reset/\S+)", message.get_content())
                assert link, message.get_content()
                return link.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no reset email to {email} within {timeout_s} s: {[m['Subject'] for m in inbox.messages]}")


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    browser: Any, mailing_server: MailingServer, mail: tuple[str, Inbox]
) -> None:
    owner = new_owner("forgot")
    contexts = [browser.new_context(base_url=mailing_server.url, **PHONE) for _ in range(2)]
    try:
        for context in contexts:
            context.set_default_timeout(TIMEOUT_MS)
        reset_on_a_phone(*(context.new_page() for context in contexts), owner, mail[1])
    finally:
        for context in contexts:
            context.close()


def reset_on_a_phone(other_device: Any, phone: Any, owner: Any, inbox: Inbox) -> None:
    sign_up(other_device, owner)  # still signed in there when the password changes

    phone.goto("/login")
    phone.get_by_role("link", name="Forgot your password?").click()
    phone.get_by_label(re.compile("Email")).fill(owner.email)
    phone.get_by_role("button", name="Email me a link").click()
    expect(phone.get_by_text(re.compile("If an account uses"))).to_be_visible()

    phone.goto(reset_link(inbox, owner.email))
    phone.get_by_label(re.compile("New password")).fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Save the new password").click()
    expect(phone).to_have_url(re.compile(r"/login"))
    expect(phone.get_by_role("status")).to_contain_text("every device was signed out")

    other_device.goto("/sites")
    expect(other_device).to_have_url(re.compile(r"/login"))  # the other device's session ended

    phone.get_by_label(re.compile("Email")).fill(owner.email)
    phone.get_by_label(re.compile("^Password")).fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(
        phone.get_by_text(re.compile("Wrong email or password")).first
    ).to_be_visible()  # the old one no longer works
    phone.get_by_label(re.compile("^Password")).fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(re.compile(r"/sites$"))
