"""Agency accounts sign in with a password and a TOTP code, set up by QR code at the first sign-in."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import unquote

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import LoginAttempt, Role, User, UserSession
from backend.accounts.pages import TICKET_COOKIE
from tests.conftest import Client
from tests.helpers import sign_up

EMAIL = "det@mpd.example"
PASSWORD = "detective-lantern-9"


@pytest.fixture
async def detective(db: AsyncSession) -> User:
    return await accounts.create_user(
        db, email=EMAIL, password=PASSWORD, display_name="Det. Ivy", roles=[Role.INVESTIGATOR], agency_name="MPD"
    )


async def confirmed(db: AsyncSession, user: User) -> str:
    user.totp_secret, user.totp_confirmed_at = pyotp.random_base32(), dt.datetime.now(dt.UTC)
    await db.commit()
    return user.totp_secret


async def password_step(client: Client, next_: str = "/console/requests"):
    return await client.submit("/login", {"email": EMAIL, "password": PASSWORD, "next": next_})


def secret_on(page_text: str) -> str:
    return re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page_text).group(1).replace(" ", "")


async def test_first_sign_in_sets_up_the_second_factor_by_qr_code(
    client: Client, detective: User, db: AsyncSession
) -> None:
    setup = await password_step(client)
    assert str(setup.url).endswith("/login/setup?next=%2Fconsole%2Frequests")
    assert 'alt="QR code to add Porchlight to an authenticator app"' in setup.text
    assert 'src="data:image/svg+xml' in setup.text
    secret = secret_on(setup.text)
    assert (await client.get("/api/v1/me")).status_code == 401  # a right password alone is no session
    wrong = await client.submit("/login/code", {"code": "000000", "next": "/console/requests"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.text
    assert secret_on(wrong.text) == secret  # the same key stays while setting up

    signed_in = await client.submit("/login/code", {"code": pyotp.TOTP(secret).now(), "next": "/console/requests"})
    assert signed_in.status_code == 200 and str(signed_in.url).endswith("/console/requests")
    assert (await client.get("/api/v1/me")).json()["email"] == EMAIL
    assert TICKET_COOKIE not in client.cookies
    await db.refresh(detective)
    assert detective.totp_confirmed_at is not None and detective.totp_secret == secret


async def test_later_sign_ins_ask_only_for_the_code_and_a_code_works_once(
    client: Client, other_client: Client, detective: User, db: AsyncSession
) -> None:
    secret = await confirmed(db, detective)
    page = await password_step(client)
    assert "/login/code" in str(page.url) and "Enter your code" in page.text and "QR code" not in page.text
    code = pyotp.TOTP(secret).now()
    assert (await client.submit("/login/code", {"code": code, "next": ""})).status_code == 200
    assert str((await client.get("/")).url).endswith("/console/requests")

    await other_client.submit("/login", {"email": EMAIL, "password": PASSWORD, "next": ""})
    replay = await other_client.submit("/login/code", {"code": code, "next": ""})
    assert replay.status_code == 400 and "used already" in replay.text
    assert (await other_client.get("/api/v1/me")).status_code == 401


async def test_five_wrong_codes_lock_the_account(client: Client, detective: User, db: AsyncSession) -> None:
    secret = await confirmed(db, detective)
    await password_step(client)
    for _ in range(4):
        assert (await client.submit("/login/code", {"code": "123456", "next": ""})).status_code == 400
    locked = await client.submit("/login/code", {"code": "123456", "next": ""})
    assert locked.status_code == 429 and "locked for 15 more minutes" in locked.text
    assert locked.headers["retry-after"] == "900"
    right = await client.submit("/login/code", {"code": pyotp.TOTP(secret).now(), "next": ""})
    assert right.status_code == 429 and (await client.get("/api/v1/me")).status_code == 401
    wrong_codes = LoginAttempt.outcome == "wrong_code"
    assert await db.scalar(select(func.count()).select_from(LoginAttempt).where(wrong_codes)) == 5


async def test_a_missing_forged_or_expired_ticket_goes_back_to_the_password(
    client: Client, detective: User, db: AsyncSession
) -> None:
    await confirmed(db, detective)
    assert str((await client.get("/login/code")).url).endswith("/login?expired=1")
    await password_step(client)
    ticket = client.cookies[TICKET_COOKIE]
    user_id, expires, mac = unquote(ticket).split(".")
    client.cookies.set(TICKET_COOKIE, f"{user_id}.{int(expires) + 3600}.{mac}", path="/login")
    forged = await client.submit("/login/code", {"code": "123456", "next": ""})
    assert str(forged.url).endswith("/login?expired=1") and "took too long" in forged.text
    past = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).timestamp())
    stale = f"{user_id}.{past}.{accounts._ticket_mac('test-secret-key-not-for-production', detective, past)}"
    client.cookies.set(TICKET_COOKIE, stale, path="/login")
    assert str((await client.get("/login/code")).url).endswith("/login?expired=1")


async def test_owners_sign_in_without_a_second_factor(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    page = await client.submit("/login", {"email": "owner@example.com", "password": "lantern-by-the-door-42"})
    assert str(page.url).endswith("/sites") and TICKET_COOKIE not in client.cookies


async def test_api_sign_in_of_an_agency_account_needs_its_code(
    client: Client, detective: User, db: AsyncSession
) -> None:
    url = "/api/v1/auth/login"
    not_set_up = await client.send_json("POST", url, {"email": EMAIL, "password": PASSWORD})
    assert not_set_up.status_code == 403 and "scan the QR code" in not_set_up.json()["detail"]
    secret = await confirmed(db, detective)
    missing = await client.send_json("POST", url, {"email": EMAIL, "password": PASSWORD})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "totp_code"
    wrong = await client.send_json("POST", url, {"email": EMAIL, "password": PASSWORD, "totp_code": "999999"})
    assert wrong.status_code == 400 and wrong.json()["errors"] == [
        {"field": "totp_code", "message": "That code is not right. Check the app shows Porchlight's code and try again"}
    ]
    assert (await client.get("/api/v1/me")).status_code == 401
    right = await client.send_json(
        "POST", url, {"email": EMAIL, "password": PASSWORD, "totp_code": pyotp.TOTP(secret).now()}
    )
    assert right.status_code == 200 and right.json()["agency"] == "MPD"


async def admin(db: AsyncSession, client: Client) -> None:
    await accounts.create_user(
        db, email="admin@example.org", password=PASSWORD, display_name="Alex Admin", roles=[Role.ADMIN]
    )
    assert (
        await client.send_json("POST", "/api/v1/auth/login", {"email": "admin@example.org", "password": PASSWORD})
    ).status_code == 200


async def test_an_administrator_creates_agency_accounts_and_resets_a_second_factor(
    client: Client, other_client: Client, detective: User, db: AsyncSession
) -> None:
    await confirmed(db, detective)
    await admin(db, client)
    page = await client.get("/admin/users")
    assert "Det. Ivy" in page.text and "Set up" in page.text
    form = {"display_name": "Det. Lee", "email": "lee@mpd.example", "agency": "MPD", "role": "live_desk",
            "password": "another-lantern-77"}  # fmt: skip
    bad = await client.submit("/admin/users", {**form, "email": "lee", "agency": " "})
    assert bad.status_code == 400 and "Email is not in the expected format" in bad.text and "Agency" in bad.text
    assert 'value="Det. Lee"' in bad.text and "another-lantern-77" not in bad.text
    created = await client.submit("/admin/users", form)
    assert "Created lee@mpd.example" in created.text and created.text.count('data-testid="account"') == 2
    lee = await accounts.get_user_by_email(db, "lee@mpd.example")
    assert lee.role_names == {Role.LIVE_DESK} and lee.totp_secret is None

    reset = await client.submit(f"/admin/users/{detective.id}/reset-second-factor", {})
    assert "second factor of det@mpd.example was reset" in reset.text
    await db.refresh(detective)
    assert detective.totp_secret is None and detective.totp_confirmed_at is None
    setup_again = await other_client.submit("/login", {"email": EMAIL, "password": PASSWORD, "next": ""})
    assert "/login/setup" in str(setup_again.url)

    # Not for anyone else.
    other_client.cookies.clear()
    await sign_up(other_client, "owner@example.com")
    assert (await other_client.get("/admin/users")).status_code == 403
    assert (await other_client.submit(f"/admin/users/{detective.id}/reset-second-factor", {})).status_code == 403


async def test_the_demo_investigator_signs_in_with_the_printed_key(client: Client, db: AsyncSession) -> None:
    from backend import demo

    await demo.seed(db)
    login = next(login for login in demo.DEMO_LOGINS if login.role == "investigator")
    await client.submit("/login", {"email": login.email, "password": login.password, "next": ""})
    page = await client.submit("/login/code", {"code": pyotp.TOTP(login.totp_secret).now(), "next": ""})
    assert str(page.url).endswith("/console/requests") and ">Find cameras</a>" in page.text


async def signed_in_detective(db: AsyncSession, client: Client, detective: User) -> None:
    secret = await confirmed(db, detective)
    credentials = {"email": EMAIL, "password": PASSWORD, "totp_code": pyotp.TOTP(secret).now()}
    assert (await client.send_json("POST", "/api/v1/auth/login", credentials)).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_resetting_a_second_factor_signs_the_person_out_everywhere(
    client: Client, other_client: Client, detective: User, db: AsyncSession
) -> None:
    await signed_in_detective(db, other_client, detective)
    await admin(db, client)
    await client.submit(f"/admin/users/{detective.id}/reset-second-factor", {})
    assert (await other_client.get("/api/v1/me")).status_code == 401


async def test_disabling_an_account_signs_it_out_and_keeps_it_out_until_enabled(
    client: Client, other_client: Client, detective: User, db: AsyncSession
) -> None:
    await signed_in_detective(db, other_client, detective)
    await admin(db, client)
    page = await client.submit(f"/admin/users/{detective.id}/disable", {})
    assert "det@mpd.example was disabled" in page.text and "Disabled" in page.text
    assert (await other_client.get("/api/v1/me")).status_code == 401

    code = pyotp.TOTP(detective.totp_secret).now()
    other_client.cookies.clear()
    refused = await other_client.send_json(
        "POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD, "totp_code": code}
    )
    assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    guessed = await other_client.send_json("POST", "/api/v1/auth/login", {"email": EMAIL, "password": "guess-guess"})
    assert guessed.status_code == 400 and "disabled" not in guessed.text  # only the password's holder is told

    enabled = await client.submit(f"/admin/users/{detective.id}/enable", {})
    assert "det@mpd.example was enabled" in enabled.text
    await db.refresh(detective)
    detective.totp_last_step = None  # the code above was not used: the account was disabled
    await db.commit()
    again = await other_client.send_json(
        "POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD, "totp_code": code}
    )
    assert again.status_code == 200, again.text


async def test_removing_an_agency_role_signs_the_person_out_and_the_role_is_gone(
    client: Client, other_client: Client, detective: User, db: AsyncSession
) -> None:
    await signed_in_detective(db, other_client, detective)
    await admin(db, client)
    page = await client.submit(f"/admin/users/{detective.id}/roles", {"roles": "live_desk"})
    assert "det@mpd.example has new roles" in page.text
    assert (await other_client.get("/api/v1/me")).status_code == 401
    await db.refresh(detective, ["roles"])
    assert detective.role_names == {Role.LIVE_DESK}

    # Not an owner's account, and not for anyone but an administrator.
    owner = await sign_up(other_client, "owner@example.com")
    assert (await client.submit(f"/admin/users/{owner['id']}/disable", {})).status_code == 404
    assert (await other_client.submit(f"/admin/users/{detective.id}/enable", {})).status_code == 403


async def _age_sessions(db: AsyncSession, user: User, *, unused: dt.timedelta, since_sign_in: dt.timedelta) -> None:
    now = dt.datetime.now(dt.UTC)
    for session in await db.scalars(select(UserSession).where(UserSession.user_id == user.id)):
        session.last_seen_at, session.created_at = now - unused, now - since_sign_in
    await db.commit()


@pytest.mark.parametrize(
    ("unused", "since_sign_in", "still_signed_in"),
    [
        (dt.timedelta(minutes=29), dt.timedelta(hours=11), True),
        (dt.timedelta(minutes=31), dt.timedelta(minutes=31), False),  # idle for 30 minutes
        (dt.timedelta(minutes=1), dt.timedelta(hours=12, minutes=1), False),  # 12 hours after sign-in
    ],
)
async def test_an_agency_session_ends_after_30_idle_minutes_or_12_hours(
    client: Client,
    detective: User,
    db: AsyncSession,
    unused: dt.timedelta,
    since_sign_in: dt.timedelta,
    still_signed_in: bool,
) -> None:
    await signed_in_detective(db, client, detective)
    await _age_sessions(db, detective, unused=unused, since_sign_in=since_sign_in)
    assert ((await client.get("/api/v1/me")).status_code == 200) is still_signed_in


async def test_an_owner_keeps_a_long_session(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    owner = await accounts.get_user_by_email(db, "owner@example.com")
    await _age_sessions(db, owner, unused=dt.timedelta(days=2), since_sign_in=dt.timedelta(days=40))
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_a_page_refreshing_itself_does_not_keep_an_agency_session_alive(
    client: Client, detective: User, db: AsyncSession
) -> None:
    """The live desk's list polls every 2 s: those polls are answered but are no sign that anyone is there."""
    await signed_in_detective(db, client, detective)
    await _age_sessions(db, detective, unused=dt.timedelta(minutes=29), since_sign_in=dt.timedelta(minutes=40))
    background = {"X-Porchlight-Background": "1"}
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=background)).status_code == 200
    session = await db.scalar(select(UserSession).where(UserSession.user_id == detective.id))
    await db.refresh(session)
    assert dt.datetime.now(dt.UTC) - session.last_seen_at > dt.timedelta(minutes=28)
    await _age_sessions(db, detective, unused=dt.timedelta(minutes=31), since_sign_in=dt.timedelta(minutes=42))
    assert (await client.get("/api/v1/me", headers=background)).status_code == 401


async def test_the_pages_that_refresh_themselves_say_so() -> None:
    from backend.settings import PROJECT_ROOT

    static = PROJECT_ROOT / "pwa" / "static"
    for script, polls in (("live-desk.js", 2), ("app.js", 1), ("share.js", 1)):
        assert (static / script).read_text().count('"X-Porchlight-Background": "1"') == polls, script
