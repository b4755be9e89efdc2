"""Access receipts: each police access to an owner's information (contact card opened, clip viewed or downloaded,
live video opened) also reaches the owner as a notification, within a minute, batched: after a receipt, further
accesses wait until 5 minutes have passed and then go out together, so an investigator working a case gives one
message a few minutes apart, not ten. The custody log stays append-only: how far each owner has been told is kept
beside it (AccessReceipt)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Agency, User
from backend.db import utcnow
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.requests.models import AccessReceipt, CustodyAction, CustodyEvent

# What the owner is told of here; a request sent, "I'm watching" and "more time" have their own notifications.
RECEIPT_ACTIONS = (CustodyAction.CONTACT_VIEWED, CustodyAction.VIEW, CustodyAction.DOWNLOAD, CustodyAction.LIVE_VIEW)
BATCH_WINDOW = dt.timedelta(minutes=5)
# Notification tags name what a notification is about; opening or answering that reads them (a phone also
# replaces a shown notification with a newer one of the same tag).
POLICE_ACCESS_TAG = "police-access"


def request_tag(request_id: object) -> str:
    """An owner's notifications about one footage request."""
    return f"request-{request_id}"


def clips_tag(request_id: object) -> str:
    """An investigator's notifications about one request: a clip received, the owner's answer, the owner's messages
    (the name is from when clips were all they were told of; the tags of notifications already sent keep it)."""
    return f"clips-{request_id}"


_WHAT = {
    CustodyAction.CONTACT_VIEWED: ("opened your contact card", "opened your contact card {n} times"),
    CustodyAction.VIEW: ("viewed a clip", "viewed {n} clips"),
    CustodyAction.DOWNLOAD: ("downloaded a clip", "downloaded {n} clips"),
    CustodyAction.LIVE_VIEW: ("opened your live video", "opened your live video {n} times"),
}


def _summary(events: list[tuple[CustodyEvent, str]]) -> str:
    """ "Milwaukee PD (Det. Ivy): opened your contact card, viewed 2 clips" per person, in the order they acted."""
    by_person: dict[tuple[str, str], Counter[CustodyAction]] = defaultdict(Counter)
    for event, agency in events:
        by_person[(agency, event.actor_name)][CustodyAction(event.action)] += 1
    parts = []
    for (agency, actor), counts in by_person.items():
        done = [_WHAT[a][0] if n == 1 else _WHAT[a][1].format(n=n) for a, n in counts.items()]
        parts.append(f"{agency} ({actor}): {', '.join(done)}")
    return "; ".join(parts)


def _insert(db: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert


async def send_receipts(db: AsyncSession, now: dt.datetime | None = None) -> int:
    """Tell owners of the police accesses they have not been told of (each owner at most once per 5 minutes).
    Several workers may run this at once: an owner's row is locked while their receipt is made."""
    now = now or utcnow()
    told_up_to = func.coalesce(AccessReceipt.last_event_id, 0)
    pending = (
        await db.execute(
            select(CustodyEvent.owner_id, func.max(CustodyEvent.id))
            .join(User, User.id == CustodyEvent.owner_id)  # an owner who deleted their account is told nothing
            .outerjoin(AccessReceipt, AccessReceipt.owner_id == CustodyEvent.owner_id)
            .where(
                CustodyEvent.action.in_(RECEIPT_ACTIONS),
                CustodyEvent.id > told_up_to,
                (AccessReceipt.last_sent_at.is_(None)) | (AccessReceipt.last_sent_at <= now - BATCH_WINDOW),
            )
            .group_by(CustodyEvent.owner_id)
        )
    ).all()
    if not pending:
        return 0
    await db.execute(
        _insert(db)(AccessReceipt)
        .values([{"owner_id": owner_id, "last_event_id": 0} for owner_id, _ in pending])
        .on_conflict_do_nothing()
    )
    latest: dict[uuid.UUID, int] = dict(pending)
    receipts = (
        await db.scalars(
            select(AccessReceipt).where(AccessReceipt.owner_id.in_(latest)).with_for_update(skip_locked=True)
        )
    ).all()
    messages = []
    for receipt in receipts:
        if receipt.last_sent_at is not None and receipt.last_sent_at > now - BATCH_WINDOW:
            continue  # another worker has just told this owner; the rest waits for the next window
        events = (
            await db.execute(
                select(CustodyEvent, Agency.name)
                .join(Agency, Agency.id == CustodyEvent.agency_id)
                .where(
                    CustodyEvent.owner_id == receipt.owner_id,
                    CustodyEvent.action.in_(RECEIPT_ACTIONS),
                    CustodyEvent.id > receipt.last_event_id,
                    CustodyEvent.id <= latest[receipt.owner_id],
                )
                .order_by(CustodyEvent.id)
            )
        ).all()
        receipt.last_event_id = latest[receipt.owner_id]
        receipt.last_sent_at = now
        if events:
            messages.append(
                notifications.Message(
                    receipt.owner_id,
                    "Police looked at your information",
                    _summary(list(events))[:300],
                    "/account/access",
                    POLICE_ACCESS_TAG,
                )  # fmt: skip
            )
    await notifications.notify_many(db, Kind.POLICE_ACCESS, messages)
    await db.commit()
    return len(messages)
