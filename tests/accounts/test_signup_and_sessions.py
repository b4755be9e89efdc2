"""Sign-up, sign-in and sign-out through the API and the pages: sessions live on the server."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User, UserSession
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up


async def _count(db: AsyncSession, model) -> int:
    return await db.scalar(select(func.count()).select_from(model))


async def test_sign_up_creates_an_owner_signed_in_with_an_argon2id_hash(client: Client, db: AsyncSession) -> None:
    me = await sign_up(client, "Pat@Example.com")
    assert me["email"] == "pat@example.com"
    assert me["roles"] == ["owner"]
    response = await client.get("/api/v1/me")
    assert response.status_code == 200 and response.json()["email"] == "pat@example.com"
    user = await db.scalar(select(User))
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_session_cookie_is_httponly_samesite_lax_and_not_secure_over_http(client: Client) -> None:
    response = await client.send_json(
        "POST", "/api/v1/auth/signup", {"email": "a@example.com", "password": PASSWORD, "display_name": "A"}
    )
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "porchlight_session=" in v)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


async def test_session_cookie_is_secure_when_served_over_https(settings, db: AsyncSession) -> None:
    from dataclasses import replace

    from backend.app import create_app

    app = create_app(replace(settings, secure_cookies=True))
    async with app.lifespan(), Client(app, base_url="https://testserver.local") as client:
        response = await client.send_json(
            "POST", "/api/v1/auth/signup", {"email": "s@example.com", "password": PASSWORD, "display_name": "S"}
        )
        cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "porchlight_session=" in v)
        assert "Secure" in cookie and "HttpOnly" in cookie


async def test_duplicate_email_is_refused_and_nothing_is_saved(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "dup@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    response = await client.send_json(
        "POST", "/api/v1/auth/signup", {"email": "DUP@example.com", "password": PASSWORD, "display_name": "Other"}
    )
    assert response.status_code == 400
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["errors"] == [
        {"field": "email", "message": "An account with this email already exists; sign in instead"}
    ]
    assert await _count(db, User) == 1


async def test_short_long_and_common_passwords_are_refused(client: Client, db: AsyncSession) -> None:
    cases = {
        "short7!": "Password must be at least 8 characters",
        "x" * 129: "password: Password must be at most 128 characters",
        "password123": "Password is one of the most common passwords; choose another",
    }
    for password, message in cases.items():
        response = await client.send_json(
            "POST", "/api/v1/auth/signup", {"email": "p@example.com", "password": password, "display_name": "P"}
        )
        assert response.status_code == 400, password
        assert message in response.json()["detail"]
    assert await _count(db, User) == 0


async def test_a_128_character_password_is_allowed(client: Client) -> None:
    await sign_up(client, "long@example.com", password="Lantern-" * 16)


async def test_body_that_is_not_json_or_has_unknown_fields_gets_a_clear_problem(client: Client) -> None:
    token = await client.csrf_token()
    not_json = await client.post(
        "/api/v1/auth/signup", content=b"{not json", headers={"x-csrftoken": token, "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"].startswith("application/problem+json")
    unknown = await client.send_json(
        "POST",
        "/api/v1/auth/signup",
        {"email": "u@example.com", "password": PASSWORD, "display_name": "U", "is_admin": True},
    )
    assert unknown.status_code == 400
    refused = "is_admin is not a field this request accepts"
    assert unknown.json()["errors"] == [{"field": "is_admin", "message": refused}]
    empty = await client.post("/api/v1/auth/signup", headers={"x-csrftoken": token, "content-type": "application/json"})
    assert empty.status_code == 400
    assert empty.json()["errors"] == [
        {"field": "body", "message": "Send the fields as a JSON body (Content-Type: application/json)"}
    ]


async def test_login_gives_a_new_session_id_and_logout_ends_it_on_the_server(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "sess@example.com")
    first_token = client.cookies["porchlight_session"]
    login = await client.send_json("POST", "/api/v1/auth/login", {"email": "sess@example.com", "password": PASSWORD})
    assert login.status_code == 200
    second_token = client.cookies["porchlight_session"]
    assert second_token != first_token
    # The session the browser arrived with is gone: a stolen pre-login cookie is worth nothing.
    other_client.cookies.set("porchlight_session", first_token)
    assert (await other_client.get("/api/v1/me")).status_code == 401
    assert await _count(db, UserSession) == 1

    other_client.cookies.set("porchlight_session", second_token)
    assert (await other_client.get("/api/v1/me")).status_code == 200
    assert (await client.send_json("POST", "/api/v1/auth/logout")).status_code == 204
    assert await _count(db, UserSession) == 0
    # A copy of the cookie kept elsewhere no longer works either.
    assert (await other_client.get("/api/v1/me")).status_code == 401


async def test_wrong_password_and_unknown_email_get_the_same_answer(client: Client) -> None:
    await sign_up(client, "known@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    wrong = await client.send_json(
        "POST", "/api/v1/auth/login", {"email": "known@example.com", "password": "nope-nope"}
    )
    unknown = await client.send_json(
        "POST", "/api/v1/auth/login", {"email": "who@example.com", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json()["errors"] == unknown.json()["errors"] == [{"field": "password", "message": WRONG_FIRST_TIME}]
    assert (await client.get("/api/v1/me")).status_code == 401


WRONG_FIRST_TIME = "Wrong email or password. 4 more tries before sign-in pauses for 1 minute."


async def test_pages_sign_up_sign_out_and_sign_in(client: Client) -> None:
    signup = await client.submit(
        "/signup",
        {"email": "page@example.com", "display_name": "Page Person", "password": PASSWORD, "time_zone": "Europe/Paris"},
    )
    assert signup.status_code == 200 and "My cameras" in signup.text  # followed the redirect to /sites
    me = (await client.get("/api/v1/me")).json()
    assert me["time_zone"] == "Europe/Paris"
    signed_out = await client.submit("/logout", {})
    assert "You are signed out" in signed_out.text
    assert signed_out.history[0].headers["clear-site-data"] == '"cache"'
    assert (await client.get("/sites", follow_redirects=False)).headers["location"].startswith("/login?next=")
    signed_in = await client.submit("/login", {"email": "page@example.com", "password": PASSWORD, "next": "/account"})
    assert signed_in.url.path == "/account" and "page@example.com" in signed_in.text


async def test_sign_in_never_redirects_off_site(client: Client) -> None:
    await sign_up(client, "redir@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    response = await client.submit(
        "/login",
        {"email": "redir@example.com", "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/sites"


async def test_sign_up_page_keeps_what_was_typed_and_names_each_wrong_field(client: Client, db: AsyncSession) -> None:
    response = await client.submit(
        "/signup", {"email": "not-an-email", "display_name": "Kept Name", "password": "short"}
    )
    assert response.status_code == 400
    assert "Email is not in the expected format" in response.text
    assert 'value="Kept Name"' in response.text and 'value="not-an-email"' in response.text
    assert "short" not in response.text.split("<main", 1)[1]  # the password is never echoed back
    assert await _count(db, User) == 0


async def test_form_posted_without_its_csrf_token_is_refused(client: Client, db: AsyncSession) -> None:
    await client.get("/signup")
    response = await client.post("/signup", data={"email": "c@example.com", "display_name": "C", "password": PASSWORD})
    assert response.status_code == 403
    assert "security token" in response.text
    assert await _count(db, User) == 0
    api = await client.post(
        "/api/v1/auth/signup", json={"email": "c@example.com", "display_name": "C", "password": PASSWORD}
    )
    assert api.status_code == 403
    assert await _count(db, User) == 0


async def test_the_csrf_token_changes_at_sign_in_and_sign_out(client: Client) -> None:
    """A token seen before signing in (planted, or read off a shared computer) no longer works after."""
    await sign_up(client, "pat@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    before = await client.csrf_token()
    signed_in = await client.send_json("POST", "/api/v1/auth/login", {"email": "pat@example.com", "password": PASSWORD})
    assert signed_in.status_code == 200
    after = client.cookies["csrftoken"]
    assert after != before
    stale = await client.post("/api/v1/sites", json={}, headers={"x-csrftoken": before})
    assert stale.status_code == 403
    fresh = await client.post("/api/v1/sites", json={}, headers={"x-csrftoken": after})
    assert fresh.status_code == 400  # past CSRF: the empty site is refused on its own merits

    signed_out = await client.post("/api/v1/auth/logout", headers={"x-csrftoken": after})
    assert signed_out.status_code == 204
    assert client.cookies["csrftoken"] not in (before, after)


async def test_changing_the_password_signs_out_every_other_session(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    """The API: wrong current password or a weak new one changes nothing; a change ends every other session, and
    this browser carries on with a new session."""
    await sign_up(client, "owner@example.com")
    login = {"email": "owner@example.com", "password": PASSWORD}
    assert (await other_client.send_json("POST", "/api/v1/auth/login", login)).status_code == 200
    old_cookie = client.cookies["porchlight_session"]

    wrong = await client.send_json("POST", "/api/v1/me/password", {"current_password": "nope", "new_password": "x"})
    assert wrong.status_code == 400
    assert [e["field"] for e in wrong.json()["errors"]] == ["current_password", "new_password"]
    weak = await client.send_json(
        "POST", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": "password"}
    )
    assert weak.status_code == 400 and "common" in weak.json()["errors"][0]["message"]
    assert (await other_client.get("/api/v1/me")).status_code == 200  # nothing changed, nobody signed out

    new = "a-fresh-lantern-42"
    changed = await client.send_json("POST", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": new})
    assert changed.status_code == 204
    assert client.cookies["porchlight_session"] != old_cookie
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await other_client.get("/api/v1/me")).status_code == 401
    other_client.cookies.clear()
    assert (await other_client.send_json("POST", "/api/v1/auth/login", login)).status_code == 400
    assert (await other_client.send_json("POST", "/api/v1/auth/login", {**login, "password": new})).status_code == 200


async def test_the_account_page_changes_the_password_with_errors_beside_the_fields(
    client: Client, other_client: Client
) -> None:
    await sign_up(client, "owner@example.com")
    login = {"email": "owner@example.com", "password": PASSWORD}
    assert (await other_client.send_json("POST", "/api/v1/auth/login", login)).status_code == 200
    page = await client.get("/account")
    assert 'for="f-current_password"' in page.text and 'for="f-new_password"' in page.text
    ids = re.findall(r'\sid="([^"]+)"', page.text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)  # each label finds its own field

    wrong = await client.submit("/account/password", {"current_password": "nope", "new_password": "a-fresh-lantern-42"})
    assert wrong.status_code == 400 and "Wrong password; it was not changed" in wrong.text
    assert "a-fresh-lantern-42" not in wrong.text  # a password is never sent back
    done = await client.submit(
        "/account/password", {"current_password": PASSWORD, "new_password": "a-fresh-lantern-42"}
    )
    assert done.url.path == "/account" and "Your password was changed" in done.text
    assert (await other_client.get("/api/v1/me")).status_code == 401
