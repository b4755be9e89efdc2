"""The owner's registry: sites and cameras, always loaded scoped to their owner."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.db import utcnow
from backend.errors import InvalidInput, NotFound
from backend.registry.models import Camera, Placement, Recorder, Site, SiteKind
from backend.registry.schemas import CameraIn, CameraOut, SiteIn, SiteOut

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_FIELDS = ("name", "address", "contact_phone", "contact_email", "contact_hours", "investigator_note", "note")


def camera_out(camera: Camera) -> CameraOut:
    return CameraOut(
        id=camera.id,
        site_id=camera.site_id,
        name=camera.name,
        latitude=camera.latitude,
        longitude=camera.longitude,
        bearing_deg=camera.bearing_deg,
        field_of_view_deg=camera.field_of_view_deg,
        range_m=camera.range_m,
        placement=Placement(camera.placement),
        recorder=Recorder(camera.recorder),
        retention_days=camera.retention_days,
        note=camera.note,
        paused=camera.paused_at is not None,
        paused_at=camera.paused_at,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
    )


def site_out(site: Site) -> SiteOut:
    return SiteOut(
        id=site.id,
        name=site.name,
        address=site.address,
        latitude=site.latitude,
        longitude=site.longitude,
        kind=SiteKind(site.kind),
        contact_phone=site.contact_phone,
        contact_email=site.contact_email,
        contact_hours=site.contact_hours,
        investigator_note=site.investigator_note,
        created_at=site.created_at,
        updated_at=site.updated_at,
        cameras=[camera_out(c) for c in site.cameras],
    )


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if k in _TEXT_FIELDS and isinstance(v, str) else v for k, v in values.items()}


def _check_contact(site: Site) -> None:
    if not site.contact_phone and not site.contact_email:
        raise InvalidInput({"contact_phone": "Give a phone number or an email address so police can reach you"})
    if site.contact_email and not _EMAIL.match(site.contact_email):
        raise InvalidInput({"contact_email": "Contact email is not an email address (name@example.com)"})


async def _own_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    site = await db.scalar(
        select(Site).where(Site.id == site_id, Site.owner_id == owner_id).options(selectinload(Site.cameras))
    )
    if site is None:
        raise NotFound("No such site among yours")
    return site


async def _own_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> Camera:
    camera = await db.scalar(
        select(Camera).join(Site, Site.id == Camera.site_id).where(Camera.id == camera_id, Site.owner_id == owner_id)
    )
    if camera is None:
        raise NotFound("No such camera among yours")
    return camera


async def list_sites(db: AsyncSession, owner_id: uuid.UUID) -> list[SiteOut]:
    sites = await db.scalars(
        select(Site).where(Site.owner_id == owner_id).options(selectinload(Site.cameras)).order_by(Site.name, Site.id)
    )
    return [site_out(s) for s in sites]


async def get_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> SiteOut:
    return site_out(await _own_site(db, owner_id, site_id))


async def create_site(db: AsyncSession, owner_id: uuid.UUID, data: SiteIn) -> SiteOut:
    site = Site(owner_id=owner_id, cameras=[], **_clean(msgspec.structs.asdict(data)))
    _check_contact(site)
    db.add(site)
    await db.commit()
    return site_out(site)


async def update_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, changes: dict[str, Any]) -> SiteOut:
    site = await _own_site(db, owner_id, site_id)
    for key, value in _clean(changes).items():
        setattr(site, key, value)
    try:
        _check_contact(site)
    except InvalidInput:
        await db.rollback()
        raise
    await db.commit()
    await db.refresh(site, ["cameras"])
    return site_out(site)


async def delete_site(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID) -> None:
    site = await _own_site(db, owner_id, site_id)
    await db.delete(site)
    await db.commit()


def _place_camera(camera: Camera, site: Site, values: dict[str, Any]) -> None:
    """Latitude and longitude come as a pair; neither means the camera stands at its site."""
    if "latitude" not in values and "longitude" not in values:
        return
    latitude, longitude = values.pop("latitude", None), values.pop("longitude", None)
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise InvalidInput({missing: "Give both latitude and longitude, or neither to use the site's position"})
    camera.latitude = site.latitude if latitude is None else latitude
    camera.longitude = site.longitude if longitude is None else longitude


async def create_camera(db: AsyncSession, owner_id: uuid.UUID, site_id: uuid.UUID, data: CameraIn) -> CameraOut:
    site = await _own_site(db, owner_id, site_id)
    values = _clean(msgspec.structs.asdict(data))
    camera = Camera(site_id=site.id, latitude=site.latitude, longitude=site.longitude)
    _place_camera(camera, site, values)
    for key, value in values.items():
        setattr(camera, key, value)
    db.add(camera)
    await db.commit()
    return camera_out(camera)


async def get_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> CameraOut:
    return camera_out(await _own_camera(db, owner_id, camera_id))


async def update_camera(
    db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID, changes: dict[str, Any]
) -> CameraOut:
    camera = await _own_camera(db, owner_id, camera_id)
    site = await db.get_one(Site, camera.site_id)
    values = _clean(changes)
    _place_camera(camera, site, values)
    for key, value in values.items():
        setattr(camera, key, value)
    await db.commit()
    return camera_out(camera)


async def set_camera_paused(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID, paused: bool) -> CameraOut:
    """A paused camera stays registered but is not offered to police until resumed."""
    camera = await _own_camera(db, owner_id, camera_id)
    if paused and camera.paused_at is None:
        camera.paused_at = utcnow()
    elif not paused:
        camera.paused_at = None
    await db.commit()
    return camera_out(camera)


async def delete_camera(db: AsyncSession, owner_id: uuid.UUID, camera_id: uuid.UUID) -> uuid.UUID:
    """Returns the camera's site, where the owner goes next."""
    camera = await _own_camera(db, owner_id, camera_id)
    site_id = camera.site_id
    await db.delete(camera)
    await db.commit()
    return site_id
