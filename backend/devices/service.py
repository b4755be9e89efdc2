"""Edge devices: pairing (RFC 8628), heartbeats, the desired state, offline detection with debounced alerts, and
the owner's management of their devices. Devices are loaded scoped to their credential or to their owner.

Every function that depends on the time takes `now`, so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import (
    JSON,
    ColumnElement,
    Row,
    String,
    Update,
    Uuid,
    bindparam,
    delete,
    func,
    lambda_stmt,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from backend.accounts.models import User
from backend.db import utcnow
from backend.devices import desired
from backend.devices.models import (
    DEVICE_NAME_MAX,
    DeviceCamera,
    DeviceEvent,
    DeviceEventKind,
    DeviceOutage,
    EdgeDevice,
    PairingCode,
    PairingFailure,
    Status,
)
from backend.devices.schemas import (
    DeviceAuthorizationOut,
    DeviceCameraOut,
    DeviceDetailOut,
    DeviceEventIn,
    DeviceEventOut,
    DeviceOut,
    HeartbeatIn,
    HeartbeatOut,
    OutageOut,
    PairIn,
    TokenOut,
)
from backend.errors import InvalidInput, NotAuthenticated, NotFound, TooManyAttempts
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.registry import service as registry
from backend.registry.models import Camera, Placement, Recorder, Site
from backend.registry.schemas import CameraIn, CameraOut
from backend.sharing.schemas import DURATION_CHOICES
from backend.tokens import new_token, token_hash

if TYPE_CHECKING:
    from backend.sharing.service import SharePolicy

# RFC 8628: user codes from consonants only (no vowels, so no words; no 0/O or 1/I to confuse), 8 of them.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
PAIRING_LIFETIME = dt.timedelta(minutes=10)
PAIRING_INTERVAL_S = 5
SLOW_DOWN_STEP_S = 5  # RFC 8628 section 3.5
# Wrong codes an owner may type within the window: 20^8 codes cannot be guessed at this rate (RFC 8628 5.1).
PAIRING_FAILURES_ALLOWED = 10
PAIRING_FAILURE_WINDOW = dt.timedelta(minutes=15)
HEARTBEAT_INTERVAL_S = 30
OFFLINE_AFTER = dt.timedelta(seconds=3 * HEARTBEAT_INTERVAL_S)  # three heartbeats missed
CAMERA_SILENT_FOR = dt.timedelta(minutes=2)
# Within this long after an alert, at most a "back online" follows at once; anything else waits and is summed up.
ALERT_WINDOW = dt.timedelta(minutes=15)
FLAP_WINDOW = dt.timedelta(hours=1)
CLOCK_WRONG_AFTER_S = 120
TIMELINE_DAYS = 7
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceGrantError(Exception):
    """An RFC 8628 / RFC 6749 token error: `error` is the code a device author looks up."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class DeviceNotAuthenticated(NotAuthenticated):
    """A missing, made-up or revoked device credential."""

    title = "Device credential not valid"

    @property
    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def normalize_user_code(typed: str) -> str:
    """What the owner typed ("wdjb mjht", "WDJB-MJHT") as stored ("WDJBMJHT")."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


# --- pairing -----------------------------------------------------------------------------------------------


async def start_pairing(
    db: AsyncSession, *, agent_version: str, base_url: str, now: dt.datetime | None = None
) -> DeviceAuthorizationOut:
    """A new device code for the box and a user code for its owner (RFC 8628 section 3.2)."""
    now = now or utcnow()
    device_code = new_token()
    for _ in range(5):  # a user code already in use is retried with another
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        db.add(
            PairingCode(
                device_code_hash=token_hash(device_code), user_code=user_code, agent_version=agent_version[:40],
                created_at=now, expires_at=now + PAIRING_LIFETIME, interval_s=PAIRING_INTERVAL_S,
            )
        )  # fmt: skip
        try:
            await db.commit()
            break
        except IntegrityError:
            await db.rollback()
    else:
        raise RuntimeError("no free user code after 5 tries")
    shown = display_user_code(user_code)
    return DeviceAuthorizationOut(
        device_code=device_code,
        user_code=shown,
        verification_uri=f"{base_url}/devices/add",
        verification_uri_complete=f"{base_url}/devices/add?code={shown}",
        expires_in=int(PAIRING_LIFETIME.total_seconds()),
        interval=PAIRING_INTERVAL_S,
    )


def _desired_document(
    device: EdgeDevice, site_name: str, cameras: Sequence[tuple[str, str | None]], share: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "version": device.desired_version,
        "device_name": device.name,
        "site_name": site_name,
        "heartbeat_interval_s": HEARTBEAT_INTERVAL_S,
        "cameras": [{"key": key, "linked_camera": linked} for key, linked in cameras],
        "share": share,
    }


async def _share_document(db: AsyncSession, device_id: uuid.UUID) -> dict[str, Any] | None:
    """The device's part of a share that is on: which cameras to publish with WHIP, where, and until when."""
    from backend.sharing.models import OPEN_STATES, ShareCamera, ShareSession

    rows = (
        await db.execute(
            select(ShareCamera.id, ShareCamera.device_camera_key, ShareSession)
            .join(ShareSession, ShareSession.id == ShareCamera.share_id)
            .where(
                ShareCamera.device_id == device_id,
                ShareSession.state.in_(list(OPEN_STATES)),
                ShareSession.ends_at > utcnow(),
            )
            .order_by(ShareCamera.device_camera_key)
        )
    ).all()
    if not rows:
        return None
    share = rows[0][2]
    return {
        "share_id": str(share.id),
        "until": share.ends_at.isoformat().replace("+00:00", "Z"),
        # Relative to the server the device talks to (the relay may sit behind the same address).
        "cameras": [{"key": key, "whip_url": f"/live/v1/whip/{camera_id}"} for camera_id, key, _ in rows],
        "ice_servers": share.ice_servers,
    }


async def _camera_names(db: AsyncSession, camera_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not camera_ids:
        return {}
    return dict((await db.execute(select(Camera.id, Camera.name).where(Camera.id.in_(camera_ids)))).all())


def _outage_of(camera_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The outages of the device itself (no camera), or of one of its cameras."""
    column = DeviceOutage.device_camera_id
    return column.is_(None) if camera_id is None else column == camera_id


async def refresh_desired(db: AsyncSession, device: EdgeDevice) -> None:
    """A new version of the device's desired state, announced to its long-poll when the caller commits."""
    site_name = await db.scalar(select(Site.name).where(Site.id == device.site_id)) or ""
    linked = await _camera_names(db, [c.camera_id for c in device.cameras if c.camera_id])
    device.desired_version = (device.desired_version or 0) + 1
    device.desired = _desired_document(
        device,
        site_name,
        [(c.key, linked.get(c.camera_id) if c.camera_id else None) for c in device.cameras],
        await _share_document(db, device.id),
    )
    await desired.announce(db, [device.id])


async def approve_pairing(
    db: AsyncSession, owner_id: uuid.UUID, data: PairIn, now: dt.datetime | None = None
) -> DeviceOut:
    """The owner typed the box's code: a device is made for it at one of their sites; the box collects its
    credential at its next poll."""
    now = now or utcnow()
    site = await registry.get_site(db, owner_id, data.site_id)
    failures = await db.scalar(
        select(func.count())
        .select_from(PairingFailure)
        .where(PairingFailure.user_id == owner_id, PairingFailure.at > now - PAIRING_FAILURE_WINDOW)
    )
    if failures >= PAIRING_FAILURES_ALLOWED:
        raise TooManyAttempts(
            "Too many codes that no device shows. Wait 15 minutes, then type the code shown on the device.",
            int(PAIRING_FAILURE_WINDOW.total_seconds()),
        )
    code = await db.scalar(
        select(PairingCode).where(PairingCode.user_code == normalize_user_code(data.user_code)).with_for_update()
    )
    if code is None:
        db.add(PairingFailure(user_id=owner_id, at=now))
        await db.commit()
        raise InvalidInput({"user_code": "No device is showing that code. Check the code on the device's screen."})
    if code.device_id is not None:
        raise InvalidInput({"user_code": "That code was already used. Start pairing again on the device."})
    if code.expires_at <= now:
        raise InvalidInput({"user_code": "That code has expired (codes last 10 minutes). Pair the device again."})
    device = EdgeDevice(
        owner_id=owner_id, site_id=site.id, name=data.name.strip(), status=Status.PAIRING, status_since=now,
        created_at=now, desired_version=0, cameras=[],
        agent_version=code.agent_version,
    )  # fmt: skip
    db.add(device)
    await db.flush()
    code.device_id = device.id
    await refresh_desired(db, device)
    await db.commit()
    return await get_device(db, owner_id, device.id)


async def exchange_device_code(db: AsyncSession, device_code: str, now: dt.datetime | None = None) -> TokenOut:
    """The box's poll (RFC 8628 section 3.4): pending, slow down, expired, or its credential (once)."""
    now = now or utcnow()
    code = await db.scalar(
        select(PairingCode).where(PairingCode.device_code_hash == token_hash(device_code)).with_for_update()
    )
    if code is None or code.consumed_at is not None:
        raise DeviceGrantError("invalid_grant", "Unknown or already used device code; start pairing again")
    if code.expires_at <= now:
        raise DeviceGrantError("expired_token", "The code expired before the owner approved it; start pairing again")
    too_soon = code.last_polled_at is not None and now - code.last_polled_at < dt.timedelta(seconds=code.interval_s)
    code.last_polled_at = now
    if too_soon:
        code.interval_s += SLOW_DOWN_STEP_S
        await db.commit()
        raise DeviceGrantError("slow_down", f"Polling too fast: wait {code.interval_s} s between polls")
    if code.device_id is None:
        await db.commit()
        raise DeviceGrantError("authorization_pending", "Waiting for the owner to enter the code in the app")
    device = await db.get_one(EdgeDevice, code.device_id)
    credential = issue_credential(device, now)
    code.consumed_at = now
    site_name = await db.scalar(select(Site.name).where(Site.id == device.site_id)) or ""
    await db.commit()
    return TokenOut(
        access_token=credential, token_type="Bearer", device_id=device.id, device_name=device.name, site_name=site_name
    )


def issue_credential(device: EdgeDevice, now: dt.datetime) -> str:
    """A new credential for the device (any earlier one stops working); only its hash is kept."""
    credential = new_token()
    device.credential_hash = token_hash(credential)
    device.paired_at = now
    return credential


# --- the box's calls ---------------------------------------------------------------------------------------


def _refused() -> DeviceNotAuthenticated:
    return DeviceNotAuthenticated(
        "This device credential is not valid: the device was removed or never paired. Pair it again."
    )


async def device_for_credential(db: AsyncSession, credential: str) -> EdgeDevice:
    device = await db.scalar(select(EdgeDevice).where(EdgeDevice.credential_hash == token_hash(credential)))
    if device is None:
        raise _refused()
    return device


def _cameras_digest(report: HeartbeatIn) -> str:
    """Which cameras the box reports, under which names, and whether each has frames."""
    identity = sorted((c.key, c.name, c.frames_arriving) for c in report.cameras)
    return hashlib.sha256(msgspec.json.encode(identity)).hexdigest()


def _health(report: HeartbeatIn) -> dict[str, Any]:
    return {c.key: msgspec.to_builtins(c) for c in report.cameras}


def _heartbeat_statement() -> Update:
    """The steady heartbeat: record what the box reported, where the credential matches, and return what decides
    whether anything else must happen. Built on the table, with every value a parameter."""
    table = EdgeDevice.__table__
    written = ("last_heartbeat_at", "offline_after", "agent_version", "uptime_s", "disk_free_bytes", "clock_offset_s",
               "health", "reported_version")  # fmt: skip
    return (
        update(table)
        .where(table.c.credential_hash == bindparam("credential_sha256", type_=String))
        .values({name: bindparam(name, type_=table.c[name].type) for name in written})
        .returning(table.c.id, table.c.status, table.c.cameras_digest, table.c.desired)
    )


# Compiled once and found again by the lambda's code alone: no statement building or cache-key walk per heartbeat.
_HEARTBEAT = lambda_stmt(_heartbeat_statement, enable_tracking=False)


def _heartbeat_values(credential: str, report: HeartbeatIn, now: dt.datetime) -> dict[str, Any]:
    """What one heartbeat writes, as the parameters of the heartbeat statements."""
    if len({c.key for c in report.cameras}) != len(report.cameras):
        raise InvalidInput({"cameras": "Each camera must have its own key"})
    sent_at = report.sent_at if report.sent_at.tzinfo else report.sent_at.replace(tzinfo=dt.UTC)
    return {
        "credential_sha256": token_hash(credential),
        "last_heartbeat_at": now,
        "offline_after": now + OFFLINE_AFTER,
        "agent_version": report.agent_version,
        "uptime_s": report.uptime_s,
        "disk_free_bytes": report.disk_free_bytes,
        "clock_offset_s": (sent_at - now).total_seconds(),
        "health": _health(report),
        "reported_version": report.reported_version,
    }


def _steady(row: Row, report: HeartbeatIn) -> bool:
    """The device was online and reports the same cameras with the same frames state: nothing more to do."""
    _, status, known_digest, _ = row
    return status == Status.ONLINE and known_digest == _cameras_digest(report)


def _answer(row: Row, now: dt.datetime) -> HeartbeatOut:
    return HeartbeatOut(heartbeat_interval_s=HEARTBEAT_INTERVAL_S, server_time=now, desired=row[3])


async def _after_heartbeat(db: AsyncSession, row: Row | None, report: HeartbeatIn, now: dt.datetime) -> HeartbeatOut:
    """The answer to a recorded heartbeat (401 when the credential matched no device), after applying a change of
    state when the device was not online or its cameras or their frames changed."""
    if row is None:
        await db.rollback()
        raise _refused()
    if not _steady(row, report):
        try:
            await _apply_reported_state(db, row[0], report, _cameras_digest(report), now)
            await db.commit()
        except IntegrityError:  # the same box's other heartbeat made the same new camera first: apply on top of it
            await db.rollback()
            await _apply_reported_state(db, row[0], report, _cameras_digest(report), now)
    await db.commit()
    return _answer(row, now)


async def heartbeat(
    db: AsyncSession, credential: str, report: HeartbeatIn, now: dt.datetime | None = None
) -> HeartbeatOut:
    """Record one heartbeat in the caller's session: the usual one (device online, same cameras with the same
    frames state) is a single UPDATE ... RETURNING that also checks the credential."""
    now = now or utcnow()
    values = _heartbeat_values(credential, report, now)
    row = (await (await db.connection()).execute(_HEARTBEAT, values)).first()
    return await _after_heartbeat(db, row, report, now)


# Heartbeats that arrive together on PostgreSQL: one UPDATE for the lot, their values one JSON parameter, so the
# statement is the same whatever the batch's size (compiled and planned once).
_HEARTBEATS = text(
    """
    UPDATE edge_devices AS d SET last_heartbeat_at = b.last_heartbeat_at, offline_after = b.offline_after,
        agent_version = b.agent_version, uptime_s = b.uptime_s, disk_free_bytes = b.disk_free_bytes,
        clock_offset_s = b.clock_offset_s, health = b.health, reported_version = b.reported_version
    FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS b(
        credential_sha256 text, last_heartbeat_at timestamptz, offline_after timestamptz, agent_version text,
        uptime_s bigint, disk_free_bytes bigint, clock_offset_s double precision, health json, reported_version int)
    WHERE d.credential_hash = b.credential_sha256
    RETURNING b.credential_sha256, d.id, d.status, d.cameras_digest, d.desired
    """
).columns(credential_sha256=String, id=Uuid, status=String, cameras_digest=String, desired=JSON)


class HeartbeatBatcher:
    """Heartbeats arriving at one app process while an earlier batch is being written share the next write (as a
    database groups commits): one short transaction, one UPDATE on PostgreSQL, for however many came. Alone, a
    heartbeat is written at once; nothing waits for a timer."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        # By credential: a device heard twice before the write is written once, with its latest report.
        self._pending: dict[str, tuple[dict[str, Any], list[asyncio.Future[Row | None]]]] = {}
        self._writing: asyncio.Task[None] | None = None

    async def record(self, credential: str, report: HeartbeatIn, now: dt.datetime | None = None) -> HeartbeatOut:
        now = now or utcnow()
        values = _heartbeat_values(credential, report, now)
        answer: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        waiting = self._pending.get(values["credential_sha256"], (values, []))[1]
        self._pending[values["credential_sha256"]] = (values, [*waiting, answer])
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_while_pending(), name="heartbeat-writer")
        row = await answer
        if row is not None and _steady(row, report):
            return _answer(row, now)
        async with AsyncSession(self.engine, expire_on_commit=False) as db:
            return await _after_heartbeat(db, row, report, now)

    async def _write_while_pending(self) -> None:
        while self._pending:
            taken = dict(list(self._pending.items())[: self.max_batch])
            for key in taken:
                del self._pending[key]
            try:
                rows = await self._write([values for values, _ in taken.values()])
            except Exception as exc:  # every heartbeat of the batch gets the error (503 when the database is away)
                for _, answers in taken.values():
                    for answer in answers:
                        answer.set_exception(exc)
                continue
            for key, (_, answers) in taken.items():
                for answer in answers:
                    answer.set_result(rows.get(key))

    async def _write(self, batch: list[dict[str, Any]]) -> dict[str, Row]:
        async with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                result = await connection.execute(_HEARTBEATS, {"batch": msgspec.json.encode(batch).decode()})
                return {row[0]: row[1:] for row in result}
            found = {}
            for values in batch:  # SQLite: one process, a local file; the same statement as a lone heartbeat
                if row := (await connection.execute(_HEARTBEAT, values)).first():
                    found[values["credential_sha256"]] = row
            return found


async def _apply_reported_state(
    db: AsyncSession, device_id: uuid.UUID, report: HeartbeatIn, digest: str, now: dt.datetime
) -> None:
    device = await db.scalar(
        select(EdgeDevice).where(EdgeDevice.id == device_id).options(selectinload(EdgeDevice.cameras))
    )
    assert device is not None
    back: list[Subject] = []
    if device.status != Status.ONLINE:
        was_offline = device.status == Status.OFFLINE
        device.status, device.status_since = Status.ONLINE, now
        if was_offline:
            await _end_outage(db, device.id, None, now)
            back.append((device, device))
    device.cameras_digest = digest
    known = {c.key: c for c in device.cameras}
    reported = {c.key: c for c in report.cameras}
    cameras_changed = False
    for key, health in reported.items():
        camera = known.get(key)
        if camera is None:
            # A new camera without frames goes offline like any other: two minutes on, with an alert.
            camera = DeviceCamera(
                key=key, name=health.name, status=Status.ONLINE, status_since=now, created_at=now,
                silent_since=None if health.frames_arriving else now,
            )  # fmt: skip
            device.cameras.append(camera)
            cameras_changed = True
            continue
        if camera.name != health.name:
            camera.name = health.name
        if health.frames_arriving:
            camera.silent_since = None
            if camera.status == Status.OFFLINE:
                camera.status, camera.status_since = Status.ONLINE, now
                await _end_outage(db, device.id, camera.id, now)
                back.append((camera, device))
        elif camera.silent_since is None:
            camera.silent_since = health.last_frame_at or now
    for key, camera in known.items():  # a camera the box no longer reports has no frames either
        if key not in reported and camera.silent_since is None:
            camera.silent_since = now
    await _statuses_changed(db, back, now)
    if cameras_changed:
        await db.flush()
        await refresh_desired(db, device)


async def _end_outage(db: AsyncSession, device_id: uuid.UUID, camera_id: uuid.UUID | None, now: dt.datetime) -> None:
    await db.execute(
        update(DeviceOutage)
        .where(
            DeviceOutage.device_id == device_id,
            _outage_of(camera_id),
            DeviceOutage.ended_at.is_(None),
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


async def record_event(
    db: AsyncSession, device: EdgeDevice, data: DeviceEventIn, share_policy: SharePolicy
) -> DeviceEventOut:
    """Store what the box reported; a panic-button press starts a share when the owner allowed it."""
    from backend.sharing import service as sharing

    event = DeviceEvent(device_id=device.id, kind=data.kind, occurred_at=data.occurred_at, detail=data.detail)
    db.add(event)
    if data.kind == DeviceEventKind.BUTTON_PRESS:
        await db.flush()
        await sharing.button_pressed(db, device, share_policy)
    await db.commit()
    return DeviceEventOut(id=event.id, kind=data.kind, occurred_at=event.occurred_at, received_at=event.received_at)


async def desired_state(db: AsyncSession, credential: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """The device and its desired-state document; the transaction ends here, so a long-poll holds no connection."""
    row = (
        await db.execute(
            select(EdgeDevice.id, EdgeDevice.desired).where(EdgeDevice.credential_hash == token_hash(credential))
        )
    ).first()
    await db.rollback()
    if row is None:
        raise _refused()
    return row[0], row[1]


# --- offline detection and alerts ---------------------------------------------------------------------------


def _local_time(value: dt.datetime, time_zone: str, now: dt.datetime) -> str:
    local = value.astimezone(zoneinfo.ZoneInfo(time_zone))
    shown = local.strftime("%-I:%M %p")
    return shown if now - value < dt.timedelta(hours=20) else local.strftime("%b %-d, ") + shown


def _alert_text(subject: EdgeDevice | DeviceCamera, device: EdgeDevice, since: str) -> tuple[str, str]:
    offline = subject.status == Status.OFFLINE
    if isinstance(subject, DeviceCamera):
        where = f"{subject.name} camera on {device.name}"
        if offline:
            return f"{subject.name}: no video", f"{where} stopped sending video at {since}."
        return f"{subject.name}: video is back", f"{where} is sending video again."
    if offline:
        return f"{device.name} is offline", f"{device.name} is offline since {since}."
    return f"{device.name} is back online", f"{device.name} is back online."


Subject = tuple[EdgeDevice | DeviceCamera, EdgeDevice]  # a device (twice) or a camera and its device


def _camera_of(subject: EdgeDevice | DeviceCamera) -> uuid.UUID | None:
    return subject.id if isinstance(subject, DeviceCamera) else None


async def _send_alerts(db: AsyncSession, subjects: Sequence[Subject], now: dt.datetime) -> None:
    """One notification per device or camera, under one tag and Topic each (a newer one replaces the older), in
    a few statements however many there are."""
    if not subjects:
        return
    owners = await _owners(db, [device.owner_id for _, device in subjects])
    flaps = dict(
        ((device_id, camera_id), count)
        for device_id, camera_id, count in await db.execute(
            select(DeviceOutage.device_id, DeviceOutage.device_camera_id, func.count())
            .where(
                DeviceOutage.device_id.in_({device.id for _, device in subjects}),
                DeviceOutage.started_at >= now - FLAP_WINDOW,
            )
            .group_by(DeviceOutage.device_id, DeviceOutage.device_camera_id)
        )
    )
    messages = []
    for subject, device in subjects:
        owner = owners[device.owner_id]
        title, body = _alert_text(subject, device, _local_time(subject.status_since, owner.time_zone, now))
        if (times := flaps.get((device.id, _camera_of(subject)), 0)) >= 2:
            body += f" It went offline {times} times in the last hour."
        messages.append(
            notifications.Message(
                owner.id, title, body, f"/devices/{device.id}", f"device-{subject.id}", subject.id.hex
            )
        )
        subject.alerted_status = subject.status
        subject.alert_pending = False
    await notifications.notify_many(db, Kind.DEVICE_STATUS, messages)


async def _statuses_changed(db: AsyncSession, changed: Sequence[Subject], now: dt.datetime) -> None:
    """Tell the owners at once, unless it is a flap: within a window only the first alert and the "back online"
    that answers it go out at once; further changes wait for the window's end and are summed up there."""
    due = []
    for subject, device in changed:
        if device.alerts_muted:
            continue
        if subject.alert_window_start is None or now - subject.alert_window_start >= ALERT_WINDOW:
            subject.alert_window_start, subject.alerts_in_window = now, 1
        elif (
            subject.status == Status.ONLINE
            and subject.alerted_status == Status.OFFLINE
            and subject.alerts_in_window == 1
        ):
            subject.alerts_in_window = 2
        else:
            subject.alert_pending = True
            continue
        due.append((subject, device))
    await _send_alerts(db, due, now)


async def _claim(
    db: AsyncSession,
    batch: int,
    device_where: list[ColumnElement[bool]],
    camera_where: list[ColumnElement[bool]] | None = None,
) -> list[Subject]:
    """Up to `batch` devices (or, with camera conditions, cameras with their devices) matching, locked with
    SKIP LOCKED so that several sweepers share the work."""
    if camera_where is None:
        query = select(EdgeDevice).where(*device_where).limit(batch).with_for_update(skip_locked=True)
        return [(device, device) for device in await db.scalars(query)]
    query = (
        select(DeviceCamera, EdgeDevice)
        .join(EdgeDevice, EdgeDevice.id == DeviceCamera.device_id)
        .where(*camera_where, *device_where)
        .limit(batch)
        .with_for_update(of=DeviceCamera, skip_locked=True)
    )
    return list((await db.execute(query)).tuples())


async def sweep(db: AsyncSession, now: dt.datetime | None = None, batch: int = 1000) -> tuple[int, int, int]:
    """One pass: devices silent past their deadline go offline, cameras without frames for 2 minutes go offline,
    and changes held back by a debounce window that has ended are summed up, each in a few statements per batch.
    Several workers may sweep at once on PostgreSQL: each claims rows with SKIP LOCKED.
    Returns (devices offline, cameras offline, summaries)."""
    now = now or utcnow()
    gone = await _claim(db, batch, [EdgeDevice.status == Status.ONLINE, EdgeDevice.offline_after < now]) + await _claim(
        db,
        batch,
        [EdgeDevice.status == Status.ONLINE],  # a whole device offline is one alert, not one per camera
        [DeviceCamera.status == Status.ONLINE, DeviceCamera.silent_since <= now - CAMERA_SILENT_FOR],
    )
    for subject, _ in gone:
        subject.status = Status.OFFLINE
        subject.status_since = (
            subject.last_heartbeat_at if isinstance(subject, EdgeDevice) else subject.silent_since
        ) or now
    db.add_all(
        DeviceOutage(device_id=device.id, device_camera_id=_camera_of(subject), started_at=subject.status_since)
        for subject, device in gone
    )
    await db.flush()
    await _statuses_changed(db, gone, now)

    window_ended = now - ALERT_WINDOW
    held_back = [EdgeDevice.alert_pending.is_(True), EdgeDevice.alert_window_start <= window_ended]
    pending = await _claim(db, batch, held_back) + await _claim(
        db, batch, [], [DeviceCamera.alert_pending.is_(True), DeviceCamera.alert_window_start <= window_ended]
    )
    for subject, _ in pending:  # the summary opens a new window
        subject.alert_window_start, subject.alerts_in_window, subject.alert_pending = now, 1, False
    await _send_alerts(db, [(subject, device) for subject, device in pending if not device.alerts_muted], now)
    await db.commit()
    devices_offline = sum(isinstance(subject, EdgeDevice) for subject, _ in gone)
    return devices_offline, len(gone) - devices_offline, len(pending)


async def _owners(db: AsyncSession, owner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not owner_ids:
        return {}
    return {u.id: u for u in await db.scalars(select(User).where(User.id.in_(set(owner_ids))))}


async def discard_expired_pairings(db: AsyncSession, now: dt.datetime | None = None) -> int:
    """Codes nobody approved, a day after they expired, and wrong codes typed that no longer count."""
    now = now or utcnow()
    result = await db.execute(delete(PairingCode).where(PairingCode.expires_at < now - dt.timedelta(days=1)))
    await db.execute(delete(PairingFailure).where(PairingFailure.at < now - PAIRING_FAILURE_WINDOW))
    await db.commit()
    return result.rowcount or 0


# --- the owner's devices -----------------------------------------------------------------------------------


def _camera_out(camera: DeviceCamera, health: dict[str, Any], linked: dict[uuid.UUID, str]) -> DeviceCameraOut:
    figures = health.get(camera.key) or {}
    last_frame = figures.get("last_frame_at")
    return DeviceCameraOut(
        id=camera.id,
        key=camera.key,
        name=camera.name,
        status=Status(camera.status),
        status_since=camera.status_since,
        frames_arriving=bool(figures.get("frames_arriving")) and camera.silent_since is None,
        fps=figures.get("fps"),
        width=figures.get("width"),
        height=figures.get("height"),
        codec=figures.get("codec"),
        bitrate_bps=figures.get("bitrate_bps"),
        last_frame_at=dt.datetime.fromisoformat(last_frame) if last_frame else None,
        error=figures.get("error", "" if figures else "Not reported by the device"),
        camera_id=camera.camera_id,
        camera_name=linked.get(camera.camera_id) if camera.camera_id else None,
    )


async def _device_out(db: AsyncSession, device: EdgeDevice) -> DeviceOut:
    site_name = await db.scalar(select(Site.name).where(Site.id == device.site_id)) or ""
    linked = await _camera_names(db, [c.camera_id for c in device.cameras if c.camera_id])
    return DeviceOut(
        id=device.id,
        name=device.name,
        site_id=device.site_id,
        site_name=site_name,
        status=Status(device.status),
        status_since=device.status_since,
        last_heartbeat_at=device.last_heartbeat_at,
        agent_version=device.agent_version,
        uptime_s=device.uptime_s,
        disk_free_bytes=device.disk_free_bytes,
        clock_offset_s=device.clock_offset_s,
        clock_wrong=device.clock_offset_s is not None and abs(device.clock_offset_s) > CLOCK_WRONG_AFTER_S,
        alerts_muted=device.alerts_muted,
        share_on_alert=device.share_on_alert,
        alert_share_minutes=device.alert_share_minutes,
        heartbeat_interval_s=HEARTBEAT_INTERVAL_S,
        cameras=[_camera_out(c, device.health or {}, linked) for c in device.cameras],
    )


async def _own_device(db: AsyncSession, owner_id: uuid.UUID, device_id: uuid.UUID) -> EdgeDevice:
    device = await db.scalar(
        select(EdgeDevice)
        .where(EdgeDevice.id == device_id, EdgeDevice.owner_id == owner_id)
        .options(selectinload(EdgeDevice.cameras))
    )
    if device is None:
        raise NotFound("No such device among yours")
    return device


async def _own_device_camera(db: AsyncSession, owner_id: uuid.UUID, device_camera_id: uuid.UUID) -> DeviceCamera:
    camera = await db.scalar(
        select(DeviceCamera)
        .join(EdgeDevice, EdgeDevice.id == DeviceCamera.device_id)
        .where(DeviceCamera.id == device_camera_id, EdgeDevice.owner_id == owner_id)
    )
    if camera is None:
        raise NotFound("No such device camera among yours")
    return camera


async def device_of_camera(db: AsyncSession, owner_id: uuid.UUID, device_camera_id: uuid.UUID) -> uuid.UUID:
    return (await _own_device_camera(db, owner_id, device_camera_id)).device_id


async def list_devices(db: AsyncSession, owner_id: uuid.UUID) -> list[DeviceOut]:
    devices = await db.scalars(
        select(EdgeDevice)
        .where(EdgeDevice.owner_id == owner_id)
        .options(selectinload(EdgeDevice.cameras))
        .order_by(EdgeDevice.name, EdgeDevice.id)
    )
    return [await _device_out(db, d) for d in devices]


async def get_device(
    db: AsyncSession, owner_id: uuid.UUID, device_id: uuid.UUID, now: dt.datetime | None = None
) -> DeviceDetailOut:
    device = await _own_device(db, owner_id, device_id)
    since = (now or utcnow()) - dt.timedelta(days=TIMELINE_DAYS)
    outages = await db.scalars(
        select(DeviceOutage)
        .where(
            DeviceOutage.device_id == device.id,
            (DeviceOutage.ended_at.is_(None)) | (DeviceOutage.ended_at >= since),
        )
        .order_by(DeviceOutage.started_at.desc(), DeviceOutage.id.desc())
    )
    out = await _device_out(db, device)
    return DeviceDetailOut(
        **msgspec.structs.asdict(out),
        outages=[
            OutageOut(device_camera_id=o.device_camera_id, started_at=o.started_at, ended_at=o.ended_at)
            for o in outages
        ],
    )


async def update_device(
    db: AsyncSession,
    owner_id: uuid.UUID,
    device_id: uuid.UUID,
    *,
    name: str | None = None,
    site_id: uuid.UUID | None = None,
    alerts_muted: bool | None = None,
    share_on_alert: bool | None = None,
    alert_share_minutes: int | None = None,
) -> DeviceDetailOut:
    device = await _own_device(db, owner_id, device_id)
    changes_desired = False
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidInput({"name": "Name is required"})
        if len(name) > DEVICE_NAME_MAX:
            raise InvalidInput({"name": f"Name must be at most {DEVICE_NAME_MAX} characters"})
        changes_desired |= device.name != name
        device.name = name
    if site_id is not None and site_id != device.site_id:
        await registry.get_site(db, owner_id, site_id)  # another owner's site is a 404
        device.site_id = site_id
        for camera in device.cameras:  # links point at cameras of the old site
            camera.camera_id = None
        changes_desired = True
    if alerts_muted is not None:
        device.alerts_muted = alerts_muted
        if alerts_muted:
            device.alert_pending = False
    if alert_share_minutes is not None:
        if alert_share_minutes not in DURATION_CHOICES:
            raise InvalidInput({"alert_share_minutes": "Choose how long to share: 15 min, 30 min, 1 h or 2 h"})
        device.alert_share_minutes = alert_share_minutes
    if share_on_alert is not None:
        if share_on_alert != device.share_on_alert:
            device.share_on_alert_since = utcnow() if share_on_alert else None
        device.share_on_alert = share_on_alert
    if changes_desired:
        await refresh_desired(db, device)
    await db.commit()
    return await get_device(db, owner_id, device_id)


async def remove_device(db: AsyncSession, owner_id: uuid.UUID, device_id: uuid.UUID) -> None:
    """The device and its history go; its credential stops working at once (its long-poll is woken to find out)."""
    from backend.sharing import service as sharing

    device = await _own_device(db, owner_id, device_id)
    await sharing.device_removed(db, device.id)
    await desired.announce(db, [device.id])
    await db.delete(device)
    await db.commit()


async def link_camera(
    db: AsyncSession, owner_id: uuid.UUID, device_camera_id: uuid.UUID, camera_id: uuid.UUID | None
) -> DeviceDetailOut:
    """Say which registered camera a device camera is (or none)."""
    device_camera = await _own_device_camera(db, owner_id, device_camera_id)
    device = await _own_device(db, owner_id, device_camera.device_id)
    if camera_id is not None:
        camera = await registry.get_camera(db, owner_id, camera_id)  # another owner's camera is a 404
        if camera.site_id != device.site_id:
            raise InvalidInput({"camera_id": "Pick a camera registered at this device's site"})
    device_camera.camera_id = camera_id
    await db.flush()
    await refresh_desired(db, device)
    await db.commit()
    return await get_device(db, owner_id, device.id)


async def register_camera_from(db: AsyncSession, owner_id: uuid.UUID, device_camera_id: uuid.UUID) -> CameraOut:
    """A registered camera made from a device camera, at the site's position, and linked to it. Which way it
    faces is not known: the owner sets that next."""
    device_camera = await _own_device_camera(db, owner_id, device_camera_id)
    device = await _own_device(db, owner_id, device_camera.device_id)
    camera = await registry.create_camera(
        db, owner_id, device.site_id,
        CameraIn(name=device_camera.name, bearing_deg=0, placement=Placement.OUTDOOR, recorder=Recorder.NVR_DVR,
                 retention_days=14),
    )  # fmt: skip
    device_camera.camera_id = camera.id
    await db.flush()
    await refresh_desired(db, device)
    await db.commit()
    return camera


async def live_capable(db: AsyncSession, camera_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these registered cameras are linked to a device camera that is online on an online device."""
    if not camera_ids:
        return set()
    rows = await db.scalars(
        select(DeviceCamera.camera_id)
        .join(EdgeDevice, EdgeDevice.id == DeviceCamera.device_id)
        .where(
            DeviceCamera.camera_id.in_(list(camera_ids)),
            DeviceCamera.status == Status.ONLINE,
            DeviceCamera.silent_since.is_(None),
            EdgeDevice.status == Status.ONLINE,
        )
    )
    return {camera_id for camera_id in rows if camera_id is not None}


async def site_choices(db: AsyncSession, owner_id: uuid.UUID) -> list[tuple[str, str]]:
    sites = await db.execute(select(Site.id, Site.name).where(Site.owner_id == owner_id).order_by(Site.name, Site.id))
    return [(str(site_id), name) for site_id, name in sites]


async def camera_choices(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> list[tuple[str, str]]:
    cameras = await db.execute(
        select(Camera.id, Camera.name)
        .join(Site, Site.id == Camera.site_id)
        .where(Site.owner_id == owner_id, Site.id == site_id)
        .order_by(Camera.name, Camera.id)
    )
    return [(str(camera_id), name) for camera_id, name in cameras]
