"""Administration: agencies picked from a list, a confirmed second-factor reset, disabling and enabling accounts,
changing roles, and the first password an administrator gives replaced at the first sign-in."""

from __future__ import annotations

import datetime as dt
import logging
import re
from html import unescape

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Agency, Role, User
from backend.accounts.passwords import verify_password
from backend.errors import InvalidInput
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up

AGENCY = "Milwaukee Police Department"
FIRST_PASSWORD = "given-in-person-lantern-5"
OWN_PASSWORD = "my-own-porch-light-88"


async def admin(db: AsyncSession, client: Client, email: str = "admin@example.org") -> User:
    user = await accounts.create_user(db, email=email, password=PASSWORD, display_name="Alex Admin", roles=[Role.ADMIN])
    signed_in = await client.send_json("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return user


async def detective(db: AsyncSession, email: str = "det@mpd.example", agency: str = AGENCY) -> User:
    user = await accounts.create_user(
        db, email=email, password=PASSWORD, display_name="Det. Ivy", roles=[Role.INVESTIGATOR], agency_name=agency
    )
    user.totp_secret, user.totp_confirmed_at = pyotp.random_base32(), dt.datetime.now(dt.UTC)
    await db.commit()
    return user


async def sign_in_with_code(client: Client, user: User, password: str = PASSWORD) -> None:
    credentials = {"email": user.email, "password": password, "totp_code": pyotp.TOTP(user.totp_secret).now()}
    signed_in = await client.send_json("POST", "/api/v1/auth/login", credentials)
    assert signed_in.status_code == 200, signed_in.text


def beside(page: str, field: str) -> str:
    """The message shown beside a form field."""
    found = re.search(rf'<p class="error" id="f-{field}-error">([^<]*)</p>', page)
    return unescape(found.group(1)) if found else ""


def refusal(page: str) -> str:
    found = re.search(r'data-testid="refused">([^<]*)</p>', page)
    return unescape(found.group(1)) if found else ""


async def count(db: AsyncSession, model: type) -> int:
    return await db.scalar(select(func.count()).select_from(model))


NEW_ACCOUNT = {"display_name": "Det. Lee", "email": "lee@mpd.example", "role": "investigator",
               "password": FIRST_PASSWORD}  # fmt: skip


async def test_agencies_are_picked_from_the_list_and_a_new_one_is_made_only_on_purpose(
    client: Client, db: AsyncSession
) -> None:
    await detective(db)
    await admin(db, client)
    page = await client.get("/admin/users")
    assert f'<option value="{AGENCY}">{AGENCY}</option>' in page.text
    assert "This creates a new agency" in page.text

    typo = await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": "Milwaukee Police Departmnet"})
    assert typo.status_code == 400
    assert beside(typo.text, "agency").startswith("Choose the agency from the list")
    assert 'value="Det. Lee"' in typo.text and FIRST_PASSWORD not in typo.text  # kept to correct, password not
    same_letters = await client.submit("/admin/users", {**NEW_ACCOUNT, "new_agency": "milwaukee police  department"})
    assert same_letters.status_code == 400
    assert beside(same_letters.text, "new_agency") == f"The agency {AGENCY} exists already: choose it from the list"
    both = await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": AGENCY, "new_agency": "County Sheriff"})
    assert both.status_code == 400 and "not both" in beside(both.text, "new_agency")
    common = await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": AGENCY, "password": "password"})
    assert common.status_code == 400 and "most common passwords" in beside(common.text, "password")
    # Every problem at once, in the form's order.
    several = await client.submit("/admin/users", {**NEW_ACCOUNT, "email": "lee", "agency": ""})
    assert several.status_code == 400
    assert beside(several.text, "email") and beside(several.text, "agency").startswith("Choose the agency")
    assert several.text.index('href="#f-email"') < several.text.index('href="#f-agency"')
    assert await count(db, Agency) == 1 and await accounts.get_user_by_email(db, "lee@mpd.example") is None

    picked = await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": AGENCY})
    assert picked.status_code == 200 and "Created lee@mpd.example" in picked.text
    lee = await accounts.get_user_by_email(db, "lee@mpd.example")
    assert (await db.get(Agency, lee.agency_id)).name == AGENCY and await count(db, Agency) == 1

    made = await client.submit(
        "/admin/users", {**NEW_ACCOUNT, "email": "sam@sheriff.example", "new_agency": " County  Sheriff "}
    )
    assert "Created sam@sheriff.example" in made.text
    sam = await accounts.get_user_by_email(db, "sam@sheriff.example")
    assert (await db.get(Agency, sam.agency_id)).name == "County Sheriff" and await count(db, Agency) == 2
    assert '<option value="County Sheriff">' in (await client.get("/admin/users")).text


async def test_the_service_refuses_an_unknown_agency_unless_asked_to_create_it(db: AsyncSession) -> None:
    await detective(db)
    with pytest.raises(InvalidInput) as refused:
        await accounts.create_user(
            db, email="x@example.org", password=PASSWORD, display_name="X", roles=[Role.INVESTIGATOR],
            agency_name="Milwaukee Police Dept", create_agency=False,
        )  # fmt: skip
    assert refused.value.errors == {"agency": accounts.UNKNOWN_AGENCY}
    await db.rollback()
    assert await count(db, Agency) == 1 and await accounts.get_user_by_email(db, "x@example.org") is None


async def test_a_second_factor_is_reset_only_after_a_confirmation(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    ivy = await detective(db)
    await sign_in_with_code(other_client, ivy)
    await admin(db, client)
    page = await client.get("/admin/users")
    assert f'href="/admin/users/{ivy.id}/reset-second-factor"' in page.text
    assert f'action="/admin/users/{ivy.id}/reset-second-factor"' not in page.text  # the list only links to the question

    question = await client.get(f"/admin/users/{ivy.id}/reset-second-factor")
    assert question.status_code == 200 and "Reset the second factor of Det. Ivy?" in question.text
    assert (
        f'action="/admin/users/{ivy.id}/reset-second-factor"' in question.text
        and 'href="/admin/users"' in question.text
    )
    await db.refresh(ivy)
    assert ivy.totp_confirmed_at is not None  # asking changed nothing
    assert (await other_client.get("/api/v1/me")).status_code == 200

    done = await client.submit(f"/admin/users/{ivy.id}/reset-second-factor", {})
    assert "The second factor of det@mpd.example was reset" in done.text
    await db.refresh(ivy)
    assert ivy.totp_secret is None and ivy.totp_confirmed_at is None
    assert (await other_client.get("/api/v1/me")).status_code == 401

    other_client.cookies.clear()
    owner = await sign_up(other_client, "owner@example.com")
    assert (await other_client.get(f"/admin/users/{ivy.id}/reset-second-factor")).status_code == 403
    assert (await client.get(f"/admin/users/{owner['id']}/reset-second-factor")).status_code == 404


async def test_a_disabled_account_is_signed_out_cannot_sign_in_and_shows_as_disabled(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    ivy = await detective(db)
    await sign_in_with_code(other_client, ivy)
    alex = await admin(db, client)
    listed = await client.get("/admin/users")
    assert f'action="/admin/users/{alex.id}/disable"' not in listed.text  # no button to disable oneself

    page = await client.submit(f"/admin/users/{ivy.id}/disable", {})
    assert "det@mpd.example was disabled" in page.text
    card = re.search(rf'id="account-{ivy.id}".*?</li>', page.text, re.S).group(0)
    assert '<span class="badge offline">Disabled</span>' in card and "Disabled: cannot sign in" in card
    assert f'action="/admin/users/{ivy.id}/enable"' in card
    assert (await other_client.get("/api/v1/me")).status_code == 401  # the session ended at once
    assert str((await other_client.get("/console/requests")).url).startswith("http://testserver.local/login")

    other_client.cookies.clear()
    refused = await other_client.submit("/login", {"email": ivy.email, "password": PASSWORD, "next": ""})
    assert refused.status_code == 403 and 'action="/login"' in refused.text  # the sign-in page, not an error page
    assert "This account is disabled. Ask your agency's Porchlight administrator to enable it." in unescape(
        refused.text
    )

    enabled = await client.submit(f"/admin/users/{ivy.id}/enable", {})
    assert "det@mpd.example was enabled" in enabled.text
    setup = await other_client.submit("/login", {"email": ivy.email, "password": PASSWORD, "next": ""})
    assert "/login/code" in str(setup.url)


async def test_an_administrator_cannot_disable_themselves_and_only_administrators_disable(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    ivy = await detective(db)
    alex = await admin(db, client)
    refused = await client.submit(f"/admin/users/{alex.id}/disable", {})
    assert refused.status_code == 403
    assert refusal(refused.text) == "You cannot disable your own account; ask another administrator"
    await db.refresh(alex)
    assert alex.disabled_at is None and (await client.get("/api/v1/me")).status_code == 200

    # Another administrator's account can be.
    other_admin = await accounts.create_user(
        db, email="admin2@example.org", password=PASSWORD, display_name="Bo Admin", roles=[Role.ADMIN]
    )
    assert "admin2@example.org was disabled" in (await client.submit(f"/admin/users/{other_admin.id}/disable", {})).text

    owner = await sign_up(other_client, "owner@example.com")
    assert (await other_client.submit(f"/admin/users/{ivy.id}/disable", {})).status_code == 403
    assert (await other_client.submit(f"/admin/users/{ivy.id}/enable", {})).status_code == 403
    assert (await client.submit(f"/admin/users/{owner['id']}/disable", {})).status_code == 404
    await db.refresh(ivy)
    assert ivy.disabled_at is None


async def test_roles_are_changed_with_checkboxes(client: Client, other_client: Client, db: AsyncSession) -> None:
    ivy = await detective(db)
    await sign_in_with_code(other_client, ivy)
    await admin(db, client)
    page = await client.get("/admin/users")
    card = re.search(rf'id="account-{ivy.id}".*?</li>', page.text, re.S).group(0)
    assert '<input type="checkbox" name="roles" value="investigator" checked>' in card
    assert 'value="live_desk">' in card and 'value="admin">' in card
    assert 'value="coordinator"' not in card  # not in a district

    added = await client.submit(f"/admin/users/{ivy.id}/roles", {"roles": ["investigator", "live_desk"]})
    assert "det@mpd.example has new roles" in added.text
    await db.refresh(ivy, ["roles"])
    assert ivy.role_names == {Role.INVESTIGATOR, Role.LIVE_DESK}
    assert (await other_client.get("/api/v1/me")).json()["roles"] == ["investigator", "live_desk"]  # still signed in

    await client.submit(f"/admin/users/{ivy.id}/roles", {"roles": "live_desk"})
    await db.refresh(ivy, ["roles"])
    assert ivy.role_names == {Role.LIVE_DESK}
    assert (await other_client.get("/api/v1/me")).status_code == 401  # a role taken away: signed out everywhere

    for roles, message in [
        ([], "Tick at least one role. To stop someone signing in, disable the account"),
        (["coordinator"], "This account belongs to no district: it cannot be coordinator"),
        (["owner"], "Not a role given here: owner"),
    ]:
        refused = await client.submit(f"/admin/users/{ivy.id}/roles", {"roles": roles})
        assert refused.status_code == 400 and refusal(refused.text) == message
    await db.refresh(ivy, ["roles"])
    assert ivy.role_names == {Role.LIVE_DESK}

    owner = await sign_up(other_client, "owner@example.com")
    assert (await other_client.submit(f"/admin/users/{ivy.id}/roles", {"roles": "admin"})).status_code == 403
    assert (await client.submit(f"/admin/users/{owner['id']}/roles", {"roles": "admin"})).status_code == 404
    await db.refresh(ivy, ["roles"])
    assert ivy.role_names == {Role.LIVE_DESK}


async def test_an_administrator_cannot_remove_their_own_administrator_role(client: Client, db: AsyncSession) -> None:
    alex = await admin(db, client)
    coordinator = await accounts.create_user(
        db, email="coord@example.org", password=PASSWORD, display_name="Chris", roles=[Role.COORDINATOR],
        district_name="Third Ward BID",
    )  # fmt: skip
    page = await client.get("/admin/users")
    assert "You cannot remove your own administrator role." in page.text
    assert 'data-testid="staff-account"' in page.text and "coord@example.org" in page.text

    refused = await client.submit(f"/admin/users/{alex.id}/roles", {"roles": []})
    assert refused.status_code == 400
    assert refusal(refused.text) == "You cannot remove your own administrator role; ask another administrator"
    await db.refresh(alex, ["roles"])
    assert alex.role_names == {Role.ADMIN} and (await client.get("/admin/users")).status_code == 200

    # Giving a coordinator the administrator role, and taking it back, works.
    await client.submit(f"/admin/users/{coordinator.id}/roles", {"roles": ["coordinator", "admin"]})
    await db.refresh(coordinator, ["roles"])
    assert coordinator.role_names == {Role.COORDINATOR, Role.ADMIN}
    await client.submit(f"/admin/users/{coordinator.id}/roles", {"roles": ["coordinator"]})
    await db.refresh(coordinator, ["roles"])
    assert coordinator.role_names == {Role.COORDINATOR}


async def test_a_new_agency_account_chooses_its_own_password_before_anything_else(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    await detective(db)
    await admin(db, client)
    await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": AGENCY})
    listed = await client.get("/admin/users")
    assert "Has not chosen a password yet" in listed.text

    # First sign-in: the password given in person, then the authenticator app, then the password page.
    setup = await other_client.submit("/login", {"email": "lee@mpd.example", "password": FIRST_PASSWORD, "next": ""})
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', setup.text).group(1).replace(" ", "")
    landed = await other_client.submit("/login/code", {"code": pyotp.TOTP(secret).now(), "next": ""})
    assert str(landed.url) == "http://testserver.local/password/choose"
    assert "<h1>Choose your password</h1>" in landed.text and 'autocomplete="new-password"' in landed.text

    # Nothing else is reachable: pages lead back here, the API says why.
    for path in ("/console", "/console/requests", "/account", "/notifications", "/admin/users"):
        assert str((await other_client.get(path)).url) == "http://testserver.local/password/choose", path
    api = await other_client.get("/api/v1/me")
    assert api.status_code == 403 and api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["title"] == "Choose your password first" and "/password/choose" in api.json()["detail"]
    searched = await other_client.get("/api/v1/agency/requests")
    assert searched.status_code == 403

    # The project's password rules apply, and the given password is not kept.
    for weak, message in [
        ("short", "Password must be at least 8 characters"),
        ("password1", "Password is one of the most common passwords; choose another"),
        ("lee@mpd.example", "Password must not be your email address"),
        (FIRST_PASSWORD, "Choose a password different from the one you were given"),
    ]:
        refused = await other_client.submit("/password/choose", {"new_password": weak})
        assert refused.status_code == 400 and beside(refused.text, "new_password") == message, weak
    lee = await accounts.get_user_by_email(db, "lee@mpd.example")
    assert lee.must_change_password and verify_password(lee.password_hash, FIRST_PASSWORD)

    chosen = await other_client.submit("/password/choose", {"new_password": OWN_PASSWORD})
    assert chosen.status_code == 200 and str(chosen.url).startswith("http://testserver.local/console/requests")
    assert (await other_client.get("/api/v1/me")).json()["email"] == "lee@mpd.example"
    assert (await other_client.get("/console/requests")).status_code == 200
    assert str((await other_client.get("/password/choose")).url) == "http://testserver.local/console/requests"
    await db.refresh(lee)
    assert not lee.must_change_password and verify_password(lee.password_hash, OWN_PASSWORD)
    assert "Has not chosen a password yet" not in (await client.get("/admin/users")).text

    other_client.cookies.clear()
    old = await other_client.send_json(
        "POST", "/api/v1/auth/login", {"email": "lee@mpd.example", "password": FIRST_PASSWORD, "totp_code": "123456"}
    )
    assert old.status_code == 400  # the given password no longer signs in


async def test_the_first_password_can_be_replaced_through_the_api(client: Client, db: AsyncSession) -> None:
    user = await accounts.create_user(
        db, email="coord@example.org", password=FIRST_PASSWORD, display_name="Chris", roles=[Role.COORDINATOR],
        district_name="Third Ward BID", must_change_password=True,
    )  # fmt: skip
    await client.send_json("POST", "/api/v1/auth/login", {"email": user.email, "password": FIRST_PASSWORD})
    assert (await client.get("/api/v1/me")).status_code == 403
    changed = await client.send_json(
        "POST", "/api/v1/me/password", {"current_password": FIRST_PASSWORD, "new_password": OWN_PASSWORD}
    )
    assert changed.status_code == 204
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_someone_with_their_own_password_cannot_use_the_first_password_page(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    assert str((await client.get("/password/choose")).url) == "http://testserver.local/sites"
    refused = await client.submit("/password/choose", {"new_password": OWN_PASSWORD})
    assert refused.status_code == 403
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_admin_actions_are_logged_with_ids_only(
    client: Client, db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    ivy = await detective(db)
    alex = await admin(db, client)
    with caplog.at_level(logging.INFO, logger="porchlight.admin"):
        await client.submit("/admin/users", {**NEW_ACCOUNT, "agency": AGENCY})
        await client.submit(f"/admin/users/{ivy.id}/disable", {})
        await client.submit(f"/admin/users/{ivy.id}/enable", {})
        await client.submit(f"/admin/users/{ivy.id}/roles", {"roles": ["live_desk"]})
        await client.submit(f"/admin/users/{ivy.id}/reset-second-factor", {})
    lee = await accounts.get_user_by_email(db, "lee@mpd.example")
    lines = [r.getMessage() for r in caplog.records if r.name == "porchlight.admin"]
    assert lines == [
        f"admin {alex.id}: created account {lee.id} (role investigator)",
        f"admin {alex.id}: disabled account {ivy.id}",
        f"admin {alex.id}: enabled account {ivy.id}",
        f"admin {alex.id}: changed the roles of account {ivy.id} (added live_desk; removed investigator)",
        f"admin {alex.id}: reset the second factor of account {ivy.id}",
    ]
    text = "\n".join(lines)
    for secret in (FIRST_PASSWORD, "lee@mpd.example", "det@mpd.example", "Det. Lee", "Det. Ivy"):
        assert secret not in text
