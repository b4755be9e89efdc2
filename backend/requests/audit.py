"""The custody log as a tamper-evident chain, one per agency.

Every police access to an owner's data and every evidence event is a CustodyEvent (requests.service.record_custody
is the only writer). Each row carries the SHA-256 of the previous row of its agency (`prev_hash`) and its own
(`hash`, over `prev_hash` and the row's content), so `porchlight audit verify` names a row that was edited, removed
or inserted. Rows are never updated or deleted by the application: on PostgreSQL its database user needs only
SELECT and INSERT on custody_events (see `porchlight db grants`). Removing the newest rows leaves a shorter chain
that still verifies, which is why verify prints each chain's head: compare it with one recorded earlier (a custody
report carries the hashes too).

Per agency, not global: an agency's chain is complete on its own, and agencies do not wait on each other's writes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Agency
from backend.requests.models import CustodyEvent

GENESIS = "0" * 64
_LOCK_NAMESPACE = 0x50434348  # pg_advisory_xact_lock(namespace, key): the custody chain of one agency


def _id(value: uuid.UUID | None) -> str:
    return str(value) if value else ""


def content(event: CustodyEvent) -> str:
    """What a row's hash covers: every column but the id and the hashes, in one fixed form. Never change it: every
    hash recorded so far depends on it (migration 0012 chained the rows written before the chain existed). Empty
    text and a column default not applied yet read the same."""
    return json.dumps(
        {
            "at": event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "action": str(event.action),
            "actor_id": _id(event.actor_id),
            "actor_name": event.actor_name or "",
            "agency_id": _id(event.agency_id),
            "owner_id": _id(event.owner_id),
            "request_id": _id(event.request_id),
            "share_id": _id(event.share_id),
            "case_number": event.case_number or "",
            "ip": event.ip or "",
            "sha256": event.sha256 or "",
            "detail": event.detail or "",
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def row_hash(prev_hash: str, event: CustodyEvent) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content(event)}".encode()).hexdigest()


def _lock_key(agency_id: uuid.UUID | None) -> int:
    return int.from_bytes(agency_id.bytes[:4], "big", signed=True) if agency_id else 0


async def append(db: AsyncSession, *events: CustodyEvent) -> None:
    """Add rows at the end of their agencies' chains, in the order given: one lookup of each chain's last row, and
    one INSERT of them all. On PostgreSQL each chain is locked until the transaction ends (an advisory lock: no
    UPDATE right needed), so two writers never chain to the same row; SQLite has one writer."""
    by_agency: dict[uuid.UUID | None, list[CustodyEvent]] = {}
    for event in events:
        by_agency.setdefault(event.agency_id, []).append(event)
    postgres = db.get_bind().dialect.name == "postgresql"
    # The chains are locked in one order, so two writers of several chains never wait for each other in a circle.
    for agency_id, chain in sorted(by_agency.items(), key=lambda item: _lock_key(item[0])):
        if postgres:
            await db.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, _lock_key(agency_id))))
        last = await db.scalar(
            select(CustodyEvent.hash)
            .where(CustodyEvent.agency_id.is_(None) if agency_id is None else CustodyEvent.agency_id == agency_id)
            .order_by(CustodyEvent.id.desc())
            .limit(1)
        )
        for event in chain:
            event.prev_hash = last or GENESIS
            event.hash = last = row_hash(event.prev_hash, event)
    db.add_all(events)
    await db.flush()  # ids in the order given (the chain's order); the next rows of this transaction follow them


@dataclass
class Chain:
    agency: str
    events: int = 0
    head_id: int | None = None
    head_hash: str = GENESIS


@dataclass
class ChainCheck:
    """What `porchlight audit verify` found: per agency, the length and head of its chain, and every break."""

    chains: list[Chain] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(c.events for c in self.chains)


async def _chained_to(db: AsyncSession, agency_id: uuid.UUID | None, prev_hash: str) -> int | None:
    """The row of this agency whose hash a row names as its predecessor, if there is one."""
    return await db.scalar(
        select(CustodyEvent.id).where(CustodyEvent.agency_id == agency_id, CustodyEvent.hash == prev_hash).limit(1)
    )


async def _between(db: AsyncSession, agency_id: uuid.UUID | None, after: int, before: int) -> list[int]:
    ids = await db.scalars(
        select(CustodyEvent.id)
        .where(CustodyEvent.agency_id == agency_id, CustodyEvent.id > after, CustodyEvent.id < before)
        .order_by(CustodyEvent.id)
    )
    return list(ids)


async def verify(db: AsyncSession) -> ChainCheck:
    """Walk every agency's chain in order, recomputing each hash: an edited row no longer matches its hash; a row
    that follows a removed row, or an inserted one, no longer follows its predecessor."""
    check = ChainCheck()
    names = dict((await db.execute(select(Agency.id, Agency.name))).tuples().all())
    chain: Chain | None = None
    agency_id: uuid.UUID | None = None
    previous_id: int | None = None
    rows = await db.stream_scalars(select(CustodyEvent).order_by(CustodyEvent.agency_id, CustodyEvent.id))
    async for event in rows:
        if chain is None or event.agency_id != agency_id:
            agency_id, previous_id = event.agency_id, None
            chain = Chain(names.get(agency_id, "no agency") if agency_id else "no agency")
            check.chains.append(chain)
        where = f"custody event {event.id} ({chain.agency})"
        if event.prev_hash != chain.head_hash:
            linked = None if event.prev_hash == GENESIS else await _chained_to(db, agency_id, event.prev_hash)
            if previous_id is None:
                check.problems.append(f"{where}: the first row of the chain follows a row that is no longer there")
            elif linked is not None and linked < previous_id:
                inserted = ", ".join(map(str, await _between(db, agency_id, linked, event.id)))
                check.problems.append(f"{where}: follows event {linked}, so event(s) {inserted} were inserted")
            else:
                check.problems.append(
                    f"{where}: does not follow event {previous_id}: a row between them was removed, "
                    f"or event {previous_id} was rewritten"
                )
        if row_hash(event.prev_hash, event) != event.hash:
            check.problems.append(f"{where}: its content was changed after it was recorded")
        chain.events += 1
        chain.head_id, chain.head_hash, previous_id = event.id, event.hash, event.id
    return check
