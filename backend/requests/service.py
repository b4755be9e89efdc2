"""Footage requests: sending (one per owner), the owner's answer, withdrawal, expiry and reminders, custody.

Every state change goes through states.next_state; every police access to an owner's data is a CustodyEvent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend import pagination
from backend.accounts.models import Agency, Role, User
from backend.db import utcnow
from backend.devices import service as devices
from backend.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from backend.hot_reads import HotRead
from backend.local_time import local_day
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.registry import geo
from backend.registry import service as registry
from backend.registry.models import Camera, Site
from backend.requests import audit
from backend.requests.models import (
    QUICK_REPLY_LABELS,
    REQUEST_TYPE_LABELS,
    Answer,
    CustodyAction,
    CustodyEvent,
    FootageRequest,
    QuickReply,
    RequestedCamera,
    RequestMessage,
    RequestType,
)
from backend.requests.receipts import POLICE_ACCESS_TAG, clips_tag, request_tag
from backend.requests.schemas import (
    MESSAGE_MAX_CHARS,
    AnswerIn,
    AreaRequestIn,
    CameraSearchIn,
    CameraSearchOut,
    ClipOut,
    ContactCardOut,
    FoundCamera,
    MessageOut,
    RequestedCameraOut,
    RequestOut,
)
from backend.requests.states import (
    CONVERSATION_STATES,
    LABELS,
    OPEN_STATES,
    IllegalTransition,
    RequestState,
    Side,
    next_state,
    owner_outcome,
    state_label,
)
from backend.sharing.models import ShareSession

MAX_WINDOW = dt.timedelta(days=7)
DEFAULT_DEADLINE = dt.timedelta(days=7)
# An emergency (someone may be in danger) is answered within hours, not days, when the investigator sets no deadline.
EMERGENCY_DEADLINE = dt.timedelta(hours=12)
MIN_DEADLINE = dt.timedelta(hours=1)
REMINDER_BEFORE = dt.timedelta(hours=24)
# Quick replies that close a request as "no footage"; "decline" declines; "need more info" keeps it open.
NO_FOOTAGE_REPLIES = frozenset({QuickReply.NO_FOOTAGE, QuickReply.NOT_RECORDING, QuickReply.NOT_COVERED})


def move(request: FootageRequest, wanted: RequestState) -> None:
    try:
        request.state = next_state(RequestState(request.state), wanted)
    except IllegalTransition as exc:
        raise Conflict(str(exc)) from exc
    if wanted not in OPEN_STATES and wanted is not RequestState.UPLOADED:
        request.closed_at = utcnow()
    if wanted is not RequestState.SEEN:  # the owner answered (or the request closed): nobody's turn to write
        request.waiting_on = None


def overwritten_at(window_start: dt.datetime, retention_days: int) -> dt.datetime:
    """When a recorder keeping `retention_days` days overwrites the start of the window."""
    return window_start + dt.timedelta(days=retention_days)


def _out(
    request: Any,
    agency_name: str,
    reader: Side,
    cameras: Iterable[Any] | None = None,
    site_names: dict[uuid.UUID, str] | None = None,
) -> RequestOut:
    """A request as the API gives it to one side (its owner, or its agency): an ORM object with its cameras, or a
    row and the camera rows read beside it. Only the owner is given their cameras' site names (`site_names`): an
    agency learns the owner's sites through the contact card, whose opening is recorded."""
    site_names = site_names or {}
    waiting_on = Side(request.waiting_on) if request.waiting_on else None
    return RequestOut(
        id=request.id,
        agency=agency_name,
        case_number=request.case_number,
        request_type=RequestType(request.request_type),
        request_type_label=REQUEST_TYPE_LABELS[RequestType(request.request_type)],
        state=RequestState(request.state),
        state_label=state_label(RequestState(request.state), waiting_on, reader),
        waiting_on=waiting_on,
        incident_latitude=request.incident_latitude,
        incident_longitude=request.incident_longitude,
        incident_address=request.incident_address,
        window_start=request.window_start,
        window_end=request.window_end,
        message=request.message,
        deadline_at=request.deadline_at,
        reply=QuickReply(request.reply) if request.reply else None,
        reply_message=request.reply_message,
        created_at=request.created_at,
        closed_at=request.closed_at,
        cameras=[
            RequestedCameraOut(
                camera_id=c.camera_id,
                name=c.name,
                site_name=site_names.get(c.camera_id, "") if reader is Side.OWNER else "",
                retention_days=c.retention_days,
                distance_m=c.distance_m,
                overwritten_at=overwritten_at(request.window_start, c.retention_days),
            )  # fmt: skip
            for c in (request.cameras if cameras is None else cameras)
        ],
    )


# How an owner's own act (an upload) is recorded: an agency reads the custody log, and the owner's identity reaches
# an agency only through the contact card, whose opening is recorded. So neither their name nor their address is kept.
OWNER_IN_CUSTODY = "Camera owner"


async def record_custody(
    db: AsyncSession,
    action: CustodyAction,
    actor: User,
    subject: FootageRequest | ShareSession | list[FootageRequest],
    ip: str,
    detail: str = "",
    sha256: str = "",
) -> None:
    """One row of the append-only custody log: a police access to an owner's data (a footage request's, or a live
    share's) or an evidence event, with who, when, from where; chained to the agency's previous row (audit). Given
    several requests (an area request), a row for each, written together."""
    at = utcnow()

    def event(subject: FootageRequest | ShareSession) -> CustodyEvent:
        of_request = isinstance(subject, FootageRequest)
        by_owner = actor.id == subject.owner_id
        return CustodyEvent(
            at=at,
            action=action,
            actor_id=actor.id,
            actor_name=OWNER_IN_CUSTODY if by_owner else actor.display_name,
            agency_id=subject.agency_id,
            owner_id=subject.owner_id,
            request_id=subject.id if of_request else None,
            share_id=None if of_request else subject.id,
            case_number=subject.case_number if of_request else "",
            ip="" if by_owner else ip[:45],
            sha256=sha256,
            detail=detail[:300],
        )

    await audit.append(db, *(event(s) for s in (subject if isinstance(subject, list) else [subject])))


def require_investigator(user: User) -> uuid.UUID:
    if not user.has_role(Role.INVESTIGATOR) or user.agency_id is None:
        raise Forbidden("Only investigators of an agency send and follow footage requests")
    return user.agency_id


def _check_window(window_start: dt.datetime, window_end: dt.datetime) -> None:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise InvalidInput({"window_start": "Give times with their time zone (e.g. 2026-11-20T21:30:00-06:00)"})
    if window_end <= window_start:
        raise InvalidInput({"window_end": "The incident window must end after it starts"})
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput({"window_end": "The incident window may be at most 7 days long"})


async def search_cameras(db: AsyncSession, investigator: User, data: CameraSearchIn) -> CameraSearchOut:
    """Registered, unpaused cameras near an incident, nearest first, with what each can show and whether its
    recorder has probably overwritten the window already. No owner's name or contact is part of a result."""
    require_investigator(investigator)
    _check_window(data.window_start, data.window_end)
    now = utcnow()
    search = await registry.find_cameras_near(
        db, latitude=data.latitude, longitude=data.longitude, radius_m=data.radius_m
    )
    live = await devices.live_capable(db, [camera.id for camera in search.cameras])
    cameras = []
    for camera in search.cameras:
        overwrite = overwritten_at(data.window_start, camera.retention_days)
        cameras.append(
            FoundCamera(
                id=camera.id, name=camera.name, latitude=camera.latitude, longitude=camera.longitude,
                distance_m=round(camera.distance_m, 1), bearing_deg=camera.bearing_deg,
                facing=geo.compass_point(camera.bearing_deg), field_of_view_deg=camera.field_of_view_deg,
                range_m=camera.range_m, incident_in_view=camera.incident_in_view, placement=camera.placement,
                recorder=camera.recorder, retention_days=camera.retention_days, overwritten_at=overwrite,
                probably_overwritten=overwrite < now, live_capable=camera.id in live,
            )
        )  # fmt: skip
    return CameraSearchOut(total=search.total, owners=len({c.owner_id for c in search.cameras}), cameras=cameras)


async def send_area_request(db: AsyncSession, investigator: User, data: AreaRequestIn, *, ip: str) -> list[RequestOut]:
    """One request per owner of the given cameras (paused cameras are skipped), with its outbox rows, at once."""
    agency_id = require_investigator(investigator)
    now = utcnow()
    _check_window(data.window_start, data.window_end)
    if data.deadline_at is not None and data.deadline_at <= now:
        raise InvalidInput({"deadline_at": "The deadline must be in the future"})
    rows = (
        await db.execute(
            select(Camera, Site.owner_id)
            .join(Site, Site.id == Camera.site_id)
            .where(Camera.id.in_(set(data.camera_ids)), Camera.paused_at.is_(None))
        )
    ).all()
    if not rows:
        raise InvalidInput(
            {"camera_ids": "None of these cameras can be asked: they are paused or no longer registered"}
        )
    by_owner: dict[uuid.UUID, list[Camera]] = defaultdict(list)
    for camera, owner_id in rows:
        by_owner[owner_id].append(camera)
    if data.only_owner_of is not None:
        owner_id = next((owner for camera, owner in rows if camera.id == data.only_owner_of), None)
        if owner_id is None:
            raise InvalidInput({"only_owner_of": "That camera is not among the ones to ask (paused or removed?)"})
        by_owner = {owner_id: by_owner[owner_id]}
    agency = await db.get_one(Agency, agency_id)
    incident = (data.incident_latitude, data.incident_longitude)
    created = []
    for owner_id, cameras in by_owner.items():
        earliest_overwrite = min(overwritten_at(data.window_start, c.retention_days) for c in cameras)
        default = EMERGENCY_DEADLINE if data.request_type is RequestType.EMERGENCY else DEFAULT_DEADLINE
        deadline = data.deadline_at or max(min(now + default, earliest_overwrite), now + MIN_DEADLINE)
        request = FootageRequest(
            id=uuid.uuid4(), agency_id=agency_id, investigator_id=investigator.id, owner_id=owner_id,
            case_number=data.case_number.strip(), request_type=data.request_type,
            incident_latitude=data.incident_latitude, incident_longitude=data.incident_longitude,
            incident_address=data.incident_address.strip(), window_start=data.window_start,
            window_end=data.window_end, message=data.message.strip(), deadline_at=deadline,
            state=RequestState.SENT, created_at=now,
            cameras=[
                RequestedCamera(
                    camera_id=c.id, name=c.name, retention_days=c.retention_days,
                    distance_m=round(geo.haversine_m(incident[0], incident[1], c.latitude, c.longitude), 1),
                )
                for c in sorted(cameras, key=lambda c: c.name)
            ],
        )  # fmt: skip
        created.append(request)
    db.add_all(created)
    await db.flush()  # the custody rows refer to the requests
    await record_custody(db, CustodyAction.REQUEST_SENT, investigator, created, ip)
    messages = []
    for request in created:
        names = [c.name for c in request.cameras]
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        emergency = request.request_type == RequestType.EMERGENCY
        messages.append(
            notifications.Message(
                request.owner_id,
                "Emergency: police request footage now" if emergency else "Police request footage",
                f"Near your camera '{names[0]}'{more}. Open to answer.",
                f"/requests/{request.id}",
                request_tag(request.id),
            )  # fmt: skip
        )
    await notifications.notify_many(db, Kind.FOOTAGE_REQUEST, messages)
    await db.commit()
    return [_out(r, agency.name, Side.INVESTIGATOR) for r in created]


def _with_agency_name() -> Select[tuple[FootageRequest, str]]:
    return select(FootageRequest, Agency.name).join(Agency, Agency.id == FootageRequest.agency_id)


async def _one_request(
    db: AsyncSession, scope: ColumnElement[bool], request_id: uuid.UUID, missing: str
) -> tuple[FootageRequest, str]:
    """A request within the caller's scope (their own, or their agency's): anything else is a 404."""
    row = (await db.execute(_with_agency_name().where(FootageRequest.id == request_id, scope))).first()
    if row is None:
        raise NotFound(missing)
    return row[0], row[1]


async def load_owner_request(
    db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID
) -> tuple[FootageRequest, str]:
    return await _one_request(db, FootageRequest.owner_id == owner_id, request_id, "No such request among yours")


async def load_agency_request(db: AsyncSession, user: User, request_id: uuid.UUID) -> tuple[FootageRequest, str]:
    scope = FootageRequest.agency_id == require_investigator(user)
    return await _one_request(db, scope, request_id, "No such request from your agency")


def _owner_requests(after_cursor: bool) -> HotRead:
    """An owner's requests, newest first, one row per named camera (a request naming none: one row, its camera all
    None), with the agency's name: a page of them (`limit` + 1 requests, after the cursor's key if `after_cursor`).
    One round trip, on the driver (hot_reads): plain rows go straight into the answer."""
    requests, cameras, site_name = FootageRequest.__table__, RequestedCamera.__table__, Site.__table__.c.name
    # What the owner's answer shows (_out): not whose it is, nor when it was seen, answered or reminded of; and of
    # each camera, not the request's id again. Fewer values to read and convert (ids are UUIDs built one by one).
    shown = [c for c in requests.c if c.key not in ("agency_id", "investigator_id", "owner_id", "seen_at",
                                                     "answered_at", "reminded_at")]  # fmt: skip
    camera = [cameras.c.camera_id, cameras.c.name, cameras.c.retention_days, cameras.c.distance_m]
    page = select(requests.c.id).where(requests.c.owner_id == bindparam("owner_id"))
    if after_cursor:
        page = page.where(
            pagination.older_than(requests.c.created_at, requests.c.id, (bindparam("at"), bindparam("id")))
        )
    page = page.order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(bindparam("limit", type_=Integer))
    return HotRead(
        select(*shown, Agency.__table__.c.name, *camera, site_name)
        .select_from(
            requests.join(Agency.__table__)
            .outerjoin(cameras)
            .outerjoin(Camera.__table__, Camera.__table__.c.id == cameras.c.camera_id)
            .outerjoin(Site.__table__, Site.__table__.c.id == Camera.__table__.c.site_id)
        )
        .where(requests.c.id.in_(page.scalar_subquery()))
        .order_by(requests.c.created_at.desc(), requests.c.id.desc(), cameras.c.name, cameras.c.camera_id),
        shown,
        Agency.__table__.c.name,
        camera,
        site_name,
    )


_OWNER_REQUESTS = {after: _owner_requests(after) for after in (False, True)}


async def owner_requests(
    db: AsyncSession, owner_id: uuid.UUID, before: str | None = None, limit: int = pagination.PAGE_SIZE
) -> pagination.Page[RequestOut]:
    """A page of the owner's requests, newest first (`before`: the cursor of the page before it)."""
    key = pagination.decode(before, uuid.UUID)
    params = {"owner_id": owner_id, "limit": limit + 1, **({"at": key[0], "id": key[1]} if key else {})}
    requests: dict[uuid.UUID, tuple[Any, str, list[Any]]] = {}
    site_names: dict[uuid.UUID, str] = {}
    for request, agency, camera, site_name in await _OWNER_REQUESTS[key is not None].rows(db, **params):
        cameras = requests.setdefault(request.id, (request, agency, []))[2]
        if camera.camera_id is not None:
            cameras.append(camera)
            if site_name:
                site_names[camera.camera_id] = site_name
    page = pagination.page_of(list(requests.values()), limit, lambda row: (row[0].created_at, row[0].id))
    return page.map(lambda row: _out(row[0], row[1], Side.OWNER, row[2], site_names))


async def _site_names(db: AsyncSession, request: FootageRequest) -> dict[uuid.UUID, str]:
    """The site each of a request's cameras is at, by camera id (a camera deleted since has none)."""
    rows = await db.execute(
        select(Camera.id, Site.name)
        .join(Site, Site.id == Camera.site_id)
        .where(Camera.id.in_([c.camera_id for c in request.cameras]), Site.owner_id == request.owner_id)
    )
    return dict(rows.tuples().all())


async def open_for_owner(db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID) -> RequestOut:
    """The owner opens a request: the first time, it becomes "seen"; its notifications and the investigator's
    messages are read."""
    request, agency = await load_owner_request(db, owner_id, request_id)
    changed = await _read_by(db, request, Side.OWNER, owner_id)
    if request.state == RequestState.SENT:
        move(request, RequestState.SEEN)
        request.seen_at = utcnow()
        changed = True
    if changed:
        await db.commit()
    return _out(request, agency, Side.OWNER, site_names=await _site_names(db, request))


async def answer(db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID, data: AnswerIn) -> RequestOut:
    """Share clips (accept) or a quick reply; the investigator is told. Declining carries no penalty. "Need more
    information" is a question: it opens (or continues) the request's conversation and keeps the request open."""
    request, agency = await load_owner_request(db, owner_id, request_id)
    if data.answer is Answer.NEED_MORE_INFO:
        text = _message_text(data.message, "message", "Say what you need to know; the investigator sees your message")
        if RequestState(request.state) not in OPEN_STATES:
            raise Conflict(f"This request is {LABELS[RequestState(request.state)].lower()}; it cannot be answered")
        if request.state == RequestState.SENT:
            move(request, RequestState.SEEN)
        await _write(db, request, Side.OWNER, owner_id, "", text)
        request.reply = QuickReply.NEED_MORE_INFO
    else:
        if data.answer is Answer.ACCEPT:
            move(request, RequestState.ACCEPTED)
        else:
            reply = QuickReply(data.answer)
            move(request, RequestState.NO_FOOTAGE if reply in NO_FOOTAGE_REPLIES else RequestState.DECLINED)
            request.reply = reply
        await _tell_investigator(db, request, "An owner answered", f"{ANSWER_NEWS[data.answer]}.")
    request.reply_message = data.message.strip()
    request.answered_at = utcnow()
    await _read_by(db, request, Side.OWNER, owner_id)
    await db.commit()
    return _out(request, agency, Side.OWNER, site_names=await _site_names(db, request))


# What the investigator is told of each answer (the quick reply's words, or what accepting means).
ANSWER_NEWS = {
    Answer.ACCEPT: "Accepted: clips will follow",
    **{Answer(reply.value): label for reply, label in QUICK_REPLY_LABELS.items()},
}


async def _tell_investigator(db: AsyncSession, request: FootageRequest, title: str, news: str) -> None:
    """An in-app notification to the investigator who sent the request, about it (opening the request in the
    console reads it, with its clip notifications)."""
    if request.investigator_id is None:
        return  # their account was deleted; the agency's other investigators see the request's state
    cameras = ", ".join(c.name for c in request.cameras)
    await notifications.notify(
        db, Kind.FOOTAGE_REQUEST,
        notifications.Message(
            request.investigator_id, title, f"Case {request.case_number} ({cameras}): {news}"[:300],
            f"/console/requests/{request.id}", clips_tag(request.id),
        ),
    )  # fmt: skip


# --- the conversation of a request ------------------------------------------------------------------------


def _message_text(text: str, field: str, empty: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput({field: empty})
    if len(text) > MESSAGE_MAX_CHARS:
        raise InvalidInput({field: f"Write at most {MESSAGE_MAX_CHARS:,} characters; this message has {len(text):,}"})
    return text


async def _write(
    db: AsyncSession, request: FootageRequest, author: Side, author_id: uuid.UUID, author_name: str, text: str
) -> RequestMessage:
    """Add a message to the request's conversation; it becomes the other side's turn, and the other side is told
    (the owner in-app and on their phones, the investigator in-app). No message text goes into a notification.
    Not a custody event, as an answer or a withdrawal is not: it is neither a police access to the owner's data nor
    evidence, and the conversation itself is the record both sides see."""
    state = RequestState(request.state)
    if state not in CONVERSATION_STATES:
        raise Conflict(f"This request is {LABELS[state].lower()}; its conversation is closed")
    if request.owner_id is None:
        raise Gone("The owner deleted their account; the clips they sent stay with this case")
    message = RequestMessage(
        id=uuid.uuid4(), request_id=request.id, author=author, author_id=author_id, author_name=author_name,
        text=text, created_at=utcnow(),
    )  # fmt: skip
    db.add(message)
    if author is Side.OWNER:
        request.waiting_on = Side.INVESTIGATOR
        await _tell_investigator(db, request, "An owner wrote to you", "open the request to read and reply.")
    else:
        request.waiting_on = Side.OWNER
        agency = await db.get_one(Agency, request.agency_id)
        await notifications.notify(
            db, Kind.FOOTAGE_REQUEST,
            notifications.Message(
                request.owner_id, f"{agency.name} wrote to you"[:120],
                "A reply about their footage request. Open to read it.", f"/requests/{request.id}",
                request_tag(request.id),
            ),
        )  # fmt: skip
    await db.flush()
    return message


async def _read_by(db: AsyncSession, request: FootageRequest, reader: Side, user_id: uuid.UUID) -> bool:
    """One side opened the request: the other side's messages and this person's notifications about it are read.
    In the caller's transaction; says whether anything was unread."""
    tag = request_tag(request.id) if reader is Side.OWNER else clips_tag(request.id)
    changed = await notifications.mark_subject_read(db, user_id, tag)
    done = await db.execute(
        update(RequestMessage)
        .where(
            RequestMessage.request_id == request.id,
            RequestMessage.author != reader,
            RequestMessage.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return changed or done.rowcount > 0


def _message_out(message: RequestMessage) -> MessageOut:
    return MessageOut(
        id=message.id, author=Side(message.author), author_name=message.author_name, text=message.text,
        created_at=message.created_at, read_at=message.read_at,
    )  # fmt: skip


async def _conversation(
    db: AsyncSession, request: FootageRequest, reader: Side, user_id: uuid.UUID
) -> list[MessageOut]:
    if await _read_by(db, request, reader, user_id):
        await db.commit()
    messages = await db.scalars(
        select(RequestMessage)
        .where(RequestMessage.request_id == request.id)
        .order_by(RequestMessage.created_at, RequestMessage.id)
    )
    return [_message_out(m) for m in messages]


async def owner_conversation(db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID) -> list[MessageOut]:
    """The messages of a request sent to this owner, oldest first; the investigator's are read now."""
    request, _ = await load_owner_request(db, owner_id, request_id)
    return await _conversation(db, request, Side.OWNER, owner_id)


async def agency_conversation(db: AsyncSession, user: User, request_id: uuid.UUID) -> list[MessageOut]:
    """The messages of one of the agency's requests, oldest first; the owner's are read now."""
    request, _ = await load_agency_request(db, user, request_id)
    return await _conversation(db, request, Side.INVESTIGATOR, user.id)


async def owner_writes(db: AsyncSession, owner_id: uuid.UUID, request_id: uuid.UUID, text: str) -> MessageOut:
    """The owner writes to the investigator (a question, or an answer to their reply)."""
    request, _ = await load_owner_request(db, owner_id, request_id)
    text = _message_text(text, "text", "Write your message first")
    if request.state == RequestState.SENT:
        move(request, RequestState.SEEN)
        request.seen_at = utcnow()
    message = await _write(db, request, Side.OWNER, owner_id, "", text)
    await _read_by(db, request, Side.OWNER, owner_id)
    await db.commit()
    return _message_out(message)


async def owner_messages(db: AsyncSession, owner_id: uuid.UUID) -> list[dict[str, object]]:
    """Every message of this owner's requests' conversations (their data export), oldest first, with its request."""
    rows = await db.execute(
        select(RequestMessage, FootageRequest.case_number)
        .join(FootageRequest, FootageRequest.id == RequestMessage.request_id)
        .where(FootageRequest.owner_id == owner_id)
        .order_by(RequestMessage.created_at, RequestMessage.id)
    )
    return [
        {"request_id": m.request_id, "case_number": case_number, "author": Side(m.author),
         "author_name": m.author_name, "text": m.text, "created_at": m.created_at, "read_at": m.read_at}
        for m, case_number in rows
    ]  # fmt: skip


async def investigator_writes(db: AsyncSession, user: User, request_id: uuid.UUID, text: str) -> MessageOut:
    """An investigator of the request's agency writes to its owner (a reply to their question)."""
    request, _ = await load_agency_request(db, user, request_id)
    text = _message_text(text, "text", "Write your reply first")
    message = await _write(db, request, Side.INVESTIGATOR, user.id, user.display_name[:100], text)
    await _read_by(db, request, Side.INVESTIGATOR, user.id)
    await db.commit()
    return _message_out(message)


async def agency_requests(
    db: AsyncSession,
    user: User,
    case_number: str | None = None,
    before: str | None = None,
    limit: int = pagination.PAGE_SIZE,
) -> pagination.Page[RequestOut]:
    """A page of the agency's requests (of one case, if given), newest first."""
    agency_id = require_investigator(user)
    query = (
        _with_agency_name().where(FootageRequest.agency_id == agency_id)
        .order_by(FootageRequest.created_at.desc(), FootageRequest.id.desc()).limit(limit + 1)
    )  # fmt: skip
    if case_number:
        query = query.where(FootageRequest.case_number == case_number)
    if key := pagination.decode(before, uuid.UUID):
        query = query.where(pagination.older_than(FootageRequest.created_at, FootageRequest.id, key))
    page = pagination.page_of((await db.execute(query)).all(), limit, lambda row: (row[0].created_at, row[0].id))
    return page.map(lambda row: _out(row[0], row[1], Side.INVESTIGATOR))


async def agency_request(db: AsyncSession, user: User, request_id: uuid.UUID) -> RequestOut:
    """One of the agency's requests (another agency's is a 404); the investigator's notifications of it (clips,
    answers, messages) and the owner's messages are read."""
    request, agency = await load_agency_request(db, user, request_id)
    if await _read_by(db, request, Side.INVESTIGATOR, user.id):
        await db.commit()
    return _out(request, agency, Side.INVESTIGATOR)


async def withdraw(db: AsyncSession, user: User, request_id: uuid.UUID) -> RequestOut:
    request, agency = await load_agency_request(db, user, request_id)
    move(request, RequestState.WITHDRAWN)
    await notifications.notify(
        db, Kind.FOOTAGE_REQUEST,
        notifications.Message(
            request.owner_id, "Footage request withdrawn",
            "Police no longer need footage for this request. Nothing more to do.",
            f"/requests/{request.id}", request_tag(request.id),
        ),
    )  # fmt: skip
    await db.commit()
    return _out(request, agency, Side.INVESTIGATOR)


async def contact_card(db: AsyncSession, user: User, request_id: uuid.UUID, *, ip: str) -> ContactCardOut:
    """How to reach the owner of a request's cameras. Opening it is recorded and shown to the owner."""
    request, _ = await load_agency_request(db, user, request_id)
    if request.owner_id is None:
        raise Gone("The owner deleted their account; the clips they sent stay with this case")
    owner = await db.get_one(User, request.owner_id)
    camera_ids = [c.camera_id for c in request.cameras]
    sites = (
        await db.scalars(
            select(Site).join(Camera, Camera.site_id == Site.id).where(Camera.id.in_(camera_ids)).distinct()
        )
    ).all()
    await record_custody(db, CustodyAction.CONTACT_VIEWED, user, request, ip)
    await db.commit()
    return ContactCardOut(
        owner_name=owner.display_name,
        sites=[
            {
                "name": s.name,
                "address": s.address,
                "phone": s.contact_phone,
                "email": s.contact_email,
                "hours": s.contact_hours,
                "note": s.investigator_note,
            }
            for s in sites
        ],  # fmt: skip
    )


def _live_access(action: CustodyAction, detail: str, site: str) -> str:
    """What the live desk did, as the owner reads it ("opened live video of Front door")."""
    if action == CustodyAction.LIVE_VIEW:
        return detail or f"opened your live video of {site}"
    if action == CustodyAction.LIVE_ACKNOWLEDGED:
        return f"said they are watching your live video of {site}"
    asked = detail.split(": ", 1)[-1] if detail else "asked for more time"  # "Home: asked for 30 min more"
    return f"{asked} of your live video of {site}"


LIVE_ACTIONS = frozenset({CustodyAction.LIVE_VIEW, CustodyAction.LIVE_ACKNOWLEDGED, CustodyAction.LIVE_MORE_TIME})


async def open_access_log(
    db: AsyncSession, owner_id: uuid.UUID, before: str | None = None
) -> pagination.Page[dict[str, object]]:
    """The owner reads who accessed their information: the "police looked" notifications are read."""
    if await notifications.mark_subject_read(db, owner_id, POLICE_ACCESS_TAG):
        await db.commit()
    return await access_log(db, owner_id, before)


async def access_log(
    db: AsyncSession, owner_id: uuid.UUID, before: str | None = None, limit: int = pagination.PAGE_SIZE
) -> pagination.Page[dict[str, object]]:
    """Police accesses to this owner's information, newest first, a page at a time (the owner's "Who accessed"
    page); live-video accesses (share now) carry their share and what was done, in words."""
    query = (
        select(CustodyEvent, Agency.name, Site.name)
        .join(Agency, Agency.id == CustodyEvent.agency_id)
        .outerjoin(ShareSession, ShareSession.id == CustodyEvent.share_id)
        .outerjoin(Site, Site.id == ShareSession.site_id)
        .where(CustodyEvent.owner_id == owner_id, CustodyEvent.action != CustodyAction.UPLOAD)  # police accesses only
        .order_by(CustodyEvent.at.desc(), CustodyEvent.id.desc())
        .limit(limit + 1)
    )
    if key := pagination.decode(before, int):
        query = query.where(pagination.older_than(CustodyEvent.at, CustodyEvent.id, key))
    page = pagination.page_of((await db.execute(query)).all(), limit, lambda row: (row[0].at, row[0].id))
    return page.map(lambda row: _access(*row))


def _access(e: CustodyEvent, agency: str, site: str | None) -> dict[str, object]:
    live = e.action in LIVE_ACTIONS
    return {
        "at": e.at, "action": CustodyAction(e.action), "agency": agency, "case_number": e.case_number,
        "by": e.actor_name, "request_id": e.request_id, "share_id": e.share_id, "live": live,
        "what": _live_access(CustodyAction(e.action), e.detail, site or "your site") if live else "",
    }  # fmt: skip


def _reminder_lead(request: FootageRequest) -> dt.timedelta:
    """How long before its deadline a request is reminded of: a day, or half its time if it is shorter than two
    (an emergency's), so a short request is not reminded of as soon as it is sent."""
    return min(REMINDER_BEFORE, (request.deadline_at - request.created_at) / 2)


def _lead_hours(request: FootageRequest) -> int:
    return max(1, round(_reminder_lead(request) / dt.timedelta(hours=1)))


async def sweep(db: AsyncSession, now: dt.datetime | None = None) -> tuple[int, int]:
    """Expire open requests past their deadline and remind owners 24 h before it. Returns (expired, reminded)."""
    now = now or utcnow()
    open_states = [s.value for s in OPEN_STATES]
    expired = (
        await db.scalars(
            select(FootageRequest)
            .where(FootageRequest.state.in_(open_states), FootageRequest.deadline_at <= now)
            .with_for_update(skip_locked=True)  # several workers may sweep at once on PostgreSQL
        )
    ).all()
    for request in expired:
        move(request, RequestState.EXPIRED)
    await notifications.notify_many(
        db, Kind.REQUEST_REMINDER,
        [
            notifications.Message(r.owner_id, "Footage request expired", "The deadline passed; nothing more to do.",
                                  f"/requests/{r.id}", request_tag(r.id))
            for r in expired
        ],
    )  # fmt: skip
    candidates = (
        await db.scalars(
            select(FootageRequest)
            .where(
                FootageRequest.state.in_([RequestState.SENT.value, RequestState.SEEN.value]),
                FootageRequest.reminded_at.is_(None),
                FootageRequest.deadline_at <= now + REMINDER_BEFORE,
                FootageRequest.deadline_at > now,
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    due = [r for r in candidates if r.deadline_at - now <= _reminder_lead(r)]
    for request in due:
        request.reminded_at = now
    await notifications.notify_many(
        db, Kind.REQUEST_REMINDER,
        [
            notifications.Message(r.owner_id, f"A footage request ends in {_lead_hours(r)} hours",
                                  "Share clips or answer in two taps.", f"/requests/{r.id}", request_tag(r.id))
            for r in due
        ],
    )  # fmt: skip
    await db.commit()
    return len(expired), len(due)


def owner_outcome_words(footage: RequestOut, clips: list[ClipOut], time_zone: str) -> str:
    """What became of a request, in the owner's words (empty while it waits for their answer), with the day it
    closed in their zone: the last clip's for shared footage, the deadline for an expired request."""
    received = [c.received_at for c in clips if c.received_at is not None]
    when = max(received) if footage.state is RequestState.UPLOADED and received else footage.closed_at
    if footage.state is RequestState.EXPIRED:
        when = footage.deadline_at
    reply = footage.reply and footage.reply.value
    return owner_outcome(footage.state, reply, footage.agency, local_day(when, time_zone), len(received))
