"""Evidence clips: resumable uploads (tus 1.0), write-once storage, downloads for the requesting agency only,
and the custody report.

The bytes stream straight to a file under the evidence directory; the SHA-256 is computed as they arrive, so
nothing is ever held whole in memory. An upload in progress is `incoming/<id>` (its size is the tus offset);
a finished clip is linked to `clips/<id>` under a name the server chose, read-only, and never written again.
No database transaction is open while bytes stream (SQLite has one writer); an exclusive lock on the
incoming file keeps two connections from appending to the same upload at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import datetime as dt
import fcntl
import hashlib
import io
import os
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Agency, User
from backend.byte_ranges import ByteRange, requested_range
from backend.db import utcnow
from backend.errors import Conflict, InvalidInput, Locked, NotFound, TooLarge, Unprocessable
from backend.local_time import local_time
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.requests.models import CustodyAction, CustodyEvent, EvidenceClip, FootageRequest
from backend.requests.receipts import clips_tag
from backend.requests.schemas import ClipOut, CustodyRowOut
from backend.requests.service import (
    load_agency_request,
    load_owner_request,
    move,
    record_custody,
    require_investigator,
)
from backend.requests.states import LABELS, RequestState

TUS_VERSION = "1.0.0"
UPLOADABLE_STATES = frozenset({RequestState.ACCEPTED, RequestState.UPLOADED})
# An upload nobody has continued for this long is removed (and any upload of a request that closed).
ABANDONED_AFTER = dt.timedelta(days=7)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_READ_BLOCK = 1 << 20
_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class ClipStore:
    """Where clips live on disk."""

    root: Path

    def incoming(self, clip_id: uuid.UUID) -> Path:
        return self.root / "incoming" / clip_id.hex

    def final(self, clip_id: uuid.UUID) -> Path:
        return self.root / "clips" / clip_id.hex[:2] / clip_id.hex


class _Hashers:
    """The running SHA-256 of uploads this process is receiving, with the offset it has reached.

    Only a shortcut: an upload continued in another process (or after a restart) rebuilds its hash by
    reading the bytes already on disk once."""

    def __init__(self, capacity: int = 64) -> None:
        self._items: OrderedDict[uuid.UUID, tuple[int, hashlib._Hash]] = OrderedDict()
        self._capacity = capacity

    def take(self, clip_id: uuid.UUID, offset: int, path: Path) -> hashlib._Hash:
        item = self._items.pop(clip_id, None)
        if item is not None and item[0] == offset:
            return item[1]
        hasher = hashlib.sha256()
        with path.open("rb") as existing:
            remaining = offset
            while remaining > 0 and (block := existing.read(min(_READ_BLOCK, remaining))):
                hasher.update(block)
                remaining -= len(block)
        return hasher

    def keep(self, clip_id: uuid.UUID, offset: int, hasher: hashlib._Hash) -> None:
        self._items[clip_id] = (offset, hasher)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def drop(self, clip_id: uuid.UUID) -> None:
        self._items.pop(clip_id, None)


_hashers = _Hashers()


def parse_metadata(header: str) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64(value)` pairs (a key alone means an empty value)."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput({"Upload-Metadata": f"The value of '{key}' is not base64-encoded UTF-8"}) from exc
    return metadata


def sync_directory(path: Path) -> None:
    """fsync a directory: the names created in it survive a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_file_name(name: str) -> str:
    """The last part of whatever path a device sent, without control characters; never empty."""
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:255]
    return base if base.strip(".") else "clip"  # "..", "." or dots alone are no file name


def clip_out(clip: EvidenceClip, received_bytes: int | None = None) -> ClipOut:
    return ClipOut(
        id=clip.id,
        request_id=clip.request_id,
        file_name=clip.file_name,
        size_bytes=clip.size_bytes,
        received_bytes=clip.size_bytes if received_bytes is None else received_bytes,
        complete=clip.completed_at is not None,
        sha256=clip.sha256,
        note=clip.note,
        created_at=clip.created_at,
        received_at=clip.completed_at,
    )


def _refuse_upload(request: FootageRequest) -> None:
    state = RequestState(request.state)
    if state in UPLOADABLE_STATES:
        return
    if state in (RequestState.SENT, RequestState.SEEN):
        raise Conflict("Accept the request (Share clips) before sending clips")
    raise Conflict(f"This request is {LABELS[state].lower()}; no clips can be sent for it")


async def create_upload(
    db: AsyncSession,
    store: ClipStore,
    owner_id: uuid.UUID,
    request_id: uuid.UUID,
    *,
    length: int | None,
    metadata: dict[str, str],
    max_bytes: int,
) -> EvidenceClip:
    """Start an upload of one file (tus creation): checked before a single byte of it is sent."""
    request, _ = await load_owner_request(db, owner_id, request_id)
    _refuse_upload(request)
    if length is None or length < 1:
        raise InvalidInput({"Upload-Length": "Give the file's size in bytes (Upload-Length); empty files are refused"})
    if length > max_bytes:
        raise TooLarge(f"This file is {length:,} bytes; clips may be at most {max_bytes:,} bytes. Trim it or split it.")
    expected = metadata.get("sha256", "").strip().lower()
    if expected and not _HEX64.match(expected):
        raise InvalidInput({"sha256": "The checksum must be a SHA-256 in hex (64 characters 0-9, a-f)"})
    clip = EvidenceClip(
        id=uuid.uuid4(),
        request_id=request.id,
        owner_id=owner_id,
        agency_id=request.agency_id,
        file_name=_clean_file_name(metadata.get("filename") or metadata.get("name") or ""),
        content_type=(metadata.get("filetype") or metadata.get("type") or "")[:100],
        size_bytes=length,
        expected_sha256=expected,
        created_at=utcnow(),
    )
    path = store.incoming(clip.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    await asyncio.to_thread(sync_directory, path.parent)  # the upload answered 201 exists after a power loss
    db.add(clip)
    try:
        await db.commit()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return clip


async def _owner_clip(db: AsyncSession, owner_id: uuid.UUID, clip_id: uuid.UUID) -> EvidenceClip:
    clip = await db.scalar(select(EvidenceClip).where(EvidenceClip.id == clip_id, EvidenceClip.owner_id == owner_id))
    if clip is None:
        raise NotFound("No such upload among yours")
    return clip


def _received(store: ClipStore, clip: EvidenceClip) -> int:
    if clip.completed_at is not None:
        return clip.size_bytes
    try:
        return store.incoming(clip.id).stat().st_size
    except FileNotFoundError:
        return 0


async def upload_offset(db: AsyncSession, store: ClipStore, owner_id: uuid.UUID, clip_id: uuid.UUID) -> ClipOut:
    """How far an upload has come (tus HEAD)."""
    clip = await _owner_clip(db, owner_id, clip_id)
    if clip.completed_at is None and not store.incoming(clip.id).exists():
        raise NotFound("This upload was removed; start it again")
    return clip_out(clip, _received(store, clip))


async def append(
    db: AsyncSession,
    store: ClipStore,
    owner: User,
    clip_id: uuid.UUID,
    *,
    offset: int,
    content_length: int | None,
    chunks: AsyncIterator[bytes],
    ip: str,
) -> ClipOut:
    """Add bytes at `offset` (tus PATCH); the last byte completes the clip. A dropped connection keeps what
    arrived, so the upload continues from there."""
    clip = await _owner_clip(db, owner.id, clip_id)
    if clip.completed_at is not None:
        if offset == clip.size_bytes and not content_length:
            return clip_out(clip)
        raise Conflict("This clip was received completely; it cannot be changed. Send another file instead.")
    request = await db.get_one(FootageRequest, clip.request_id)
    if RequestState(request.state) not in UPLOADABLE_STATES:
        await _discard(db, store, clip)
        _refuse_upload(request)
    await db.commit()  # no transaction stays open while the bytes stream in
    path = store.incoming(clip.id)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError as exc:
        raise NotFound("This upload was removed; start it again") from exc
    with os.fdopen(fd, "ab", buffering=_WRITE_BUFFER) as target:
        try:
            fcntl.flock(target.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Locked("This file is being sent on another connection; wait a moment and continue") from exc
        received = os.fstat(target.fileno()).st_size
        if offset != received:
            raise Conflict(f"The server has {received:,} bytes of this file, not {offset:,}; continue from there")
        remaining = clip.size_bytes - received
        if content_length is not None and content_length > remaining:
            raise TooLarge(f"Only {remaining:,} more bytes of this file are expected, not {content_length:,}")
        hasher = _hashers.take(clip.id, received, path)
        written, overflow = 0, False
        try:
            async for chunk in chunks:
                if written + len(chunk) > remaining:
                    overflow = True
                    break
                hasher.update(chunk)
                target.write(chunk)
                written += len(chunk)
        finally:
            # Whatever arrived before a dropped connection stays, with the hash that far, on disk before the answer
            # says so (an offset acknowledged is never ahead of the file, even after a power loss).
            target.flush()
            if written and not overflow:
                await asyncio.to_thread(os.fsync, target.fileno())
            if overflow:
                target.truncate(received)
                _hashers.drop(clip.id)
            else:
                _hashers.keep(clip.id, received + written, hasher)
        if overflow:
            raise TooLarge(f"More bytes arrived than the {clip.size_bytes:,} this file has; this part was not kept")
        if received + written < clip.size_bytes:
            return clip_out(clip, received + written)
        _hashers.drop(clip.id)
        return await _complete(db, store, owner, clip, hasher.hexdigest(), ip)


async def _complete(
    db: AsyncSession, store: ClipStore, owner: User, clip: EvidenceClip, digest: str, ip: str
) -> ClipOut:
    """The last byte arrived: check the sender's checksum, fix the clip write-once, record it in custody."""
    request, _ = await load_owner_request(db, owner.id, clip.request_id)
    if clip.expected_sha256 and digest != clip.expected_sha256:
        await _discard(db, store, clip)
        raise Unprocessable(
            f"The file that arrived has SHA-256 {digest}, not {clip.expected_sha256} as your app said; "
            "nothing was kept. Send the file again."
        )
    try:
        move(request, RequestState.UPLOADED)
    except Conflict:
        await _discard(db, store, clip)
        raise
    final = store.final(clip.id)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.link(store.incoming(clip.id), final)  # fails rather than replace an existing clip
    final.chmod(0o440)
    await asyncio.to_thread(sync_directory, final.parent)  # the clip's name is on disk before its row commits
    clip.sha256 = digest
    clip.completed_at = utcnow()
    await record_custody(db, CustodyAction.UPLOAD, owner, request, ip, detail=_clip_detail(clip), sha256=digest)
    if request.investigator_id is not None:
        await notifications.notify(
            db, Kind.FOOTAGE_REQUEST,
            notifications.Message(
                request.investigator_id, "Clip received", f"A clip arrived for case {request.case_number}.",
                f"/console/requests/{request.id}", clips_tag(request.id),
            ),
        )  # fmt: skip
    try:
        await db.commit()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    store.incoming(clip.id).unlink(missing_ok=True)
    return clip_out(clip)


def _clip_detail(clip: EvidenceClip) -> str:
    return f"{clip.file_name} ({clip.size_bytes:,} bytes)"


async def _discard(db: AsyncSession, store: ClipStore, clip: EvidenceClip) -> None:
    """Remove an unfinished upload: its row and its bytes."""
    await db.execute(delete(EvidenceClip).where(EvidenceClip.id == clip.id, EvidenceClip.completed_at.is_(None)))
    await db.commit()
    remove_unfinished(store, [clip.id])


async def cancel_upload(db: AsyncSession, store: ClipStore, owner_id: uuid.UUID, clip_id: uuid.UUID) -> None:
    """The owner stops an unfinished upload (tus termination). A received clip stays: it is evidence."""
    clip = await _owner_clip(db, owner_id, clip_id)
    if clip.completed_at is not None:
        raise Conflict("This clip was received completely; it stays with the request")
    await _discard(db, store, clip)


async def owner_clips(db: AsyncSession, store: ClipStore, owner_id: uuid.UUID, request_id: uuid.UUID) -> list[ClipOut]:
    """The owner's receipts for a request, and any upload still under way."""
    await load_owner_request(db, owner_id, request_id)
    clips = await db.scalars(
        select(EvidenceClip)
        .where(EvidenceClip.request_id == request_id, EvidenceClip.owner_id == owner_id)
        .order_by(EvidenceClip.created_at, EvidenceClip.id)
    )
    return [clip_out(c, _received(store, c)) for c in clips]


async def received_clips(db: AsyncSession, owner_id: uuid.UUID) -> list[ClipOut]:
    """Every clip this owner has sent, for any request (their data export)."""
    clips = await db.scalars(
        select(EvidenceClip)
        .where(EvidenceClip.owner_id == owner_id, EvidenceClip.completed_at.is_not(None))
        .order_by(EvidenceClip.completed_at, EvidenceClip.id)
    )
    return [clip_out(c) for c in clips]


@dataclass(frozen=True)
class ClipReceipt:
    """An owner's receipt for a received clip, as a small text file they can keep or share."""

    file_name: str
    text: str


def _receipt_time(value: dt.datetime, time_zone: str) -> str:
    """The time as the owner's pages show it (with its zone), then in UTC as ISO 8601."""
    return f"{local_time(value, time_zone)} ({value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})"


async def owner_receipt(
    db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID, clip_id: uuid.UUID, time_zone: str
) -> ClipReceipt:
    """The receipt of one of this owner's received clips of this request; anyone else's (or an unfinished
    upload) is a 404."""
    request, agency = await load_owner_request(db, owner_id, request_id)
    clip = await db.scalar(
        select(EvidenceClip).where(
            EvidenceClip.id == clip_id, EvidenceClip.request_id == request.id, EvidenceClip.owner_id == owner_id,
            EvidenceClip.completed_at.is_not(None),
        )
    )  # fmt: skip
    if clip is None or clip.completed_at is None:
        raise NotFound("No such received clip among yours")
    lines = [
        "Porchlight clip receipt",
        "",
        f"Request:  {agency}, case {request.case_number}",
        f"File:     {clip.file_name}",
        f"Size:     {clip.size_bytes:,} bytes",
        f"SHA-256:  {clip.sha256}",
        f"Received: {_receipt_time(clip.completed_at, time_zone)}",
        f"Clip id:  {clip.id}",
        "",
        "The SHA-256 is the clip's fingerprint: a file with this SHA-256 is exactly the video that was sent.",
    ]
    if clip.note:
        lines[8:8] = [f"Note:     {clip.note}"]
    return ClipReceipt(f"receipt-{clip.sha256[:12]}.txt", "\n".join(lines) + "\n")


async def set_note(db: AsyncSession, owner_id: uuid.UUID, clip_id: uuid.UUID, note: str) -> ClipOut:
    """A note beside a received clip (what it shows, the camera's clock being off, ...). The clip is unchanged."""
    clip = await _owner_clip(db, owner_id, clip_id)
    if clip.completed_at is None:
        raise Conflict("Add a note once the clip has arrived")
    clip.note = note.strip()
    await db.commit()
    return clip_out(clip)


async def agency_clips(db: AsyncSession, user: User, request_id: uuid.UUID) -> list[ClipOut]:
    """The received clips of one of the agency's requests (names, sizes and hashes: no footage is opened)."""
    request, _ = await load_agency_request(db, user, request_id)
    clips = await db.scalars(
        select(EvidenceClip)
        .where(EvidenceClip.request_id == request.id, EvidenceClip.completed_at.is_not(None))
        .order_by(EvidenceClip.completed_at, EvidenceClip.id)
    )
    return [clip_out(c) for c in clips]


async def _agency_clip(db: AsyncSession, user: User, clip_id: uuid.UUID) -> tuple[EvidenceClip, FootageRequest]:
    row = (
        await db.execute(
            select(EvidenceClip, FootageRequest)
            .join(FootageRequest, FootageRequest.id == EvidenceClip.request_id)
            .where(
                EvidenceClip.id == clip_id,
                EvidenceClip.agency_id == require_investigator(user),
                EvidenceClip.completed_at.is_not(None),
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such clip for your agency")
    return row[0], row[1]


async def view_clip(db: AsyncSession, user: User, clip_id: uuid.UUID, *, ip: str) -> ClipOut:
    """An investigator opens a clip: recorded in custody and shown to its owner."""
    clip, request = await _agency_clip(db, user, clip_id)
    await record_custody(db, CustodyAction.VIEW, user, request, ip, detail=_clip_detail(clip), sha256=clip.sha256)
    await db.commit()
    return clip_out(clip)


async def download_clip(
    db: AsyncSession, store: ClipStore, user: User, clip_id: uuid.UUID, *, ip: str
) -> tuple[Path, ClipOut]:
    """The file of a clip for the requesting agency; the download is recorded in custody before it starts."""
    clip, request = await _agency_clip(db, user, clip_id)
    path = store.final(clip.id)
    if not path.exists():
        raise NotFound("This clip's file is missing from the evidence store; tell your administrator")
    await record_custody(db, CustodyAction.DOWNLOAD, user, request, ip, detail=_clip_detail(clip), sha256=clip.sha256)
    await db.commit()
    return path, clip_out(clip)


# What a browser may be told a clip is: a video type and nothing a browser would render as a page or run. What the
# upload declared wins; otherwise the file name's extension says it.
_VIDEO_TYPE = re.compile(r"^video/[a-z0-9][a-z0-9.+-]{0,60}$")
VIDEO_EXTENSIONS = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".ts": "video/mp2t", ".ogv": "video/ogg",
    ".3gp": "video/3gpp",
}  # fmt: skip
UNKNOWN_MEDIA_TYPE = "application/octet-stream"
# Playing a clip is recorded once per opening, not once per range request (a player asks for many while it
# buffers and seeks): a play within this time of the same investigator's last recorded view of the clip is part of
# that view. Opening the clip page records a view, so the player on it adds nothing; a play with no view that recent
# (the address opened on its own, or long after) is recorded as a view itself. Deciding by time, not by "the range
# starts at 0", leaves no way to fetch the bytes unrecorded (a first range starting at byte 1 would have).
PLAY_COVERED_BY_VIEW = dt.timedelta(minutes=30)


def clip_media_type(file_name: str, declared: str) -> str:
    """The clip's media type for a player: a video type the upload declared, else the one its extension names."""
    declared = declared.split(";", 1)[0].strip().lower()
    if _VIDEO_TYPE.match(declared):
        return declared
    return VIDEO_EXTENSIONS.get(PurePosixPath(file_name.lower()).suffix, UNKNOWN_MEDIA_TYPE)


@dataclass(frozen=True)
class ClipMedia:
    """What the player gets: the clip's file, its media type and version tag, and the bytes asked for (None: all)."""

    path: Path
    clip: ClipOut
    media_type: str
    etag: str
    byte_range: ByteRange | None


async def _viewed_lately(db: AsyncSession, user: User, clip: EvidenceClip, request: FootageRequest) -> bool:
    since = utcnow() - PLAY_COVERED_BY_VIEW
    found = await db.scalar(
        select(CustodyEvent.id)
        .where(
            CustodyEvent.agency_id == request.agency_id,
            CustodyEvent.case_number == request.case_number,
            CustodyEvent.request_id == request.id,
            CustodyEvent.actor_id == user.id,
            CustodyEvent.action == CustodyAction.VIEW,
            CustodyEvent.sha256 == clip.sha256,
            CustodyEvent.at >= since,
        )  # fmt: skip
        .limit(1)
    )
    return found is not None


async def play_clip(
    db: AsyncSession, store: ClipStore, user: User, clip_id: uuid.UUID, *, ip: str, range_header: str | None = None,
    if_range: str | None = None,
) -> ClipMedia:  # fmt: skip
    """A clip for the browser's player, whole or the byte range asked for, to the requesting agency only. Recorded
    in custody as a view (shown to the owner) unless this investigator's view of it a moment ago covers it; a range
    outside the file is refused (416) before anything is recorded."""
    clip, request = await _agency_clip(db, user, clip_id)
    path = store.final(clip.id)
    if not path.exists():
        raise NotFound("This clip's file is missing from the evidence store; tell your administrator")
    etag = f'"{clip.sha256}"'  # a received clip never changes: its SHA-256 names its one version
    byte_range = requested_range(range_header, clip.size_bytes, if_range=if_range, etag=etag)
    if not await _viewed_lately(db, user, clip, request):
        detail = f"played in the browser: {_clip_detail(clip)}"
        await record_custody(db, CustodyAction.VIEW, user, request, ip, detail=detail, sha256=clip.sha256)
        await db.commit()
    media_type = clip_media_type(clip.file_name, clip.content_type)
    return ClipMedia(path, clip_out(clip), media_type, etag, byte_range)


async def open_clip(db: AsyncSession, user: User, clip_id: uuid.UUID, *, ip: str) -> tuple[ClipOut, str]:
    """The clip page: the clip opened (recorded as a view, as `view_clip`) and its media type for the player."""
    clip, request = await _agency_clip(db, user, clip_id)
    await record_custody(db, CustodyAction.VIEW, user, request, ip, detail=_clip_detail(clip), sha256=clip.sha256)
    await db.commit()
    return clip_out(clip), clip_media_type(clip.file_name, clip.content_type)


async def read_range(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    """The bytes of a file from `start`, `length` of them, a block at a time (never the whole clip in memory)."""
    with path.open("rb") as file:
        await asyncio.to_thread(file.seek, start)
        while length > 0 and (block := await asyncio.to_thread(file.read, min(_READ_BLOCK, length))):
            length -= len(block)
            yield block


async def custody_report(db: AsyncSession, user: User, case_number: str) -> list[CustodyRowOut]:
    """Every custody event of one of the agency's cases, oldest first: who, when, from where, and the hash."""
    agency_id = require_investigator(user)
    case_number = case_number.strip()
    if not case_number:
        raise InvalidInput({"case_number": "Give the case number"})
    rows = await db.execute(
        select(CustodyEvent, Agency.name)
        .join(Agency, Agency.id == CustodyEvent.agency_id)
        .where(CustodyEvent.agency_id == agency_id, CustodyEvent.case_number == case_number)
        .order_by(CustodyEvent.at, CustodyEvent.id)
    )
    return [_custody_row(event, agency) for event, agency in rows]


def _custody_row(event: CustodyEvent, agency: str) -> CustodyRowOut:
    return CustodyRowOut(
        id=event.id, at=event.at, action=CustodyAction(event.action), actor=event.actor_name, agency=agency,
        case_number=event.case_number, request_id=event.request_id, ip=event.ip, sha256=event.sha256,
        detail=event.detail, prev_hash=event.prev_hash, hash=event.hash,
    )  # fmt: skip


CSV_COLUMNS = (
    "id", "at", "action", "actor", "agency", "case_number", "request_id", "ip", "sha256", "detail", "prev_hash", "hash"
)  # fmt: skip


def _cell(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if value is None or isinstance(value, uuid.UUID):
        return str(value or "")
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def custody_csv(rows: list[CustodyRowOut]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


async def discard_abandoned_uploads(db: AsyncSession, store: ClipStore, now: dt.datetime | None = None) -> int:
    """Unfinished uploads of requests that closed, or that nobody continued for a week, are removed."""
    now = now or utcnow()
    abandoned = (
        await db.scalars(
            select(EvidenceClip)
            .join(FootageRequest, FootageRequest.id == EvidenceClip.request_id)
            .where(EvidenceClip.completed_at.is_(None))
            .where(
                FootageRequest.state.not_in([s.value for s in UPLOADABLE_STATES])
                | (EvidenceClip.created_at < now - ABANDONED_AFTER)
            )
        )
    ).all()
    for clip in abandoned:
        await _discard(db, store, clip)
    return len(abandoned)


# --- an owner deleting their account ------------------------------------------------------------------------


async def kept_after_deletion(db: AsyncSession, owner_id: uuid.UUID) -> int:
    """How many received clips would stay with their cases if this owner deleted their account."""
    return (
        await db.scalar(
            select(func.count()).where(EvidenceClip.owner_id == owner_id, EvidenceClip.completed_at.is_not(None))
        )
        or 0
    )


async def forget_owner(db: AsyncSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """Before an owner's account is deleted: clips they already sent, and the requests those answered, belong to
    the case and stay (the database unlinks them from the owner); unfinished uploads and every other request go.
    The custody log is not touched. Returns the unfinished uploads whose bytes to remove once this commits."""
    unfinished = list(
        await db.scalars(
            select(EvidenceClip.id).where(EvidenceClip.owner_id == owner_id, EvidenceClip.completed_at.is_(None))
        )
    )
    await db.execute(delete(EvidenceClip).where(EvidenceClip.id.in_(unfinished)))
    answered_with_clips = select(EvidenceClip.id).where(EvidenceClip.request_id == FootageRequest.id).exists()
    await db.execute(delete(FootageRequest).where(FootageRequest.owner_id == owner_id, ~answered_with_clips))
    return unfinished


def remove_unfinished(store: ClipStore, clip_ids: list[uuid.UUID]) -> None:
    for clip_id in clip_ids:
        store.incoming(clip_id).unlink(missing_ok=True)
        _hashers.drop(clip_id)


# --- checking the store ---------------------------------------------------------------------------------------


@dataclass
class StoreCheck:
    """What `porchlight evidence verify` found: clips whose file is gone or no longer matches its SHA-256, and
    files in the store that no clip owns."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.changed) + len(self.orphaned)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


async def verify_store(db: AsyncSession, store: ClipStore) -> StoreCheck:
    """Re-hash every received clip against the SHA-256 recorded when it arrived, and list stray files."""
    check = StoreCheck()
    clips = (await db.execute(select(EvidenceClip.id, EvidenceClip.sha256, EvidenceClip.completed_at))).all()
    received = {clip_id: sha256 for clip_id, sha256, completed_at in clips if completed_at is not None}
    unfinished = {clip_id for clip_id, _, completed_at in clips if completed_at is None}
    for clip_id, sha256 in received.items():
        path = store.final(clip_id)
        check.checked += 1
        if not path.is_file():
            check.missing.append(f"clip {clip_id}: {path} is missing")
        elif await asyncio.to_thread(_sha256_of, path) != sha256:
            check.changed.append(f"clip {clip_id}: {path} no longer matches its SHA-256 {sha256}")
    for folder, owned in ((store.root / "clips", received), (store.root / "incoming", unfinished)):
        names = {clip_id.hex for clip_id in owned}
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and path.name not in names:
                check.orphaned.append(f"{path} belongs to no clip")
    return check
