"""Five wrong passwords in 15 minutes lock the account for 15 minutes; every attempt is recorded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service
from backend.accounts.models import LoginAttempt, User
from backend.errors import InvalidInput, TooManyAttempts
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up


async def _login(client: Client, password: str):
    return await client.send_json("POST", "/api/v1/auth/login", {"email": "lock@example.com", "password": password})


async def test_five_failures_lock_the_account_even_for_the_right_password(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    for _ in range(4):
        assert (await _login(client, "wrong-password")).status_code == 400
    fifth = await _login(client, "wrong-password")
    assert fifth.status_code == 429
    assert "locked for 15 more minutes" in fifth.json()["detail"]
    assert int(fifth.headers["retry-after"]) == 900

    right = await _login(client, PASSWORD)
    assert right.status_code == 429
    assert (await client.get("/api/v1/me")).status_code == 401

    outcomes = (await db.scalars(select(LoginAttempt.outcome).order_by(LoginAttempt.id))).all()
    assert outcomes == [*["wrong_password"] * 5, "locked"]


async def test_the_lock_lifts_after_15_minutes(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    for _ in range(5):
        await _login(client, "wrong-password")
    # Time passes: move the lock and the failures 16 minutes into the past.
    past = dt.timedelta(minutes=16)
    for user in await db.scalars(select(User)):
        user.locked_until -= past
    for attempt in await db.scalars(select(LoginAttempt)):
        attempt.at -= past
    await db.commit()
    assert (await _login(client, PASSWORD)).status_code == 200


async def test_the_login_page_says_clearly_that_the_account_is_locked(client: Client) -> None:
    await sign_up(client, "lock@example.com")
    await client.send_json("POST", "/api/v1/auth/logout")
    for _ in range(5):
        page = await client.submit("/login", {"email": "lock@example.com", "password": "wrong-password"})
    assert page.status_code == 429
    assert "Sign-in is paused" in page.text and "locked for 15 more minutes" in page.text
    assert 'value="lock@example.com"' in page.text


async def test_a_success_resets_the_failure_count(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "lock@example.com")
    for _ in range(4):
        await _login(client, "wrong-password")
    assert (await _login(client, PASSWORD)).status_code == 200
    for _ in range(4):
        assert (await _login(client, "wrong-password")).status_code == 400
    assert (await _login(client, PASSWORD)).status_code == 200


async def test_many_failures_from_one_address_are_rate_limited(db: AsyncSession) -> None:
    for n in range(service.IP_FAILURE_LIMIT):
        try:
            await service.authenticate(db, f"nobody{n}@example.com", "whatever-pass", "203.0.113.9")
        except InvalidInput:
            pass
    try:
        await service.authenticate(db, "nobody@example.com", "whatever-pass", "203.0.113.9")
    except TooManyAttempts as exc:
        assert "Too many failed sign-ins from this network" in exc.detail
    else:
        raise AssertionError("the address was not rate limited")
    # Another address is not affected.
    try:
        await service.authenticate(db, "nobody@example.com", "whatever-pass", "198.51.100.7")
    except InvalidInput:
        pass
