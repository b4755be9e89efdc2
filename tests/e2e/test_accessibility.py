"""axe-core (WCAG 2.1 A and AA rules) on every page a person reaches, on a phone and on a desktop: the anonymous
pages, an owner's pages with a site, a camera and a footage request, an investigator's console, and the pages of
the live desk, a district coordinator and an administrator.

axe-core is an npm package locked in tests/e2e/axe (installed by `make test`), run in the page through the DevTools
protocol, so the app's Content-Security-Policy stays as strict as it is and the app never serves it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import AGENCY_ROLES, Role
from tests.e2e import seed
from tests.e2e.conftest import PHONE
from tests.e2e.helpers import DESK, DETECTIVE_PASSWORD, PASSWORD, Owner, log_in, log_in_agency

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENS = {"phone": PHONE, "desktop": DESK}


def violations(page: Page) -> list[str]:
    """What axe finds on the page as it is now, one line per rule: its id, impact, help and the first elements."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs it (npm ci --prefix tests/e2e/axe)", pytrace=False)
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", RULES)["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in found
    ]


def check(page: Page, paths: list[str]) -> dict[str, list[str]]:
    problems = {}
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        if found := violations(page):
            problems[path] = found
    return problems


@pytest.fixture(scope="module")
def people(server_database: str) -> Iterator[dict[str, Any]]:
    """An owner with a site, a camera and a footage request from an investigator (with a second factor), and a
    second investigator of the same agency (a code is good for one sign-in: one each for phone and desktop)."""
    tag = uuid.uuid4().hex[:8]
    owner = Owner(email=f"axe-{tag}@example.org", password=PASSWORD, name="Dana Rivera")
    detectives = {screen: (f"axe-{screen}-{tag}@mpd.example", pyotp.random_base32()) for screen in SCREENS}
    for email, secret in detectives.values():
        seed.investigator(server_database, email, DETECTIVE_PASSWORD, totp_secret=secret)
    camera = seed.owner_with_camera(server_database, owner.email, owner.password, camera=f"Gate {tag}")
    request_id = seed.send_request(server_database, detectives["phone"][0], [camera], f"AXE-{tag}")[0]
    yield {"owner": owner, "detectives": detectives, "request": request_id}


def test_axe_runs_and_reports(page: Page) -> None:
    """The check itself: an image without a text alternative and an input without a label are reported."""
    page.goto("/login")
    assert violations(page) == []
    page.evaluate(
        """() => { const img = document.createElement('img'); img.src = '/favicon.ico';
                   const input = document.createElement('input');
                   document.querySelector('main').append(img, input); }"""
    )
    found = " ".join(violations(page))
    assert "image-alt" in found and "label" in found


@pytest.mark.parametrize("screen", SCREENS)
def test_anonymous_pages(new_context: Any, screen: str) -> None:
    page = new_context(**SCREENS[screen]).new_page()
    problems = check(page, ["/login", "/signup", "/password/forgot", "/no-such-page"])
    assert not problems, problems


@pytest.mark.parametrize("screen", SCREENS)
def test_owner_pages(new_context: Any, people: dict[str, Any], screen: str) -> None:
    page = new_context(**SCREENS[screen]).new_page()
    log_in(page, people["owner"])
    page.get_by_role("link", name=re.compile("Corner bakery")).first.click()
    site = page.url.split("://", 1)[1].split("/", 1)[1]
    paths = ["/", "/sites", f"/{site}", f"/{site}/edit", f"/{site}/cameras/new", "/sites/new", "/requests",
             f"/requests/{people['request']}", "/notifications", "/settings/notifications", "/account",
             "/account/access", "/devices", "/devices/add", "/share", "/share/history"]  # fmt: skip
    problems = check(page, paths)
    assert not problems, problems


def staff(database_url: str, roles: list[Role], **names: str) -> tuple[str, str]:
    """An account with these roles and a second factor set up (asked of agency roles); its email and secret."""
    email, secret = f"axe-{uuid.uuid4().hex[:10]}@city.example", pyotp.random_base32()

    async def work(db: AsyncSession) -> None:
        user = await accounts.create_user(
            db, email=email, password=DETECTIVE_PASSWORD, display_name="Staff", roles=roles, **names
        )
        user.totp_secret, user.totp_confirmed_at = secret, dt.datetime.now(dt.UTC)
        await db.commit()

    seed.run(database_url, work)
    return email, secret


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize(
    ("roles", "names", "paths"),
    [
        ([Role.ADMIN], {}, ["/admin/users", "/admin/push", "/account"]),
        ([Role.LIVE_DESK], {"agency_name": "Milwaukee PD"}, ["/live", "/live/audit", "/account"]),
        ([Role.COORDINATOR], {"district_name": "Eastside BID"}, ["/district", "/account"]),
    ],
    ids=["admin", "live-desk", "coordinator"],
)
def test_staff_pages(
    new_context: Any, server_database: str, screen: str, roles: list[Role], names: dict[str, str], paths: list[str]
) -> None:
    email, secret = staff(server_database, roles, **names)
    page = new_context(**SCREENS[screen]).new_page()
    if AGENCY_ROLES & set(roles):
        log_in_agency(page, email, DETECTIVE_PASSWORD, secret, lands_on=paths[0])
    else:  # no second factor asked of them
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(DETECTIVE_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(f"{paths[0]}$"))
    problems = check(page, paths)
    assert not problems, problems


@pytest.mark.parametrize("screen", SCREENS)
def test_investigator_pages(new_context: Any, people: dict[str, Any], screen: str) -> None:
    page = new_context(**SCREENS[screen]).new_page()
    email, secret = people["detectives"][screen]
    log_in_agency(page, email, DETECTIVE_PASSWORD, secret)
    lat, lon = seed.INCIDENT
    paths = ["/console/requests", f"/console/search?latitude={lat}&longitude={lon}&radius_m=200",
             f"/console/requests/{people['request']}"]  # fmt: skip
    problems = check(page, paths)
    assert not problems, problems
