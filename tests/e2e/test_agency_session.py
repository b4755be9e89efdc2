"""An agency session unused for 30 minutes ends (CJIS): a minute before, the console offers to stay signed in;
at the limit, what the investigator typed is kept, and after signing in again they are back on the same page
with it filled in. The page's clock is Playwright's, moved forward; the server's idle time is set in the database."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from backend.accounts import service as accounts
from backend.accounts.models import UserSession
from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, log_in_agency

pytestmark = pytest.mark.e2e


def _idle_for(database_url: str, email: str, minutes: int) -> None:
    async def work(db) -> None:  # type: ignore[no-untyped-def]
        user = await accounts.get_user_by_email(db, email)
        for session in await db.scalars(select(UserSession).where(UserSession.user_id == user.id)):
            session.last_seen_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
        await db.commit()

    seed.run(database_url, work)


def test_the_console_warns_before_the_idle_limit_and_keeps_what_was_typed(page: Any, server_database: str) -> None:
    detective, secret = f"idle-{uuid.uuid4().hex[:8]}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    page.set_viewport_size(DESK["viewport"])
    log_in_agency(page, detective, DETECTIVE_PASSWORD, secret)
    page.clock.install()
    page.goto("/console/search")
    page.get_by_label("Address or place").fill("Alley behind 2200 N Farwell")
    warning = page.get_by_role("alertdialog")
    expect(warning).to_be_hidden()

    page.clock.fast_forward("29:01")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("signed out in 1 minute")
    page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()

    _idle_for(server_database, detective, minutes=31)  # the server has not seen this session for 31 minutes
    page.clock.fast_forward("30:01")
    expect(page.get_by_label("Email")).to_be_visible()  # signed out: the sign-in page
    page.get_by_label("Email").fill(detective)
    page.get_by_label("Password").fill(DETECTIVE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # The code of the next 30 s step: the current one was used at the first sign-in, and a code works once.
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/search$"))
    expect(page.get_by_label("Address or place")).to_have_value("Alley behind 2200 N Farwell")
    expect(page.get_by_role("status").filter(has_text="what you had typed is back")).to_be_visible()
