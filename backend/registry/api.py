"""JSON API for an owner's sites and cameras."""

from __future__ import annotations

import uuid
from typing import TypeAlias

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, RequestBody

from backend.registry import service
from backend.registry.schemas import CameraIn, CameraOut, CameraPatch, SiteIn, SiteOut, SitePatch
from backend.validation import set_fields
from backend.web import Db, SignedIn, provide_owner, settings_of


def provide_program_area(request: Request) -> service.ProgramArea | None:
    """The program's area from the settings: a site outside it is saved with a warning."""
    return service.ProgramArea.of(settings_of(request))


Area: TypeAlias = NamedDependency[service.ProgramArea | None]


class SiteController(Controller):
    path = "/api/v1/sites"
    tags = ["registry"]
    dependencies = {
        "owner": Provide(provide_owner),
        "area": Provide(provide_program_area, sync_to_thread=False),
    }

    @get("")
    async def list_sites(self, db: Db, owner: SignedIn, area: Area) -> list[SiteOut]:
        return await service.list_sites(db, owner.id, area)

    @post("")
    async def create_site(self, db: Db, owner: SignedIn, area: Area, data: RequestBody[SiteIn]) -> SiteOut:
        """Saved even where the position looks wrong (0, 0, or outside the program's area): `position_warning`
        then says why."""
        return await service.create_site(db, owner.id, data, area)

    @get("/{site_id:uuid}")
    async def get_site(self, db: Db, owner: SignedIn, area: Area, site_id: FromPath[uuid.UUID]) -> SiteOut:
        return await service.get_site(db, owner.id, site_id, area)

    @patch("/{site_id:uuid}")
    async def update_site(
        self, db: Db, owner: SignedIn, area: Area, site_id: FromPath[uuid.UUID], data: RequestBody[SitePatch]
    ) -> SiteOut:
        return await service.update_site(db, owner.id, site_id, set_fields(data), area)

    @delete("/{site_id:uuid}")
    async def delete_site(self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID]) -> None:
        await service.delete_site(db, owner.id, site_id)

    @post("/{site_id:uuid}/cameras")
    async def create_camera(
        self, db: Db, owner: SignedIn, site_id: FromPath[uuid.UUID], data: RequestBody[CameraIn]
    ) -> CameraOut:
        return await service.create_camera(db, owner.id, site_id, data)


class CameraController(Controller):
    path = "/api/v1/cameras"
    tags = ["registry"]
    dependencies = {"owner": Provide(provide_owner)}

    @get("/{camera_id:uuid}")
    async def get_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> CameraOut:
        return await service.get_camera(db, owner.id, camera_id)

    @patch("/{camera_id:uuid}")
    async def update_camera(
        self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID], data: RequestBody[CameraPatch]
    ) -> CameraOut:
        return await service.update_camera(db, owner.id, camera_id, set_fields(data))

    @post("/{camera_id:uuid}/pause", status_code=200)
    async def pause_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> CameraOut:
        """Stop offering this camera to police until it is resumed."""
        return await service.set_camera_paused(db, owner.id, camera_id, paused=True)

    @post("/{camera_id:uuid}/resume", status_code=200)
    async def resume_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> CameraOut:
        return await service.set_camera_paused(db, owner.id, camera_id, paused=False)

    @delete("/{camera_id:uuid}")
    async def delete_camera(self, db: Db, owner: SignedIn, camera_id: FromPath[uuid.UUID]) -> None:
        await service.delete_camera(db, owner.id, camera_id)
