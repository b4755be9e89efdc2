"""Each role starts on its own home, with a header offering only what that role can use; owner wording stays with
owners; error pages keep the signed-in header."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role, UserRole
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up

OWNER_LINKS = ["Share now", "My cameras", "Devices", "Requests"]
INVESTIGATOR_LINKS = ["Sent requests", "Find cameras"]
DESK_LINKS = ["Live desk", "Live audit"]
COORDINATOR_LINKS = ["My district", "Members", "Coverage", "Announcements"]
ADMIN_LINKS = ["Accounts", "Districts", "Delivery"]
EVERYONE = ["Notifications", "Account"]
OWNER_WORDING = [
    "Camera owners manage their sites",
    "Who accessed my information",
    "every site and every camera",
    "Delete my account and all my cameras",
    "never gives anyone your video",
]


async def signed_in(db: AsyncSession, client: Client, email: str, *roles: Role) -> None:
    """A new account with these roles (an agency and a district where they need one), signed in on `client`."""
    user = await accounts.create_user(
        db, email=email, password=PASSWORD, display_name="Sam Staff", roles=roles, agency_name="Milwaukee PD",
        district_name="Third Ward BID",
    )  # fmt: skip
    user.totp_secret, user.totp_confirmed_at = pyotp.random_base32(), dt.datetime.now(dt.UTC)
    await db.commit()
    credentials = {"email": email, "password": PASSWORD, "totp_code": pyotp.TOTP(user.totp_secret).now()}
    response = await client.send_json("POST", "/api/v1/auth/login", credentials)
    assert response.status_code == 200, response.text


def nav_links(page: str) -> list[str]:
    """The link texts of the header's navigation, in order (a count of unread notifications left out)."""
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S)
    assert nav is not None, "the page has no main navigation"
    return [re.sub(r"<[^>]+>.*", "", text).strip() for text in re.findall(r"<a [^>]*>(.*?)</a>", nav.group(1), re.S)]


@pytest.mark.parametrize(
    ("roles", "home", "heading", "links"),
    [
        ((Role.INVESTIGATOR,), "/console/requests", "Sent requests", INVESTIGATOR_LINKS),
        ((Role.LIVE_DESK,), "/live", "Live desk", DESK_LINKS),
        ((Role.COORDINATOR,), "/district", "My district", COORDINATOR_LINKS),
        ((Role.ADMIN,), "/admin/users", None, ADMIN_LINKS),
        ((Role.INVESTIGATOR, Role.ADMIN), "/console/requests", "Sent requests", INVESTIGATOR_LINKS + ADMIN_LINKS),
        ((Role.LIVE_DESK, Role.INVESTIGATOR), "/console/requests", "Sent requests", INVESTIGATOR_LINKS + DESK_LINKS),
    ],
)
async def test_each_role_lands_on_its_own_home_with_only_its_links(
    db: AsyncSession, client: Client, roles: tuple[Role, ...], home: str, heading: str | None, links: list[str]
) -> None:
    await signed_in(db, client, "staff@example.org", *roles)
    for start in ("/", "/console", "/signup"):
        landed = await client.get(start)
        assert landed.status_code == 200 and str(landed.url) == f"http://testserver.local{home}", start
    if heading:
        assert f"<h1>{heading}" in landed.text or f">{heading}</h1>" in landed.text
    assert nav_links(landed.text) == [*links, *EVERYONE]
    for wording in OWNER_WORDING:
        assert wording not in landed.text, wording
    account = await client.get("/account")
    assert account.status_code == 200
    for wording in OWNER_WORDING:
        assert wording not in account.text, wording
    assert "Download everything Porchlight holds about you: your account and sign-ins." in account.text
    assert "This removes your account and signs you out everywhere." in account.text
    for link in links:  # every link of the header opens a page this person may see
        href = re.search(rf'<a href="([^"]+)"[^>]*>{link}</a>', landed.text).group(1)
        assert (await client.get(href)).status_code == 200, href


async def test_an_owner_keeps_the_owner_home_navigation_and_wording(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    landed = await client.get("/")
    assert str(landed.url) == "http://testserver.local/sites"
    assert nav_links(landed.text) == [*OWNER_LINKS, *EVERYONE]
    assert 'aria-current="page"' in re.search(r'<a href="/sites"[^>]*>', landed.text).group(0)
    account = (await client.get("/account")).text
    assert "Who accessed my information" in account and "every site and every camera" in account
    assert "Delete my account and all my cameras" in account


async def test_an_owner_who_is_also_an_administrator_gets_both_in_order(db: AsyncSession, client: Client) -> None:
    await sign_up(client, "owner@example.com")
    owner = await accounts.get_user_by_email(db, "owner@example.com")
    db.add(UserRole(user_id=owner.id, role=Role.ADMIN.value))
    await db.commit()
    landed = await client.get("/")
    assert str(landed.url) == "http://testserver.local/sites"
    assert nav_links(landed.text) == [*OWNER_LINKS, *ADMIN_LINKS, *EVERYONE]


async def test_a_coordinator_home_names_their_district_and_others_may_not_open_it(
    db: AsyncSession, client: Client, other_client: Client
) -> None:
    await signed_in(db, client, "chris@bid.example", Role.COORDINATOR)
    home = await client.get("/district")
    assert home.status_code == 200 and "You coordinate <strong>Third Ward BID</strong>" in home.text
    assert "never sees footage" in home.text
    await signed_in(db, other_client, "det@mpd.example", Role.INVESTIGATOR)
    assert (await other_client.get("/district")).status_code == 403
    await other_client.send_json("POST", "/api/v1/auth/logout")
    await sign_up(other_client, "owner@example.com")
    assert (await other_client.get("/district")).status_code == 403


async def test_an_anonymous_visitor_sees_the_public_start_page(client: Client) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "Your cameras, your call." in page.text
    assert nav_links(page.text) == ["Sign in", "Sign up"]
    assert (await client.get("/console", follow_redirects=False)).headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("roles", "links"),
    [((Role.INVESTIGATOR,), INVESTIGATOR_LINKS), ((Role.ADMIN,), ADMIN_LINKS), ((Role.LIVE_DESK,), DESK_LINKS)],
)
async def test_error_pages_keep_the_signed_in_header(
    db: AsyncSession, client: Client, roles: tuple[Role, ...], links: list[str]
) -> None:
    await signed_in(db, client, "staff@example.org", *roles)
    missing = await client.get("/no/such/page")  # no route: no handler ran to load the viewer
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert nav_links(missing.text) == [*links, *EVERYONE] and "Sign out" in missing.text
    refused = await client.get("/sites")  # a page of another role
    assert refused.status_code == 403 and nav_links(refused.text) == [*links, *EVERYONE]
    offline = await client.get("/offline")
    assert offline.status_code == 200 and "You are offline" in offline.text
    assert nav_links(offline.text) == [*links, *EVERYONE]
    for wording in OWNER_WORDING:
        assert wording not in missing.text + refused.text + offline.text, wording


async def test_error_pages_show_an_owner_their_header_and_a_stranger_the_public_one(client: Client) -> None:
    stranger = await client.get("/no/such/page")
    assert stranger.status_code == 404 and nav_links(stranger.text) == ["Sign in", "Sign up"]
    await sign_up(client, "owner@example.com")
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404 and nav_links(missing.text) == [*OWNER_LINKS, *EVERYONE]
    offline = await client.get("/offline")
    assert nav_links(offline.text) == [*OWNER_LINKS, *EVERYONE] and 'class="count"' not in offline.text
