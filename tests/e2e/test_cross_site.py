"""A police access is recorded only when the investigator asks for it: a link on another site that opens a contact
card or a clip arrives without the agency session (SameSite=Strict), so it records nothing in the owner's access
log (issue 14, defect 4). Driven in Chromium, which applies SameSite as a person's browser does."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from backend.requests.models import CustodyAction, CustodyEvent
from tests.e2e import seed
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, log_in_agency

pytestmark = pytest.mark.e2e

ATTACKER = "http://attacker.example"


def _contact_views(database_url: str, request_id: str) -> int:
    async def work(db) -> int:  # type: ignore[no-untyped-def]
        return await db.scalar(
            select(func.count())
            .select_from(CustodyEvent)
            .where(
                CustodyEvent.request_id == uuid.UUID(request_id), CustodyEvent.action == CustodyAction.CONTACT_VIEWED
            )
        )

    return seed.run(database_url, work)


def test_a_link_on_another_site_cannot_record_a_police_access(page: Any, server_url: str, server_database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    detective, secret = f"xsite-{tag}@mpd.example", pyotp.random_base32()
    seed.investigator(server_database, detective, DETECTIVE_PASSWORD, totp_secret=secret)
    camera = seed.owner_with_camera(server_database, f"xsite-{tag}@example.org", PASSWORD, camera=f"Gate {tag}")
    (request_id,) = seed.send_request(server_database, detective, [camera], f"MPD-{tag}")
    page.set_viewport_size(DESK["viewport"])
    log_in_agency(page, detective, DETECTIVE_PASSWORD, secret)
    cookie = next(c for c in page.context.cookies() if c["name"] == "porchlight_session")
    assert cookie["sameSite"] == "Strict"

    target = f"{server_url}/api/v1/agency/requests/{request_id}/contact"
    page.route(f"{ATTACKER}/**", lambda route: route.fulfill(
        content_type="text/html", body=f'<a id="bait" href="{target}">You have a message</a>'
    ))  # fmt: skip
    page.goto(f"{ATTACKER}/")
    with page.expect_navigation():
        page.click("#bait")
    assert "401" in page.content() or "Sign in" in page.content()
    assert _contact_views(server_database, request_id) == 0

    # The investigator's own visit (same site) still works, and is recorded.
    page.goto(target)
    assert "+1 414 555 0134" in page.content()
    assert _contact_views(server_database, request_id) == 1
