"""Forgot password: a link by email (through a real SMTP server), used once within 30 minutes, ending every
session, never telling whether an address has an account, never built from the Host a request claims."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import PasswordReset, Role
from backend.db import utcnow
from backend.notifications.mail import SmtpMailer
from backend.settings import Settings
from push.models import Channel, Delivery
from push.worker import DeliveryWorker
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up
from tests.smtp import Smtp, email_worker, running_smtp

NEW_PASSWORD = "lantern-porch-2044"
SAME_ANSWER = "If an account uses"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    with running_smtp(tmp_path) as server:
        yield server


async def deliver(worker: DeliveryWorker, smtp: Smtp) -> None:
    _, server, client_tls = smtp
    mailer = SmtpMailer(server, "Porchlight <no-reply@porchlight.example.org>", client_tls)
    await email_worker(worker, mailer).run_once()


def reset_path(smtp: Smtp, settings: Settings, index: int = -1) -> str:
    """The path of the link in the latest (or `index`th) reset email, checked to start with the configured address."""
    resets = [m for m in smtp[0].messages if m["Subject"] == "Reset your Porchlight password"]
    body = resets[index].get_content()
    link = re.search(r"(\S+/password/reset/\S+)", body).group(1)
    assert link.startswith(settings.link("/password/reset/"))
    return link.removeprefix(settings.link(""))


async def signed_up_with_a_reset_link(client: Client, worker: DeliveryWorker, smtp: Smtp, settings: Settings) -> str:
    """pat@example.com signs up and asks for a reset link; the path of the link emailed."""
    await sign_up(client, "pat@example.com")
    await ask(client, "pat@example.com")
    await deliver(worker, smtp)
    return reset_path(smtp, settings)


async def ask(client: Client, email: str, **headers: str):
    return await client.submit("/password/forgot", {"email": email}, headers=headers)


async def emails_queued(db: AsyncSession) -> int:
    """Reset emails queued (sign-up queues its own confirmation email)."""
    return await db.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.channel == Channel.EMAIL, Delivery.payload.contains("Reset your"))
    )


async def test_a_forgotten_password_is_reset_by_the_emailed_link_once_and_every_session_ends(
    app, client: Client, other_client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    await sign_up(other_client, "pat@example.com")  # signed in on another device
    answer = await ask(client, "Pat@Example.com ")
    assert answer.status_code == 200 and SAME_ANSWER in answer.text

    await deliver(worker, smtp)
    [message] = [m for m in smtp[0].messages if m["Subject"] == "Reset your Porchlight password"]
    assert message["To"] == "pat@example.com"
    path = reset_path(smtp, settings)

    form = await client.get(path)
    assert form.status_code == 200 and 'autocomplete="new-password"' in form.text
    done = await client.submit(path, {"new_password": NEW_PASSWORD})
    assert done.status_code == 200 and done.url.path == "/login" and "Your new password is saved" in done.text

    assert (await other_client.get("/api/v1/me")).status_code == 401  # the other device is signed out
    old = await client.send_json("POST", "/api/v1/auth/login", {"email": "pat@example.com", "password": PASSWORD})
    assert old.status_code == 400
    new = await client.send_json("POST", "/api/v1/auth/login", {"email": "pat@example.com", "password": NEW_PASSWORD})
    assert new.status_code in (200, 201)

    again = await client.submit(path, {"new_password": "another-porch-light-9"})
    assert again.status_code == 410 and "This link no longer works" in again.text
    assert (await client.get(path)).status_code == 410


async def test_an_unknown_or_disabled_address_gets_the_same_answer_and_no_email(
    app, client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "pat@example.com")
    await client.post("/logout", data={"_csrf_token": await client.csrf_token()})
    answers = [await ask(client, "pat@example.com"), await ask(client, "nobody@example.com")]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].text.replace("nobody@example.com", "pat@example.com") == answers[0].text
    assert await emails_queued(db) == 1

    agency = await accounts.create_user(
        db, email="det@example.com", password=PASSWORD, display_name="Det", roles=[Role.INVESTIGATOR], agency_name="PD"
    )
    await accounts.set_disabled(db, agency.id, True)
    assert SAME_ANSWER in (await ask(client, "det@example.com")).text
    assert await emails_queued(db) == 1


async def test_an_expired_link_is_refused_and_the_password_is_unchanged(
    app, client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    path = await signed_up_with_a_reset_link(client, worker, smtp, settings)
    await db.execute(update(PasswordReset).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await db.commit()
    refused = await client.submit(path, {"new_password": NEW_PASSWORD})
    assert refused.status_code == 410 and 'href="/password/forgot"' in refused.text
    login = await client.send_json("POST", "/api/v1/auth/login", {"email": "pat@example.com", "password": PASSWORD})
    assert login.status_code in (200, 201)


async def test_a_refused_new_password_is_said_beside_the_field_and_the_link_still_works(
    app, client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    path = await signed_up_with_a_reset_link(client, worker, smtp, settings)
    weak = await client.submit(path, {"new_password": "short"})
    assert weak.status_code == 400
    assert re.search(r'id="f-new_password-error">[^<]*at least 8 characters', weak.text)
    assert (await client.submit(path, {"new_password": NEW_PASSWORD})).url.path == "/login"


async def test_using_one_link_ends_the_others_and_a_fourth_ask_in_an_hour_sends_nothing(
    app, client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    await sign_up(client, "pat@example.com")
    for _ in range(4):
        assert SAME_ANSWER in (await ask(client, "pat@example.com")).text
    assert await emails_queued(db) == 3  # an inbox is not flooded
    await deliver(worker, smtp)
    first, last = reset_path(smtp, settings, 0), reset_path(smtp, settings, 2)
    assert (await client.submit(last, {"new_password": NEW_PASSWORD})).url.path == "/login"
    assert (await client.get(first)).status_code == 410


async def test_the_link_uses_the_configured_address_not_the_host_a_request_claims(
    app, client: Client, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    """Else a stranger asking with `Host: attacker.example` would have the victim's link point at their server."""
    await sign_up(client, "pat@example.com")
    await ask(client, "pat@example.com", host="attacker.example")
    await deliver(worker, smtp)
    body = "".join(m.get_content() for m in smtp[0].messages)
    assert "attacker.example" not in body and settings.link("/password/reset/") in body


async def test_a_reset_does_not_skip_an_agency_accounts_second_factor(
    app, client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    await accounts.create_user(
        db, email="det@example.com", password=PASSWORD, display_name="Det", roles=[Role.INVESTIGATOR], agency_name="PD"
    )
    await ask(client, "det@example.com")
    await deliver(worker, smtp)
    assert (await client.submit(reset_path(smtp, settings), {"new_password": NEW_PASSWORD})).url.path == "/login"
    signed = await client.submit("/login", {"email": "det@example.com", "password": NEW_PASSWORD})
    assert signed.url.path in ("/login/setup", "/login/code")  # the code comes next, not the console
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_a_password_chosen_through_the_link_is_the_persons_own(
    app, client: Client, db: AsyncSession, worker: DeliveryWorker, smtp: Smtp, settings
) -> None:
    """An account given its first password by an administrator, reset by the emailed link before its first sign-in:
    the password was chosen by the person, so the first-password page is not asked for again."""
    user = await accounts.create_user(
        db, email="coord@example.com", password=PASSWORD, display_name="Coord", roles=[Role.OWNER],
        must_change_password=True,
    )  # fmt: skip
    await ask(client, "coord@example.com")
    await deliver(worker, smtp)
    assert (await client.submit(reset_path(smtp, settings), {"new_password": NEW_PASSWORD})).url.path == "/login"
    await db.refresh(user)
    assert user.must_change_password_since is None
    signed = await client.submit("/login", {"email": "coord@example.com", "password": NEW_PASSWORD})
    assert signed.url.path != "/password/choose"
    assert (await client.get("/api/v1/me")).status_code == 200
