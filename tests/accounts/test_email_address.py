"""Email addresses people prove they read: a link at sign-up, and a link to the new address to change it (the old
one is told); through a real SMTP server; links work once, and a GET changes nothing (mail scanners open links)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from backend.accounts.models import EmailConfirmation
from backend.db import utcnow
from backend.notifications.mail import SmtpMailer
from backend.settings import Settings
from push.worker import DeliveryWorker
from tests.conftest import Client
from tests.helpers import PASSWORD, sign_up
from tests.smtp import Smtp, email_worker, running_smtp


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    with running_smtp(tmp_path) as server:
        yield server


async def delivered(worker: DeliveryWorker, smtp: Smtp) -> dict[str, list[str]]:
    """Send what is queued; every email received so far, by address, as (subject, body) text."""
    _, server, client_tls = smtp
    await email_worker(worker, SmtpMailer(server, "p@porchlight.example.org", client_tls)).run_once()
    received: dict[str, list[str]] = {}
    for message in smtp[0].messages:
        received.setdefault(message["To"], []).append(f"{message['Subject']}\n{message.get_content()}")
    return received


def link_path(text: str, settings: Settings) -> str:
    return re.search(r"(\S+/account/email/confirm/\S+)", text).group(1).removeprefix(settings.link(""))


async def login(client: Client, email: str) -> int:
    response = await client.send_json("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    return response.status_code


async def test_sign_up_sends_a_link_that_confirms_the_address_once_and_only_by_its_button(
    client: Client, worker: DeliveryWorker, smtp: Smtp, settings: Settings
) -> None:
    await sign_up(client, "pat@example.com")
    assert "(not confirmed yet)" in (await client.get("/account")).text
    [mail] = (await delivered(worker, smtp))["pat@example.com"]
    assert mail.startswith("Confirm your email address for Porchlight")
    path = link_path(mail, settings)

    page = await client.get(path)
    assert page.status_code == 200 and "Confirm pat@example.com" in page.text
    assert (await client.get("/api/v1/me")).json()["email_confirmed"] is False  # opening the link changed nothing
    done = await client.submit(path, {})
    assert done.status_code == 200 and "Confirmed: Porchlight writes to pat@example.com" in done.text
    assert (await client.get("/api/v1/me")).json()["email_confirmed"] is True
    assert "(confirmed)" in (await client.get("/account")).text
    assert (await client.submit(path, {})).status_code == 410


async def test_changing_the_address_needs_the_password_and_a_free_address_and_happens_when_its_link_is_opened(
    client: Client, other_client: Client, worker: DeliveryWorker, smtp: Smtp, settings: Settings
) -> None:
    await sign_up(other_client, "taken@example.com")
    await sign_up(client, "pat@example.com")

    wrong = await client.submit("/account/email", {"new_email": "new@example.com", "current_password": "nope-nope"})
    assert wrong.status_code == 400 and 'id="f-email-current_password-error">Wrong password' in wrong.text
    assert 'value="new@example.com"' in wrong.text
    taken = await client.submit("/account/email", {"new_email": "taken@example.com", "current_password": PASSWORD})
    assert taken.status_code == 400 and 'id="f-email-new_email-error">Another account uses this address' in taken.text

    sent = await client.submit("/account/email", {"new_email": "New@Example.com", "current_password": PASSWORD})
    assert sent.status_code == 200 and "We emailed you a link" in sent.text
    mails = await delivered(worker, smtp)
    [notice] = [m for m in mails["pat@example.com"] if m.startswith("Your Porchlight email address is being changed")]
    assert "new@example.com" not in notice  # the old address is told, not where to
    [change] = mails["new@example.com"]
    assert (await client.get("/api/v1/me")).json()["email"] == "pat@example.com"  # nothing changed yet

    assert (await client.submit(link_path(change, settings), {})).status_code == 200
    me = (await client.get("/api/v1/me")).json()
    assert (me["email"], me["email_confirmed"]) == ("new@example.com", True)
    await client.send_json("POST", "/api/v1/auth/logout")
    assert await login(client, "pat@example.com") == 400
    assert await login(client, "new@example.com") == 200


async def test_confirming_the_old_address_keeps_a_change_waiting_and_a_change_ends_old_links(
    client: Client, worker: DeliveryWorker, smtp: Smtp, settings: Settings
) -> None:
    await sign_up(client, "pat@example.com")
    await client.submit("/account/email", {"new_email": "new@example.com", "current_password": PASSWORD})
    mails = await delivered(worker, smtp)
    verify = link_path(next(m for m in mails["pat@example.com"] if m.startswith("Confirm your email")), settings)
    change = link_path(mails["new@example.com"][0], settings)

    assert (await client.submit(verify, {})).status_code == 200  # the old address, confirmed
    assert (await client.submit(change, {})).status_code == 200  # the change still goes through
    assert (await client.get("/api/v1/me")).json()["email"] == "new@example.com"
    assert (await client.get(verify)).status_code == 410


async def test_an_expired_link_changes_nothing(
    client: Client, worker: DeliveryWorker, smtp: Smtp, settings: Settings, db
) -> None:
    await sign_up(client, "pat@example.com")
    await client.submit("/account/email", {"new_email": "new@example.com", "current_password": PASSWORD})
    change = link_path((await delivered(worker, smtp))["new@example.com"][0], settings)
    await db.execute(update(EmailConfirmation).values(expires_at=utcnow()))
    await db.commit()
    refused = await client.submit(change, {})
    assert refused.status_code == 410 and "This link no longer works" in refused.text
    assert (await client.get("/api/v1/me")).json()["email"] == "pat@example.com"
