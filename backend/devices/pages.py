"""Owner pages for edge devices: add by code, list, a device's health, cameras, outages and settings. Thin."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from backend.db import utcnow
from backend.devices import service
from backend.devices.schemas import DeviceDetailOut, PairIn
from backend.errors import InvalidInput, TooManyAttempts
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_owner

Form = URLEncodedBody[dict[str, Any]]

NOTICES = {
    "paired": "Device added. It finishes pairing by itself within a few seconds; its cameras appear here.",
    "saved": "Device saved.",
    "muted": "Alerts for this device are off. Its status is still shown here.",
    "unmuted": "Alerts for this device are on.",
    "linked": "Camera link saved.",
    "share-on": "The panic button now starts sharing your cameras with the live desk.",
    "share-off": "Sharing on alert is off: a press of the panic button only notifies you.",
}


@dataclass(frozen=True)
class Stretch:
    """One outage drawn on a 7-day timeline: where it starts and how wide it is, in percent."""

    left: float
    width: float
    started_at: dt.datetime
    ended_at: dt.datetime | None


@dataclass(frozen=True)
class Timeline:
    label: str
    stretches: list[Stretch]


def timelines(device: DeviceDetailOut, now: dt.datetime) -> list[Timeline]:
    """The device's and each camera's outages of the last 7 days, as stretches of a bar."""
    start = now - dt.timedelta(days=service.TIMELINE_DAYS)
    span = (now - start).total_seconds()

    def stretches(camera_id: uuid.UUID | None) -> list[Stretch]:
        found = []
        for outage in reversed(device.outages):
            if outage.device_camera_id != camera_id:
                continue
            begin, end = max(outage.started_at, start), min(outage.ended_at or now, now)
            left = (begin - start).total_seconds() / span * 100
            width = max((end - begin).total_seconds() / span * 100, 0.4)  # a short outage stays visible
            found.append(Stretch(round(left, 2), round(width, 2), outage.started_at, outage.ended_at))
        return found

    return [Timeline("The device", stretches(None))] + [
        Timeline(f"Camera {camera.name}", stretches(camera.id)) for camera in device.cameras
    ]


def _uuid_or_none(value: object) -> uuid.UUID | None:
    """A chosen option's id; an empty or garbled one is no choice (the service then says what is missing)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class DevicePages(Controller):
    include_in_schema = False
    dependencies = {"owner": provide_owner}

    @get("/devices")
    async def overview(self, db: Db, owner: SignedIn, removed: FromQuery[bool] = False) -> Template:
        devices = await service.list_devices(db, owner.id)
        return Template(
            "devices/list.html", context={"devices": devices, "removed": removed, "time_zone": owner.time_zone}
        )

    async def _add_form(
        self, db: Db, owner: SignedIn, values: dict[str, Any], errors: dict[str, str] | None = None, status: int = 400
    ) -> Template:
        sites = await service.site_choices(db, owner.id)
        if len(sites) == 1 and not values.get("site_id"):
            values = {**values, "site_id": sites[0][0]}
        return Template(
            "devices/add.html",
            context={"values": values, "errors": errors or {}, "sites": sites},
            status_code=status if errors else 200,
        )

    @get("/devices/add")
    async def add_form(self, db: Db, owner: SignedIn, code: FromQuery[str] = "") -> Template:
        return await self._add_form(db, owner, {"user_code": code[:20]})

    @post("/devices/add")
    async def add(self, db: Db, owner: SignedIn, data: Form) -> Template | Redirect:
        values = {k: v for k, v in data.items() if k != "_csrf_token"}
        try:
            device = await service.approve_pairing(db, owner.id, parse_form(PairIn, data))
        except InvalidInput as exc:
            return await self._add_form(db, owner, values, exc.errors)
        except TooManyAttempts as exc:
            return await self._add_form(db, owner, values, {"user_code": exc.detail}, status=429)
        return Redirect(f"/devices/{device.id}?saved=paired")

    async def _device_page(
        self, db: Db, owner: SignedIn, device_id: uuid.UUID, notice: str = "", errors: dict[str, str] | None = None
    ) -> Template:
        now = utcnow()
        device = await service.get_device(db, owner.id, device_id, now=now)
        return Template(
            "devices/device.html",
            context={
                "device": device,
                "notice": notice,
                "errors": errors or {},
                "sites": await service.site_choices(db, owner.id),
                "site_cameras": await service.camera_choices(db, owner.id, device.site_id),
                "timelines": timelines(device, now),
                "timeline_start": now - dt.timedelta(days=service.TIMELINE_DAYS),
                "time_zone": owner.time_zone,
                "now": now,
            },
            status_code=400 if errors else 200,
        )

    @get("/devices/{device_id:uuid}")
    async def device(
        self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID], saved: FromQuery[str] = ""
    ) -> Template:
        return await self._device_page(db, owner, device_id, NOTICES.get(saved, ""))

    @post("/devices/{device_id:uuid}/edit")
    async def edit(self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID], data: Form) -> Template | Redirect:
        try:
            await service.update_device(
                db, owner.id, device_id, name=str(data.get("name", "")), site_id=_uuid_or_none(data.get("site_id"))
            )
        except InvalidInput as exc:
            return await self._device_page(db, owner, device_id, errors=exc.errors)
        return Redirect(f"/devices/{device_id}?saved=saved")

    @post("/devices/{device_id:uuid}/alerts")
    async def alerts(self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID], data: Form) -> Redirect:
        muted = data.get("alerts") == "off"
        await service.update_device(db, owner.id, device_id, alerts_muted=muted)
        return Redirect(f"/devices/{device_id}?saved={'muted' if muted else 'unmuted'}")

    @post("/devices/{device_id:uuid}/share-on-alert")
    async def share_on_alert(
        self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        on = data.get("share_on_alert") == "on"
        try:
            minutes = int(str(data.get("alert_share_minutes", "")))
        except ValueError:
            minutes = 0  # the service names the choices
        try:
            await service.update_device(db, owner.id, device_id, share_on_alert=on, alert_share_minutes=minutes)
        except InvalidInput as exc:
            return await self._device_page(db, owner, device_id, errors=exc.errors)
        return Redirect(f"/devices/{device_id}?saved={'share-on' if on else 'share-off'}")

    @post("/devices/{device_id:uuid}/remove")
    async def remove(self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID]) -> Redirect:
        await service.remove_device(db, owner.id, device_id)
        return Redirect("/devices?removed=1")

    @post("/devices/cameras/{device_camera_id:uuid}/link")
    async def link(
        self, db: Db, owner: SignedIn, device_camera_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        camera_id = _uuid_or_none(data.get("camera_id"))  # "Not linked" is empty
        try:
            device = await service.link_camera(db, owner.id, device_camera_id, camera_id)
        except InvalidInput as exc:
            device_id = await service.device_of_camera(db, owner.id, device_camera_id)
            return await self._device_page(
                db, owner, device_id, errors={f"link-{device_camera_id}": exc.errors["camera_id"]}
            )
        return Redirect(f"/devices/{device.id}?saved=linked")

    @post("/devices/cameras/{device_camera_id:uuid}/register")
    async def register(self, db: Db, owner: SignedIn, device_camera_id: FromPath[uuid.UUID]) -> Redirect:
        camera = await service.register_camera_from(db, owner.id, device_camera_id)
        return Redirect(f"/cameras/{camera.id}/edit?from=device")
