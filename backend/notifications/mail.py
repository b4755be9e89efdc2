"""Outgoing email: written to the outbox in the event's transaction, sent by the delivery worker over SMTP
(`PORCHLIGHT_SMTP_URL`), or, in development without SMTP, saved to a mailbox folder that a page lists."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import email.utils
import json
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from backend.settings import Settings
from push import outbox
from push.sender import Outcome, SendResult

SMTP_TIMEOUT_SECONDS = 20.0
SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}


async def send_email(
    db: AsyncSession,
    *,
    to: str,
    subject: str,
    text: str,
    user_id: uuid.UUID | None,
    ttl: dt.timedelta = dt.timedelta(days=2),
) -> None:
    """Queue an email in the caller's transaction (it goes only if that commits; never sent inside a request).
    `ttl`: after it, a message that could not be sent is given up on (a reset link that expired is no use)."""
    message = {"subject": subject, "text": text, "message_id": uuid.uuid4().hex}
    await outbox.enqueue_email(
        db, recipient=to, message=json.dumps(message).encode(), user_id=user_id, ttl_seconds=int(ttl.total_seconds())
    )


def as_email(recipient: str, payload: bytes, sender: str) -> EmailMessage:
    """The outbox row as an email. Its Message-ID is the same at every attempt, so a repeat can be recognised."""
    fields = json.loads(payload)
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "porchlight.invalid"
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = fields["subject"]
    message["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = f"<{fields['message_id']}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a machine
    message.set_content(fields["text"])
    return message


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # plain, starttls or tls
    username: str
    password: str

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """smtp://host[:25] (plain, for a relay on the same host), smtp+starttls://user:pass@host[:587],
        smtps://user:pass@host[:465]."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"PORCHLIGHT_SMTP_URL must look like smtp+starttls://user:password@host:587, not {url!r}")
        security = SCHEMES[parts.scheme]
        return cls(
            host=parts.hostname, port=parts.port or DEFAULT_PORTS[security], security=security,
            username=unquote(parts.username or ""), password=unquote(parts.password or ""),
        )  # fmt: skip


class SmtpMailer:
    """One SMTP conversation per message, in a thread (smtplib): email is a trickle beside push."""

    def __init__(self, server: SmtpServer, sender: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self._server = server
        self._sender = sender
        self._ssl = ssl_context or ssl.create_default_context()

    async def send(self, recipient: str, message: bytes) -> SendResult:
        return await asyncio.to_thread(self._send, as_email(recipient, message, self._sender))

    def _send(self, message: EmailMessage) -> SendResult:
        server = self._server
        try:
            if server.security == "tls":
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS, context=self._ssl)
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
            with smtp:
                if server.security == "starttls":
                    smtp.starttls(context=self._ssl)
                if server.username:
                    smtp.login(server.username, server.password)
                smtp.send_message(message)
            return SendResult(Outcome.DELIVERED, "250")
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _answer(code, reply)
        except (smtplib.SMTPDataError, smtplib.SMTPNotSupportedError) as exc:
            return _answer(getattr(exc, "smtp_code", 450), getattr(exc, "smtp_error", b""))
        except smtplib.SMTPResponseException as exc:  # sender refused, authentication: ours to fix, so try again
            return SendResult(Outcome.RETRY, f"SMTP server answered {exc.smtp_code}")
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timed out, TLS failed
            return SendResult(Outcome.RETRY, f"SMTP connection failed: {type(exc).__name__}")


def _answer(code: int, reply: bytes | str) -> SendResult:
    """5xx: this address will never take it; 4xx: try again later. The reply is kept without the address."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    detail = f"SMTP server answered {code} {text.split(' ', 1)[0] if '@' in text else text}"[:200]
    return SendResult(Outcome.REFUSED if 500 <= code < 600 else Outcome.RETRY, detail)


class MailboxFolder:
    """Development without SMTP: each email is saved as a file in the folder (var/mailbox), listed by a page."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self._sender = sender

    async def send(self, recipient: str, message: bytes) -> SendResult:
        email_message = as_email(recipient, message, self._sender)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{json.loads(message)['message_id']}.eml"
        (self.folder / name).write_bytes(email_message.as_bytes())
        return SendResult(Outcome.DELIVERED, "saved to the mailbox folder")


@dataclass(frozen=True)
class SavedEmail:
    to: str
    subject: str
    date: str
    text: str


def saved_emails(folder: Path, limit: int = 50) -> list[SavedEmail]:
    """The newest emails in the development mailbox."""
    if not folder.is_dir():
        return []
    emails = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        emails.append(
            SavedEmail(
                to=str(parsed["To"]), subject=str(parsed["Subject"]), date=str(parsed["Date"]),
                text=body.get_content() if body is not None else "",
            )
        )  # fmt: skip
    return emails


def mailbox_folder(settings: Settings) -> Path | None:
    """Where development emails are saved, or None when they go out over SMTP."""
    return None if settings.smtp_url else settings.var_dir / "mailbox"


def mailer_for(settings: Settings) -> SmtpMailer | MailboxFolder:
    folder = mailbox_folder(settings)
    if folder is not None:
        return MailboxFolder(folder, settings.mail_from)
    return SmtpMailer(SmtpServer.from_url(settings.smtp_url), settings.mail_from)
