"""Outgoing email through the one outbox: queued in the event's transaction, sent by the delivery worker to a real
SMTP server (aiosmtpd, in-process), retried when the server is away or says "later", given up on when it refuses
the address; in development without SMTP, kept in a mailbox folder that a page lists."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import utcnow
from backend.notifications.delivery import check_delivery_settings
from backend.notifications.mail import MailboxFolder, SmtpMailer, SmtpServer, send_email
from backend.settings import Settings
from push.models import Channel, Delivery, DeliveryStatus
from push.worker import DeliveryWorker
from tests.conftest import Client, make_settings
from tests.smtp import Inbox, Smtp, email_worker, free_port, running_smtp

RESET = {"subject": "Reset your Porchlight password", "text": "Open this link within 30 minutes:\nhttps://x/r/1"}


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[Smtp]:
    with running_smtp(tmp_path) as server:
        yield server


async def owner(db: AsyncSession, email_address: str = "owner@example.com"):
    return await accounts.create_user(db, email=email_address, password=None, display_name="O", roles=[Role.OWNER])


async def rows(db: AsyncSession) -> list[Delivery]:
    db.expire_all()
    return list(await db.scalars(select(Delivery).where(Delivery.channel == Channel.EMAIL)))


async def test_an_email_queued_with_its_event_is_sent_over_starttls_and_its_address_then_forgotten(
    db: AsyncSession, worker: DeliveryWorker, smtp
) -> None:
    inbox, server, client_tls = smtp
    user = await owner(db)
    await send_email(db, to=user.email, user_id=user.id, **RESET)
    await db.commit()

    mailer = SmtpMailer(server, "Porchlight <no-reply@porchlight.example.org>", client_tls)
    assert await email_worker(worker, mailer).run_once() == 1

    [message] = inbox.messages
    assert message["To"] == "owner@example.com"
    assert message["From"] == "Porchlight <no-reply@porchlight.example.org>"
    assert message["Subject"] == RESET["subject"]
    assert message["Message-ID"].endswith("@porchlight.example.org>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content().replace("\r\n", "\n").strip() == RESET["text"]
    [row] = await rows(db)
    assert (row.status, row.recipient, row.attempts) == (DeliveryStatus.DELIVERED, "", 1)


async def test_an_email_whose_event_rolled_back_is_never_sent(db: AsyncSession, worker: DeliveryWorker, smtp) -> None:
    inbox, server, client_tls = smtp
    await send_email(db, to="someone@example.com", user_id=None, **RESET)
    await db.rollback()
    assert await email_worker(worker, SmtpMailer(server, "p@example.org", client_tls)).run_once() == 0
    assert inbox.messages == [] and await rows(db) == []


async def test_the_smtp_server_away_then_back_delivers_once_at_the_next_attempt(
    db: AsyncSession, worker: DeliveryWorker, tmp_path: Path
) -> None:
    await send_email(db, to="owner@example.com", user_id=None, **RESET)
    await db.commit()
    port = free_port()  # nothing listens there yet
    mailer = SmtpMailer(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), "p@example.org")
    await email_worker(worker, mailer).run_once()
    [row] = await rows(db)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at > utcnow() and "connection failed" in row.last_error
    assert row.recipient == "owner@example.com"  # still needed for the next attempt

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await db.execute(update(Delivery).values(next_attempt_at=utcnow()))  # the backoff has passed
        await db.commit()
        await email_worker(worker, mailer).run_once()
    finally:
        controller.stop()
    [row] = await rows(db)
    assert row.status == DeliveryStatus.DELIVERED and len(inbox.messages) == 1


async def test_an_address_the_server_refuses_is_given_up_at_once_and_a_busy_one_is_tried_again(
    db: AsyncSession, worker: DeliveryWorker, smtp, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, server, client_tls = smtp
    inbox.refused.add("gone@example.com")
    inbox.deferred.add("busy@example.com")
    for address in ("gone@example.com", "busy@example.com"):
        await send_email(db, to=address, user_id=None, **RESET)
    await db.commit()
    with caplog.at_level(logging.DEBUG):
        await email_worker(worker, SmtpMailer(server, "p@example.org", client_tls)).run_once()

    by_status = {row.status: row for row in await rows(db)}
    refused, busy = by_status[DeliveryStatus.FAILED], by_status[DeliveryStatus.PENDING]
    assert refused.last_error.startswith("SMTP server answered 550") and refused.recipient == ""
    assert busy.last_error.startswith("SMTP server answered 451") and busy.recipient == "busy@example.com"
    # Addresses never reach our log or the error an administrator reads.
    ours = "".join(r.getMessage() for r in caplog.records if r.name.startswith(("porchlight", "backend", "push")))
    assert "gone@example.com" not in ours + refused.last_error
    assert inbox.messages == []


async def test_an_email_not_sent_before_its_ttl_is_given_up_on(db: AsyncSession, worker: DeliveryWorker) -> None:
    """A reset link is useless after 30 minutes: an email that could not go out by then is not sent late."""
    await send_email(db, to="owner@example.com", user_id=None, ttl=dt.timedelta(minutes=30), **RESET)
    await db.commit()
    await db.execute(update(Delivery).values(created_at=utcnow() - dt.timedelta(minutes=29, seconds=58)))
    await db.commit()
    mailer = SmtpMailer(SmtpServer.from_url(f"smtp://127.0.0.1:{free_port()}"), "p@example.org")
    await email_worker(worker, mailer).run_once()
    [row] = await rows(db)
    assert row.status == DeliveryStatus.FAILED and row.last_error.startswith("gave up") and row.recipient == ""


async def test_deleting_an_account_deletes_the_email_still_waiting_for_it(db: AsyncSession) -> None:
    user = await owner(db)
    await send_email(db, to=user.email, user_id=user.id, **RESET)
    await send_email(db, to="other@example.com", user_id=None, **RESET)
    await db.commit()
    await db.delete(user)
    await db.commit()
    assert [row.recipient for row in await rows(db)] == ["other@example.com"]


async def test_a_worker_with_no_mailer_leaves_emails_to_one_that_has_one(
    db: AsyncSession, worker: DeliveryWorker, tmp_path: Path
) -> None:
    await send_email(db, to="owner@example.com", user_id=None, **RESET)
    await db.commit()
    assert await worker.run_once() == 0  # push only
    assert (await rows(db))[0].status == DeliveryStatus.PENDING
    assert await email_worker(worker, MailboxFolder(tmp_path / "mailbox", "p@example.org")).run_once() == 1


async def test_without_smtp_the_development_mailbox_page_shows_the_email(
    db: AsyncSession, worker: DeliveryWorker, settings: Settings, client: Client
) -> None:
    """Someone who forgot their password reads the email without signing in."""
    await send_email(db, to="owner@example.com", user_id=None, **RESET)
    await db.commit()
    await email_worker(worker, MailboxFolder(settings.var_dir / "mailbox", settings.mail_from)).run_once()
    page = await client.get("/dev/mailbox")
    assert page.status_code == 200
    assert RESET["subject"] in page.text and "https://x/r/1" in page.text and "owner@example.com" in page.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"smtp_url": "smtp://127.0.0.1:2525"},
        {"environment": "production", "smtp_url": "smtp://x", "public_url": "https://cameras.example.gov"},
    ],
)
async def test_the_mailbox_page_does_not_exist_with_smtp_or_in_production(
    database_url: str, tmp_path: Path, overrides: dict[str, str]
) -> None:
    from backend.app import create_app

    settings = make_settings(database_url, tmp_path, secure_cookies=False, **overrides)
    async with Client(create_app(settings)) as client:
        assert (await client.get("/dev/mailbox")).status_code == 404


async def test_the_mailbox_page_is_not_shown_to_another_machine(app, tmp_path: Path) -> None:
    """A development server reachable from elsewhere must not hand reset links to whoever asks."""
    import httpx

    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as stranger:
        assert (await stranger.get("/dev/mailbox")).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"environment": "production"}, "PORCHLIGHT_SMTP_URL must be set in production"),
        ({"smtp_url": "mail.example.org:587"}, "PORCHLIGHT_SMTP_URL must look like smtp+starttls://"),
        ({"environment": "production", "smtp_url": "smtps://u:p@mail.example.org"}, "PORCHLIGHT_PUBLIC_URL must be"),
    ],
)
def test_startup_refuses_production_without_smtp_or_public_url_and_a_malformed_smtp_url(
    settings: Settings, overrides: dict[str, str], says: str
) -> None:
    with pytest.raises(RuntimeError, match=says.replace("+", r"\+")):
        check_delivery_settings(replace(settings, vapid_subject="mailto:push@porchlight.example.org", **overrides))


def test_smtp_urls_give_the_security_and_port_people_expect() -> None:
    assert SmtpServer.from_url("smtps://a%40b:p%2Fw@mail.example.org") == SmtpServer(
        "mail.example.org", 465, "tls", "a@b", "p/w"
    )
    assert SmtpServer.from_url("smtp+starttls://u:p@mail.example.org").port == 587
    assert SmtpServer.from_url("smtp://localhost").port == 25


async def test_an_email_given_up_on_shows_on_the_admin_page_without_its_address(
    db: AsyncSession, worker: DeliveryWorker, smtp, app, client: Client
) -> None:
    inbox, server, client_tls = smtp
    inbox.refused.add("gone@example.com")
    await send_email(db, to="gone@example.com", user_id=None, **RESET)
    await db.commit()
    await email_worker(worker, SmtpMailer(server, "p@example.org", client_tls)).run_once()
    await accounts.create_user(
        db, email="root@example.com", password="admin-lantern-77", display_name="Root", roles=[Role.ADMIN]
    )
    await client.send_json("POST", "/api/v1/auth/login", {"email": "root@example.com", "password": "admin-lantern-77"})
    page = await client.get("/admin/push")
    assert 'data-testid="count-failed">1<' in page.text
    assert "<td>Email</td><td>SMTP server</td>" in page.text and "SMTP server answered 550" in page.text
    assert "gone@example.com" not in page.text and RESET["subject"] not in page.text
