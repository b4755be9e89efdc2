"""Owner pages for sites and cameras: thin, every rule is in the registry service."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from backend.errors import InvalidInput
from backend.registry import service
from backend.registry.api import Area, provide_program_area
from backend.registry.models import Placement, Recorder, SiteKind
from backend.registry.schemas import CameraIn, SiteIn
from backend.sharing.api import policy_of
from backend.sharing.pages import open_share
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_owner, settings_of

Form = URLEncodedBody[dict[str, Any]]

CHOICES = {"site_kinds": list(SiteKind), "placements": list(Placement), "recorders": list(Recorder)}
NEW_CAMERA_DEFAULTS = {"field_of_view_deg": 90, "range_m": 30, "placement": "outdoor", "retention_days": 14}


def _form(template: str, values: dict[str, Any], errors: dict[str, str] | None = None, **context: Any) -> Template:
    return Template(
        template,
        context={"values": values, "errors": errors or {}, **CHOICES, **context},
        status_code=400 if errors else 200,
    )


def _values(form: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k not in {"_csrf_token", "find_position"}}


async def _site_form(
    db: Db, owner_id: uuid.UUID, values: dict[str, Any], errors: dict[str, str] | None = None, **context: Any
) -> Template:
    """The site form, with "Part of <district>" for each district the owner joined."""
    return _form(
        "registry/site_form.html", values, errors, districts=await service.site_districts(db, owner_id), **context
    )


async def _found_position(
    request: Request, db: Db, owner_id: uuid.UUID, data: dict[str, Any], site: Any
) -> Template | None:
    """ "Find the position from the address" (only where a geocoder is configured): the form again, its position
    filled from the address, nothing saved. None for any other press of the form."""
    geocoder_url = settings_of(request).geocoder_url
    if not geocoder_url or "find_position" not in data:
        return None
    values = _values(data)
    districts = await service.site_districts(db, owner_id)
    await db.commit()  # nothing to write: it ends the transaction, so none is open while the geocoder answers
    try:
        place = await service.position_of_address(geocoder_url, str(values.get("address", "")))
    except InvalidInput as exc:
        return _form("registry/site_form.html", values, exc.errors, site=site, districts=districts)
    values.update(latitude=round(place.latitude, 6), longitude=round(place.longitude, 6))
    return _form("registry/site_form.html", values, site=site, found=place.label, districts=districts)


class RegistryPages(Controller):
    include_in_schema = False
    dependencies = {"owner": provide_owner, "area": Provide(provide_program_area, sync_to_thread=False)}

    @get("/sites")
    async def overview(
        self, request: Request, db: Db, owner: SignedIn, area: Area, welcome: FromQuery[bool] = False
    ) -> Template:
        """The owner's home: "Share now" (or the share that is on) above their sites."""
        sites = await service.list_sites(db, owner.id, area)
        on = await open_share(db, owner.id, policy_of(request))
        return Template("registry/sites.html", context={"sites": sites, "welcome": welcome, "open_share": on})

    @get("/sites/new")
    async def new_site_form(self, db: Db, owner: SignedIn, district: FromQuery[uuid.UUID | None] = None) -> Template:
        """`district`: right after joining one, the form filled from what the business gave it."""
        return await _site_form(db, owner.id, await service.new_site_values(db, owner.id, district), site=None)

    @post("/sites/new")
    async def create_site(
        self, request: Request, db: Db, owner: SignedIn, area: Area, data: Form
    ) -> Template | Redirect:
        if found := await _found_position(request, db, owner.id, data, None):
            return found
        try:
            site = await service.create_site(db, owner.id, parse_form(SiteIn, data), area)
        except InvalidInput as exc:
            return await _site_form(db, owner.id, _values(data), exc.errors, site=None)
        return Redirect(f"/sites/{site.id}?saved=site")

    @get("/sites/{site_id:uuid}")
    async def site(
        self, db: Db, owner: SignedIn, area: Area, site_id: FromPath[uuid.UUID], saved: FromQuery[str] = ""
    ) -> Template:
        site = await service.get_site(db, owner.id, site_id, area)
        return Template("registry/site.html", context={"site": site, "saved": saved})

    @get("/sites/{site_id:uuid}/edit")
    async def edit_site_form(self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID]) -> Template:
        site = await service.get_site(db, owner.id, site_id)
        return await _site_form(db, owner.id, msgspec.structs.asdict(site), site=site)

    @post("/sites/{site_id:uuid}/edit")
    async def update_site(
        self, request: Request, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        if "find_position" in data:
            site = await service.get_site(db, owner.id, site_id)  # another owner's site is a 404
            if found := await _found_position(request, db, owner.id, data, site):
                return found
        try:
            changes = msgspec.structs.asdict(parse_form(SiteIn, data))
            await service.update_site(db, owner.id, site_id, changes)
        except InvalidInput as exc:
            site = await service.get_site(db, owner.id, site_id)
            return await _site_form(db, owner.id, _values(data), exc.errors, site=site)
        return Redirect(f"/sites/{site_id}?saved=site")

    @post("/sites/{site_id:uuid}/delete")
    async def delete_site(self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID]) -> Redirect:
        await service.delete_site(db, owner.id, site_id)
        return Redirect("/sites?deleted=1")

    @get("/sites/{site_id:uuid}/cameras/new")
    async def new_camera_form(self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID]) -> Template:
        site = await service.get_site(db, owner.id, site_id)
        return _form("registry/camera_form.html", NEW_CAMERA_DEFAULTS, site=site, camera=None)

    @post("/sites/{site_id:uuid}/cameras/new")
    async def create_camera(
        self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        try:
            await service.create_camera(db, owner.id, site_id, parse_form(CameraIn, data))
        except InvalidInput as exc:
            site = await service.get_site(db, owner.id, site_id)
            return _form("registry/camera_form.html", _values(data), exc.errors, site=site, camera=None)
        return Redirect(f"/sites/{site_id}?saved=camera")

    @get("/cameras/{camera_id:uuid}/edit")
    async def edit_camera_form(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> Template:
        camera = await service.get_camera(db, owner.id, camera_id)
        site = await service.get_site(db, owner.id, camera.site_id)
        return _form("registry/camera_form.html", msgspec.structs.asdict(camera), site=site, camera=camera)

    @post("/cameras/{camera_id:uuid}/edit")
    async def update_camera(
        self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        camera = await service.get_camera(db, owner.id, camera_id)
        try:
            changes = msgspec.structs.asdict(parse_form(CameraIn, data))
            await service.update_camera(db, owner.id, camera_id, changes)
        except InvalidInput as exc:
            site = await service.get_site(db, owner.id, camera.site_id)
            return _form("registry/camera_form.html", _values(data), exc.errors, site=site, camera=camera)
        return Redirect(f"/sites/{camera.site_id}?saved=camera")

    @post("/cameras/{camera_id:uuid}/pause")
    async def pause_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> Redirect:
        camera = await service.set_camera_paused(db, owner.id, camera_id, paused=True)
        return Redirect(f"/sites/{camera.site_id}?saved=paused")

    @post("/cameras/{camera_id:uuid}/resume")
    async def resume_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> Redirect:
        camera = await service.set_camera_paused(db, owner.id, camera_id, paused=False)
        return Redirect(f"/sites/{camera.site_id}?saved=resumed")

    @post("/cameras/{camera_id:uuid}/delete")
    async def delete_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> Redirect:
        site_id = await service.delete_camera(db, owner.id, camera_id)
        return Redirect(f"/sites/{site_id}?saved=camera-deleted")
