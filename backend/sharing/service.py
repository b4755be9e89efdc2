"""Share now: the owner starts, extends and stops a share; the panic button starts one; the live desk watches,
says "I'm watching" and may ask for more time; the relay asks who may publish and who may play.

One state machine (requested → live → ended), moved only by `_move`. Shares are loaded scoped to their owner or
to the desk's agency: another owner's share is a 404, never someone else's data. Every function that depends on
the time takes `now`, so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.accounts.models import Agency, Role, User
from backend.db import utcnow
from backend.devices import service as devices
from backend.devices.models import DeviceCamera, EdgeDevice, Status
from backend.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, ServiceError
from backend.hot_reads import HotRead
from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.registry import service as registry
from backend.registry.models import Site
from backend.requests.models import CustodyAction, CustodyEvent
from backend.requests.service import record_custody
from backend.settings import Settings
from backend.sharing import relay
from backend.sharing.models import (
    END_REASON_TEXT,
    OPEN_STATES,
    TRANSITIONS,
    EndReason,
    ShareCamera,
    ShareSession,
    ShareState,
    ShareViewer,
    Trigger,
)
from backend.sharing.schemas import (
    DeskShareOut,
    ShareableCamera,
    ShareableSite,
    ShareCameraOut,
    ShareIn,
    ShareOut,
    WatcherOut,
)

# Nobody at the desk said "I'm watching" within this long: the owner is told so, plainly.
ACKNOWLEDGE_WITHIN = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class SharePolicy:
    """The program's rules for shares (from settings)."""

    max_minutes: int = 240
    agency_name: str = ""
    ice_servers: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> SharePolicy:
        return cls(settings.share_max_minutes, settings.program_agency, settings.ice_servers)


def _move(share: ShareSession, to: ShareState) -> None:
    if to not in TRANSITIONS[ShareState(share.state)]:
        raise Conflict(f"This share is {share.state}; it cannot become {to}")
    share.state = to


def _is_open(share: ShareSession, now: dt.datetime) -> bool:
    return share.state in OPEN_STATES and share.ends_at > now


def _refuse_ended(share: ShareSession, now: dt.datetime) -> None:
    if not _is_open(share, now):
        raise Gone(f"This share has ended ({_ended_how(share) or END_REASON_TEXT[EndReason.EXPIRED]})")


def _ended_how(share: ShareSession) -> str:
    return END_REASON_TEXT[EndReason(share.end_reason)] if share.end_reason else ""


# --- reading ---------------------------------------------------------------------------------------------------


async def _load(db: AsyncSession, share_id: uuid.UUID, **scope: uuid.UUID) -> ShareSession:
    query = select(ShareSession).where(ShareSession.id == share_id).options(selectinload(ShareSession.cameras))
    for column, value in scope.items():
        query = query.where(getattr(ShareSession, column) == value)
    share = await db.scalar(query)
    if share is None:
        raise NotFound("No such share")
    return share


async def _viewers(db: AsyncSession, share_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ShareViewer]]:
    rows = await db.scalars(
        select(ShareViewer).where(ShareViewer.share_id.in_(share_ids)).order_by(ShareViewer.opened_at)
    )
    found: dict[uuid.UUID, list[ShareViewer]] = {}
    for viewer in rows:
        found.setdefault(viewer.share_id, []).append(viewer)
    return found


async def _names(db: AsyncSession, user_ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [u for u in user_ids if u]
    if not wanted:
        return {}
    return dict((await db.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))).all())


def _people(viewers: Sequence[ShareViewer], only_open: bool) -> list[WatcherOut]:
    """One line per person (a viewer playing three cameras is one watcher), since they first opened it."""
    people: dict[tuple[uuid.UUID | None, str], WatcherOut] = {}
    for v in viewers:
        if only_open and v.closed_at is not None:
            continue
        key = (v.user_id, v.display_name)
        if key not in people:
            people[key] = WatcherOut(display_name=v.display_name, agency=v.agency_name, since=v.opened_at)
    return list(people.values())


def _cameras_out(share: ShareSession) -> list[ShareCameraOut]:
    return [ShareCameraOut(id=c.id, name=c.name, sending=c.publishing_since is not None) for c in share.cameras]


async def _share_out(db: AsyncSession, share: ShareSession, policy: SharePolicy, now: dt.datetime) -> ShareOut:
    viewers = (await _viewers(db, [share.id])).get(share.id, [])
    names = await _names(db, [share.acknowledged_by_id, share.extension_asked_by_id])
    site_name = await db.scalar(select(Site.name).where(Site.id == share.site_id)) or ""
    open_ = _is_open(share, now)
    return ShareOut(
        id=share.id, site_id=share.site_id, site_name=site_name, state=share.state, trigger=share.trigger,
        note=share.note, started_at=share.started_at, ends_at=share.ends_at, ended_at=share.ended_at,
        end_reason=share.end_reason, ended_how=_ended_how(share),
        seconds_left=max(0, int((share.ends_at - now).total_seconds())) if open_ else 0,
        cameras=_cameras_out(share), watching=_people(viewers, only_open=True) if open_ else [],
        viewers=_people(viewers, only_open=False),
        acknowledged_at=share.acknowledged_at,
        acknowledged_by=names.get(share.acknowledged_by_id) if share.acknowledged_by_id else None,
        nobody_answered=share.unwatched_told_at is not None and share.acknowledged_at is None,
        extension_asked_minutes=share.extension_minutes if share.extension_asked_at and open_ else None,
        extension_asked_by=names.get(share.extension_asked_by_id) if share.extension_asked_by_id else None,
        max_minutes=policy.max_minutes,
        can_extend=open_ and share.ends_at < _longest(share, policy),
    )  # fmt: skip


async def get_share(
    db: AsyncSession, owner_id: uuid.UUID, share_id: uuid.UUID, policy: SharePolicy, now: dt.datetime | None = None
) -> ShareOut:
    share = await _load(db, share_id, owner_id=owner_id)
    return await _share_out(db, share, policy, now or utcnow())


async def owner_shares(
    db: AsyncSession,
    owner_id: uuid.UUID,
    policy: SharePolicy,
    now: dt.datetime | None = None,
    limit: int | None = None,
) -> list[ShareOut]:
    """The shares of this owner, newest first (the share history and the data export: all of them)."""
    now = now or utcnow()
    shares = await db.scalars(
        select(ShareSession)
        .where(ShareSession.owner_id == owner_id)
        .options(selectinload(ShareSession.cameras))
        .order_by(ShareSession.started_at.desc())
        .limit(limit)
    )
    return [await _share_out(db, share, policy, now) for share in shares]


# Asked on every owner's home page (the banner of a share on now): a hot read, its states written out as constants
# (a hot read takes no IN list).
_SHARES = ShareSession.__table__
_OPEN_SHARE = HotRead(
    select(_SHARES.c.id)
    .where(
        _SHARES.c.owner_id == bindparam("owner_id", type_=_SHARES.c.owner_id.type),
        or_(*(_SHARES.c.state == state for state in sorted(OPEN_STATES))),
        _SHARES.c.ends_at > bindparam("now", type_=_SHARES.c.ends_at.type),
    )
    .order_by(_SHARES.c.started_at.desc())
    .limit(1),
    _SHARES.c.id,
)


async def open_share_of(db: AsyncSession, owner_id: uuid.UUID, now: dt.datetime | None = None) -> uuid.UUID | None:
    """The owner's share that is on now (the home screen shows its countdown), if any."""
    found = await _OPEN_SHARE.rows(db, owner_id=owner_id, now=now or utcnow())
    return found[0][0] if found else None


def _online_cameras():  # type: ignore[no-untyped-def]
    """Device cameras that are sending video now, on devices that are online."""
    return (
        select(DeviceCamera, EdgeDevice.site_id)
        .join(EdgeDevice, EdgeDevice.id == DeviceCamera.device_id)
        .where(
            EdgeDevice.status == Status.ONLINE,
            EdgeDevice.credential_hash.is_not(None),
            DeviceCamera.status == Status.ONLINE,
            DeviceCamera.silent_since.is_(None),
        )
        .order_by(DeviceCamera.name, DeviceCamera.id)
    )


async def shareable(db: AsyncSession, owner_id: uuid.UUID, now: dt.datetime | None = None) -> list[ShareableSite]:
    """The owner's sites with the cameras a device sends (the "Share now" screen), and any share on now."""
    now = now or utcnow()
    sites = (
        await db.execute(select(Site.id, Site.name).where(Site.owner_id == owner_id).order_by(Site.name, Site.id))
    ).all()
    online = (await db.execute(_online_cameras().where(EdgeDevice.owner_id == owner_id))).all()
    open_shares = dict(
        (
            await db.execute(
                select(ShareSession.site_id, ShareSession.id).where(
                    ShareSession.owner_id == owner_id,
                    ShareSession.state.in_(list(OPEN_STATES)),
                    ShareSession.ends_at > now,
                )
            )
        ).all()
    )
    return [
        ShareableSite(
            id=site_id, name=name, open_share_id=open_shares.get(site_id),
            cameras=[ShareableCamera(id=c.id, name=c.name, camera_id=c.camera_id, online=True)
                     for c, camera_site in online if camera_site == site_id],
        )
        for site_id, name in sites
    ]  # fmt: skip


# --- starting, extending, stopping ------------------------------------------------------------------------------


async def _program_agency(db: AsyncSession, policy: SharePolicy) -> uuid.UUID:
    if policy.agency_name:
        agency_id = await db.scalar(select(Agency.id).where(Agency.name == policy.agency_name))
    else:
        agencies = (await db.scalars(select(Agency.id).limit(2))).all()
        agency_id = agencies[0] if len(agencies) == 1 else None
    if agency_id is None:
        raise Conflict("Live sharing is not set up in this program yet (no live desk agency). Call 911 for help now.")
    return agency_id


def _longest(share: ShareSession, policy: SharePolicy) -> dt.datetime:
    """The latest a share may end: the program's cap counts from its start, extensions included."""
    return share.started_at + dt.timedelta(minutes=policy.max_minutes)


def _check_minutes(minutes: int, policy: SharePolicy, field: str = "minutes") -> None:
    if minutes > policy.max_minutes:
        raise InvalidInput({field: f"A share lasts at most {minutes_label(policy.max_minutes)} in this program"})


def minutes_label(minutes: int) -> str:
    """15 min, 1 h, 1 h 30 min."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


async def _chosen_cameras(
    db: AsyncSession,
    owner_id: uuid.UUID,
    site_id: uuid.UUID,
    camera_ids: Sequence[uuid.UUID],
    device_id: uuid.UUID | None = None,
) -> list[DeviceCamera]:
    online = [
        c
        for c, camera_site in (await db.execute(_online_cameras())).all()
        if camera_site == site_id and device_id in (None, c.device_id)
    ]
    if not camera_ids:
        if not online:
            raise InvalidInput(
                {"site_id": "No camera at this site is sending video through an edge device right now. "
                            "Check the device on the Devices page."}
            )  # fmt: skip
        return online
    chosen = []
    for camera_id in camera_ids:
        camera = await registry.get_camera(db, owner_id, camera_id)  # another owner's camera is a 404
        if camera.site_id != site_id:
            raise InvalidInput({"camera_ids": f"{camera.name} is at another site; share one site at a time"})
        sending = [c for c in online if c.camera_id == camera_id]
        if not sending:
            raise InvalidInput(
                {"camera_ids": f"{camera.name} has no edge device sending its video right now (the device or the "
                               "camera is offline, or the camera is not linked to a device camera)"}
            )  # fmt: skip
        chosen += sending
    return chosen


async def _refresh_devices(db: AsyncSession, device_ids: set[uuid.UUID | None]) -> None:
    """The devices' desired state, so that they start or stop sending (announced when the caller commits)."""
    for device_id in device_ids:
        if device_id is None:
            continue
        device = await db.scalar(
            select(EdgeDevice).where(EdgeDevice.id == device_id).options(selectinload(EdgeDevice.cameras))
        )
        if device is not None:
            await devices.refresh_desired(db, device)


async def start_share(
    db: AsyncSession,
    owner_id: uuid.UUID,
    data: ShareIn,
    policy: SharePolicy,
    *,
    trigger: Trigger = Trigger.APP,
    device_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> ShareSession:
    """A new share of a site's cameras (all that a device sends, or the chosen ones). A second start while a
    share of the site is on is a 409 that names it: extend or stop that one instead; nothing is joined silently."""
    now = now or utcnow()
    _check_minutes(data.minutes, policy)
    site = await registry.get_site(db, owner_id, data.site_id)  # another owner's site is a 404
    open_id = await db.scalar(
        select(ShareSession.id).where(
            ShareSession.site_id == site.id, ShareSession.state.in_(list(OPEN_STATES)), ShareSession.ends_at > now
        )
    )
    if open_id is not None:
        raise Conflict(f"You are already sharing {site.name}. Extend or stop that share (share {open_id}).")
    cameras = await _chosen_cameras(db, owner_id, site.id, data.camera_ids, device_id)
    share = ShareSession(
        owner_id=owner_id, agency_id=await _program_agency(db, policy), site_id=site.id, state=ShareState.REQUESTED,
        trigger=trigger, note=data.note.strip(), started_at=now, ends_at=now + dt.timedelta(minutes=data.minutes),
        ice_servers=list(policy.ice_servers), extensions=0,
        cameras=[ShareCamera(device_id=c.device_id, device_camera_key=c.key, camera_id=c.camera_id, name=c.name)
                 for c in cameras],
    )  # fmt: skip
    db.add(share)
    await db.flush()
    await _refresh_devices(db, {c.device_id for c in cameras})
    return share


async def end_share(db: AsyncSession, share: ShareSession, reason: EndReason, now: dt.datetime) -> None:
    """End a share: the devices are told to stop, every viewer's session closes, and the relay (told when the
    caller commits) closes the peer connections itself."""
    _move(share, ShareState.ENDED)
    share.ended_at = now
    share.end_reason = reason
    share.extension_asked_at = None
    await db.execute(
        update(ShareViewer)
        .where(ShareViewer.share_id == share.id, ShareViewer.closed_at.is_(None))
        .values(closed_at=now)
    )
    await _refresh_devices(db, {c.device_id for c in share.cameras})
    relay.announce_ended(db, [share.id])


async def stop_share(
    db: AsyncSession, owner_id: uuid.UUID, share_id: uuid.UUID, now: dt.datetime | None = None
) -> ShareSession:
    now = now or utcnow()
    share = await _load(db, share_id, owner_id=owner_id)
    if share.state == ShareState.ENDED:
        raise Conflict(f"This share has already ended ({_ended_how(share)})")
    await end_share(db, share, EndReason.OWNER, now)
    return share


async def extend_share(
    db: AsyncSession,
    owner_id: uuid.UUID,
    share_id: uuid.UUID,
    minutes: int,
    policy: SharePolicy,
    now: dt.datetime | None = None,
) -> ShareSession:
    """The owner gives more time (only the owner can); the whole share stays within the program's cap."""
    now = now or utcnow()
    share = await _load(db, share_id, owner_id=owner_id)
    if not _is_open(share, now):
        raise Conflict("This share has ended; start a new one instead")
    longest = _longest(share, policy)
    if share.ends_at >= longest:
        raise InvalidInput(
            {"minutes": f"This share already lasts the longest allowed ({minutes_label(policy.max_minutes)})"}
        )
    share.ends_at = min(share.ends_at + dt.timedelta(minutes=minutes), longest)
    share.extensions += 1
    share.extension_asked_at = None
    share.extension_minutes = None
    await _refresh_devices(db, {c.device_id for c in share.cameras})
    return share


async def answer_extension(
    db: AsyncSession,
    owner_id: uuid.UUID,
    share_id: uuid.UUID,
    approve: bool,
    policy: SharePolicy,
    now: dt.datetime | None = None,
) -> ShareSession:
    """The owner's yes or no to the desk's request for more time."""
    now = now or utcnow()
    share = await _load(db, share_id, owner_id=owner_id)
    if share.extension_asked_at is None or not _is_open(share, now):
        raise Conflict("The live desk has not asked for more time on this share")
    if approve:
        return await extend_share(db, owner_id, share_id, share.extension_minutes or 30, policy, now)
    share.extension_asked_at = None
    share.extension_minutes = None
    return share


# --- the panic button -------------------------------------------------------------------------------------------


async def button_pressed(
    db: AsyncSession, device: EdgeDevice, policy: SharePolicy, now: dt.datetime | None = None
) -> ShareSession | None:
    """A panic-button press: with "share on alert" allowed, a share of the device's cameras starts at once and
    the owner is told how to stop it; otherwise (or if it cannot start) the owner is told of the press."""
    now = now or utcnow()
    site_name = await db.scalar(select(Site.name).where(Site.id == device.site_id)) or device.name
    if device.share_on_alert:
        open_id = await db.scalar(
            select(ShareSession.id).where(
                ShareSession.site_id == device.site_id,
                ShareSession.state.in_(list(OPEN_STATES)),
                ShareSession.ends_at > now,
            )
        )
        if open_id is not None:
            await _tell_owner(db, device.owner_id, open_id, "Panic button pressed while sharing",
                              f"{device.name} at {site_name}: you are already sharing live video.")  # fmt: skip
            return None
        data = ShareIn(site_id=device.site_id, minutes=min(device.alert_share_minutes, policy.max_minutes))
        try:
            async with db.begin_nested():
                share = await start_share(
                    db, device.owner_id, data, policy, trigger=Trigger.BUTTON, device_id=device.id, now=now
                )
        except ServiceError as error:
            await _tell_owner(db, device.owner_id, None, f"Panic button pressed at {site_name}",
                              f"Sharing could not start: {error.detail}")  # fmt: skip
            return None
        await _tell_owner(db, device.owner_id, share.id, f"Sharing started by the panic button at {site_name}",
                          "The live desk can see your cameras. Tap to stop.")  # fmt: skip
        return share
    await _tell_owner(db, device.owner_id, None, f"Panic button pressed at {site_name}",
                      f"{device.name} reported a press. Sharing on alert is off, so nothing was shared.")  # fmt: skip
    return None


async def _tell_owner(db: AsyncSession, owner_id: uuid.UUID, share_id: uuid.UUID | None, title: str, body: str) -> None:
    navigate = f"/share/{share_id}" if share_id else "/share"
    await notifications.notify(
        db, Kind.SHARE_NOW, notifications.Message(owner_id, title[:120], body[:300], navigate, f"share-{share_id}")
    )


# --- the live desk ----------------------------------------------------------------------------------------------


def require_live_desk(user: User) -> uuid.UUID:
    if not user.has_role(Role.LIVE_DESK) or user.agency_id is None:
        raise Forbidden("Only live desk operators of the program's agency see live video")
    return user.agency_id


def _desk_out(share: ShareSession, site: Site, names: dict[uuid.UUID, str], now: dt.datetime) -> DeskShareOut:
    open_ = _is_open(share, now)
    return DeskShareOut(
        id=share.id, site_name=site.name, address=site.address, latitude=site.latitude, longitude=site.longitude,
        state=share.state if open_ or share.state == ShareState.ENDED else ShareState.ENDED, trigger=share.trigger,
        note=share.note, started_at=share.started_at, ends_at=share.ends_at,
        seconds_left=max(0, int((share.ends_at - now).total_seconds())) if open_ else 0,
        ended_how=_ended_how(share) or ("" if open_ else END_REASON_TEXT[EndReason.EXPIRED]),
        cameras=_cameras_out(share), acknowledged_at=share.acknowledged_at,
        acknowledged_by=names.get(share.acknowledged_by_id) if share.acknowledged_by_id else None,
        extension_asked_minutes=share.extension_minutes if share.extension_asked_at else None,
    )  # fmt: skip


async def desk_shares(db: AsyncSession, user: User, now: dt.datetime | None = None) -> list[DeskShareOut]:
    """The agency's shares that are on now, newest first."""
    now = now or utcnow()
    agency_id = require_live_desk(user)
    rows = (
        await db.execute(
            select(ShareSession, Site)
            .join(Site, Site.id == ShareSession.site_id)
            .where(
                ShareSession.agency_id == agency_id,
                ShareSession.state.in_(list(OPEN_STATES)),
                ShareSession.ends_at > now,
            )
            .options(selectinload(ShareSession.cameras))
            .order_by(ShareSession.started_at.desc())
        )
    ).all()
    names = await _names(db, [share.acknowledged_by_id for share, _ in rows])
    return [_desk_out(share, site, names, now) for share, site in rows]


async def _desk_load(db: AsyncSession, user: User, share_id: uuid.UUID) -> tuple[ShareSession, Site]:
    share = await _load(db, share_id, agency_id=require_live_desk(user))  # another agency's share is a 404
    return share, await db.get_one(Site, share.site_id)


async def desk_share(db: AsyncSession, user: User, share_id: uuid.UUID, now: dt.datetime | None = None) -> DeskShareOut:
    share, site = await _desk_load(db, user, share_id)
    return _desk_out(share, site, await _names(db, [share.acknowledged_by_id]), now or utcnow())


async def _agency_name(db: AsyncSession, agency_id: uuid.UUID) -> str:
    return await db.scalar(select(Agency.name).where(Agency.id == agency_id)) or ""


async def acknowledge(
    db: AsyncSession, user: User, share_id: uuid.UUID, ip: str, now: dt.datetime | None = None
) -> DeskShareOut:
    """The operator says "I'm watching": the owner gets a push naming the agency and the operator."""
    now = now or utcnow()
    share, site = await _desk_load(db, user, share_id)
    _refuse_ended(share, now)
    if share.acknowledged_at is None:
        share.acknowledged_at = now
        share.acknowledged_by_id = user.id
    await record_custody(db, CustodyAction.LIVE_ACKNOWLEDGED, user, share, ip, f"{site.name}: said they are watching")
    agency = await _agency_name(db, share.agency_id)
    await _tell_owner(db, share.owner_id, share.id, f"{agency} live desk ({user.display_name}) is watching",
                      f"They can see your cameras at {site.name}. Tap to see who is watching or to stop.")  # fmt: skip
    await db.flush()
    return _desk_out(share, site, {user.id: user.display_name}, now)


async def ask_more_time(
    db: AsyncSession, user: User, share_id: uuid.UUID, minutes: int, ip: str, now: dt.datetime | None = None
) -> DeskShareOut:
    """The desk asks for more time; the owner decides (the desk can never extend a share itself)."""
    now = now or utcnow()
    share, site = await _desk_load(db, user, share_id)
    _refuse_ended(share, now)
    share.extension_asked_at = now
    share.extension_asked_by_id = user.id
    share.extension_minutes = minutes
    await record_custody(
        db, CustodyAction.LIVE_MORE_TIME, user, share, ip, f"{site.name}: asked for {minutes_label(minutes)} more"
    )
    agency = await _agency_name(db, share.agency_id)
    await _tell_owner(db, share.owner_id, share.id, f"{agency} live desk asks for {minutes_label(minutes)} more",
                      f"{user.display_name} asks to keep watching {site.name}. Tap to answer yes or no.")  # fmt: skip
    await db.flush()
    return _desk_out(share, site, await _names(db, [share.acknowledged_by_id]), now)


# --- the relay's questions ---------------------------------------------------------------------------------------


async def _share_camera(db: AsyncSession, share_camera_id: uuid.UUID) -> tuple[ShareCamera, ShareSession]:
    row = (
        await db.execute(
            select(ShareCamera, ShareSession)
            .join(ShareSession, ShareSession.id == ShareCamera.share_id)
            .where(ShareCamera.id == share_camera_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such shared camera")
    return row[0], row[1]


async def authorize_publish(
    db: AsyncSession, credential: str, share_camera_id: uuid.UUID, now: dt.datetime | None = None
) -> tuple[uuid.UUID, dt.datetime]:
    """A device may publish a camera only while the owner's share of it is on. Returns the share and its end."""
    now = now or utcnow()
    device = await devices.device_for_credential(db, credential)
    try:
        camera, share = await _share_camera(db, share_camera_id)
    except NotFound:
        raise Forbidden("This device has no live share of that camera") from None
    if camera.device_id != device.id:
        raise Forbidden("This device has no live share of that camera")
    _refuse_ended(share, now)
    return share.id, share.ends_at


async def publishing(db: AsyncSession, share_camera_id: uuid.UUID, now: dt.datetime | None = None) -> None:
    """The relay receives a camera's video: the share is live (the desk sees "sending")."""
    now = now or utcnow()
    camera, share = await _share_camera(db, share_camera_id)
    camera.publishing_since = camera.publishing_since or now
    if share.state == ShareState.REQUESTED:
        _move(share, ShareState.LIVE)
        share.live_at = now
    await db.commit()


async def authorize_view(
    db: AsyncSession, user: User, share_camera_id: uuid.UUID, ip: str, now: dt.datetime | None = None
) -> tuple[uuid.UUID, uuid.UUID, dt.datetime]:
    """A live-desk operator of the share's agency opens a camera while the share is on: recorded for the owner.
    Returns (viewer id, share id, share end)."""
    now = now or utcnow()
    agency_id = require_live_desk(user)
    camera, share = await _share_camera(db, share_camera_id)
    if share.agency_id != agency_id:
        raise NotFound("No such shared camera")
    _refuse_ended(share, now)
    agency = await _agency_name(db, agency_id)
    viewer = ShareViewer(share_id=share.id, share_camera_id=camera.id, user_id=user.id,
                         display_name=user.display_name, agency_name=agency, opened_at=now)  # fmt: skip
    db.add(viewer)
    await record_custody(db, CustodyAction.LIVE_VIEW, user, share, ip, f"opened live video of {camera.name}")
    await db.commit()
    return viewer.id, share.id, share.ends_at


async def viewer_closed(db: AsyncSession, viewer_id: uuid.UUID, now: dt.datetime | None = None) -> None:
    await db.execute(
        update(ShareViewer)
        .where(ShareViewer.id == viewer_id, ShareViewer.closed_at.is_(None))
        .values(closed_at=now or utcnow())
    )
    await db.commit()


async def still_open(
    db: AsyncSession, share_ids: Sequence[uuid.UUID], now: dt.datetime | None = None
) -> dict[uuid.UUID, dt.datetime]:
    """Which of these shares are still on, and until when (the relay cuts the others off)."""
    if not share_ids:
        return {}
    rows = await db.execute(
        select(ShareSession.id, ShareSession.ends_at).where(
            ShareSession.id.in_(list(share_ids)),
            ShareSession.state.in_(list(OPEN_STATES)),
            ShareSession.ends_at > (now or utcnow()),
        )
    )
    return dict(rows.all())


# --- devices ----------------------------------------------------------------------------------------------------


async def device_removed(db: AsyncSession, device_id: uuid.UUID, now: dt.datetime | None = None) -> None:
    """The owner removed a device: its shares end (before it goes)."""
    now = now or utcnow()
    shares = await db.scalars(
        select(ShareSession)
        .where(
            ShareSession.id.in_(select(ShareCamera.share_id).where(ShareCamera.device_id == device_id)),
            ShareSession.state.in_(list(OPEN_STATES)),
        )
        .options(selectinload(ShareSession.cameras))
    )
    for share in shares:
        await end_share(db, share, EndReason.DEVICE_REMOVED, now)


# --- the sweeper ------------------------------------------------------------------------------------------------


async def sweep(db: AsyncSession, now: dt.datetime | None = None) -> tuple[int, int]:
    """End shares whose time ran out and tell owners whose share nobody acknowledged in time.
    Returns (ended, owners told)."""
    now = now or utcnow()
    expired = (
        await db.scalars(
            select(ShareSession)
            .where(ShareSession.state.in_(list(OPEN_STATES)), ShareSession.ends_at <= now)
            .options(selectinload(ShareSession.cameras))
            .with_for_update(skip_locked=True)
        )
    ).all()
    for share in expired:
        await end_share(db, share, EndReason.EXPIRED, now)
        await _tell_owner(db, share.owner_id, share.id, "Sharing ended: the time ran out",
                          "Your cameras are no longer shared. Tap for a summary.")  # fmt: skip
    unanswered = (
        await db.scalars(
            select(ShareSession)
            .where(
                ShareSession.state.in_(list(OPEN_STATES)),
                ShareSession.acknowledged_at.is_(None),
                ShareSession.unwatched_told_at.is_(None),
                ShareSession.started_at <= now - ACKNOWLEDGE_WITHIN,
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    for share in unanswered:
        share.unwatched_told_at = now
        await _tell_owner(db, share.owner_id, share.id, "Nobody at the live desk has answered yet",
                          "Your video is shared, but no one has said they are watching. "
                          "If you need help now, call 911.")  # fmt: skip
    await db.commit()
    return len(expired), len(unanswered)


async def agency_audit(db: AsyncSession, user: User, limit: int = 500) -> list[dict[str, Any]]:
    """The agency's live-video accesses, newest first: who opened, acknowledged or asked for more time, when."""
    agency_id = require_live_desk(user)
    rows = await db.execute(
        select(CustodyEvent, Site.name)
        .join(ShareSession, ShareSession.id == CustodyEvent.share_id)
        .join(Site, Site.id == ShareSession.site_id)
        .where(CustodyEvent.agency_id == agency_id)
        .order_by(CustodyEvent.at.desc(), CustodyEvent.id.desc())
        .limit(limit)
    )
    return [
        {"at": e.at, "action": e.action, "by": e.actor_name, "site": site, "share_id": e.share_id, "detail": e.detail}
        for e, site in rows
    ]
