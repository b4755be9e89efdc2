"""A real SMTP server for the email tests (aiosmtpd, in-process, on loopback), and a delivery worker that sends
email to it."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from backend.notifications.mail import SmtpServer
from push.tls import write_loopback_certificate
from push.worker import DeliveryWorker


@dataclass
class Inbox:
    """An SMTP server's handler: accepts mail, except addresses it refuses (550) or defers (451)."""

    refused: set[str] = field(default_factory=set)
    deferred: set[str] = field(default_factory=set)
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if address in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if address in self.deferred:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The inbox, how to reach the server, and the TLS context that trusts its certificate.
Smtp = tuple[Inbox, SmtpServer, ssl.SSLContext]


@contextlib.contextmanager
def running_smtp(tmp_path: Path) -> Iterator[Smtp]:
    """A real SMTP server on loopback that demands STARTTLS and a password, as a mail provider's port 587 does."""
    certificate = write_loopback_certificate(tmp_path / "smtp-tls")

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"porch", b"s3cret")
        return AuthResult(success=ok)

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=certificate.server_context(), require_starttls=True,
        authenticator=authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        server = SmtpServer.from_url(f"smtp+starttls://porch:s3cret@127.0.0.1:{port}")
        yield inbox, server, certificate.client_context()
    finally:
        controller.stop()


def email_worker(worker: DeliveryWorker, mailer: object) -> DeliveryWorker:
    return DeliveryWorker(worker._session_factory, worker._sender, mailer=mailer)  # type: ignore[arg-type]
