"""Running delivery: VAPID keys from settings, the push sender, the mailer, and the worker inside a process."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from backend.notifications.mail import SmtpServer, mailer_for
from backend.settings import Settings
from push.sender import PushSender
from push.subscription import DEFAULT_PUSH_HOSTS
from push.vapid import VapidKeys, VapidSigner, subject_problem
from push.worker import DeliveryWorker


def vapid_keys(settings: Settings) -> VapidKeys:
    return VapidKeys.load_or_create(settings.var_dir / "vapid_private_key.pem", settings.vapid_private_key)


def check_delivery_settings(settings: Settings) -> None:
    """Refuse to start in production with a VAPID subject push services would reject, without a way to send email
    (password resets and invitations would be lost) or without the https address its links start with; refuse a
    malformed SMTP URL anywhere."""
    if settings.environment == "production" and (problem := subject_problem(settings.vapid_subject)):
        raise RuntimeError(f"PORCHLIGHT_VAPID_SUBJECT: {problem}")
    if settings.smtp_url:
        try:
            SmtpServer.from_url(settings.smtp_url)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
    elif settings.environment == "production":
        raise RuntimeError("PORCHLIGHT_SMTP_URL must be set in production: password resets and invitations are email")
    if settings.environment == "production" and not settings.public_url.startswith("https://"):
        raise RuntimeError("PORCHLIGHT_PUBLIC_URL must be set in production to the https:// address people open")


def allowed_push_hosts(settings: Settings) -> tuple[str, ...]:
    return DEFAULT_PUSH_HOSTS + settings.push_extra_hosts


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=settings.push_ca_file) if settings.push_ca_file else None


@asynccontextmanager
async def running_worker(
    settings: Settings, engine: AsyncEngine, **worker_options: object
) -> AsyncIterator[DeliveryWorker]:
    """A delivery worker (push and email) running in the background until the block ends."""
    signer = VapidSigner(vapid_keys(settings), settings.vapid_subject)
    async with PushSender(signer, ssl_context=ssl_context(settings)) as sender:
        worker = DeliveryWorker(
            async_sessionmaker(engine, expire_on_commit=False),
            sender,
            mailer=mailer_for(settings),
            lease=dt.timedelta(seconds=settings.push_lease_seconds),
            concurrency=settings.push_concurrency,
            **worker_options,  # type: ignore[arg-type]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop), name="push-delivery")
        try:
            yield worker
        finally:
            stop.set()
            await task
