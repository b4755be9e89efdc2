"""Wrong passwords pause sign-in for that account from that address only, with growing pauses and the tries left
said before each; a stranger typing someone's email cannot lock them out; every attempt is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service
from backend.accounts.models import LoginAttempt
from backend.errors import InvalidInput, TooManyAttempts
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up

STRANGER, OWNER_HOME = "203.0.113.9", "198.51.100.7"


async def _login(client: Client, password: str, email: str = "lock@example.com"):
    return await client.send_json("POST", "/api/v1/auth/login", {"email": email, "password": password})


async def _attempt(db: AsyncSession, password: str, ip: str, email: str = "lock@example.com") -> str:
    """What `authenticate` says from `ip`: "ok", or the refusal's message."""
    try:
        await service.authenticate(db, email, password, ip)
    except InvalidInput as exc:
        return exc.errors["password"]
    except TooManyAttempts as exc:
        return exc.detail
    return "ok"


async def _time_passes(db: AsyncSession, minutes: float) -> None:
    """Move every recorded attempt `minutes` into the past."""
    for attempt in await db.scalars(select(LoginAttempt)):
        attempt.at -= dt.timedelta(minutes=minutes)
    await db.commit()


async def test_five_wrong_passwords_pause_sign_in_even_with_the_right_one_and_say_the_tries_left(
    client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "lock@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    answers = [await _login(client, "wrong-password") for _ in range(4)]
    assert [a.status_code for a in answers] == [400] * 4
    tries = [a.json()["errors"][0]["message"] for a in answers]
    assert tries[0] == "Wrong email or password. 4 more tries before sign-in pauses for 1 minute."
    assert tries[3] == "Wrong email or password. 1 more try before sign-in pauses for 1 minute."
    fifth = await _login(client, "wrong-password")
    assert fifth.status_code == 429 and int(fifth.headers["retry-after"]) == 60
    assert "paused for 1 more minute" in fifth.json()["detail"]

    right = await _login(client, PASSWORD)
    assert right.status_code == 429
    assert (await client.get("/api/v1/me")).status_code == 401
    outcomes = (await db.scalars(select(LoginAttempt.outcome).order_by(LoginAttempt.id))).all()
    assert outcomes[-6:] == [*["wrong_password"] * 5, "locked"]


async def test_a_stranger_typing_someones_email_does_not_lock_them_out(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    for _ in range(5):
        await _attempt(db, "guess-guess-guess", STRANGER)
    assert "paused" in await _attempt(db, PASSWORD, STRANGER)  # the stranger waits, even with the right password
    assert await _attempt(db, PASSWORD, OWNER_HOME) == "ok"  # the owner, elsewhere, signs in


async def test_pauses_grow_and_lift_by_themselves(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    for _ in range(5):
        await _attempt(db, "wrong-password", STRANGER)
    await _time_passes(db, 1.1)
    assert (await _attempt(db, "wrong-password", STRANGER)).endswith("before sign-in pauses for 5 minutes.")
    for _ in range(3):
        await _attempt(db, "wrong-password", STRANGER)
    tenth = await _attempt(db, "wrong-password", STRANGER)
    assert "paused for 5 more minutes" in tenth
    await _time_passes(db, 4)
    assert "paused for 1 more minute" in await _attempt(db, PASSWORD, STRANGER)
    await _time_passes(db, 1.1)
    assert await _attempt(db, PASSWORD, STRANGER) == "ok"


async def test_an_email_without_an_account_gets_the_same_answers(client: Client, db: AsyncSession) -> None:
    """Tries left and pauses say nothing about whether an address has an account."""
    await sign_up(client, "lock@example.com")
    known = [await _attempt(db, "wrong-password", STRANGER) for _ in range(5)]
    unknown = [await _attempt(db, "wrong-password", STRANGER, "nobody@example.com") for _ in range(5)]
    assert known == unknown


async def test_the_login_page_says_the_tries_left_beside_the_password_then_the_pause(client: Client) -> None:
    await sign_up(client, "lock@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    page = await client.submit("/login", {"email": "lock@example.com", "password": "wrong-password"})
    assert page.status_code == 400 and "4 more tries before sign-in pauses for 1 minute" in page.text
    for _ in range(4):
        page = await client.submit("/login", {"email": "lock@example.com", "password": "wrong-password"})
    assert page.status_code == 429
    assert "Sign-in is paused" in page.text and "paused for 1 more minute" in page.text
    assert "reset your password" in page.text and 'href="/password/forgot"' in page.text
    assert 'value="lock@example.com"' in page.text


async def test_a_success_from_here_resets_the_count(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    for _ in range(4):
        await _login(client, "wrong-password")
    assert (await _login(client, PASSWORD)).status_code == 200
    for _ in range(4):
        assert (await _login(client, "wrong-password")).status_code == 400
    assert (await _login(client, PASSWORD)).status_code == 200


@pytest.mark.parametrize("emails", ["one account", "many accounts"])
async def test_many_failures_from_one_address_are_rate_limited(db: AsyncSession, emails: str) -> None:
    for n in range(service.IP_FAILURE_LIMIT):
        email = "nobody@example.com" if emails == "one account" else f"nobody{n}@example.com"
        await _attempt(db, "whatever-pass", STRANGER, email)
    assert "Too many failed sign-ins from this network" in await _attempt(db, "whatever-pass", STRANGER, "x@y.org")
    # Another address is not affected.
    assert (await _attempt(db, "whatever-pass", OWNER_HOME, "x@y.org")).startswith("Wrong email or password")
