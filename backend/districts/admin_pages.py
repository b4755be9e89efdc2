"""Administrators' district pages (/admin/districts): the list with each district's coordinators, a new district,
and a district's name and boundary. Thin: each handler calls one function of backend.districts.admin."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from backend.accounts import service as accounts
from backend.accounts.schemas import CoordinatorAccountIn
from backend.districts import admin as service
from backend.errors import InvalidInput
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_admin

Form = URLEncodedBody[dict[str, Any]]


def _values(data: dict[str, Any]) -> dict[str, str]:
    """The form's two fields as typed (a repeated field counts as its first value)."""
    values = {}
    for name in ("name", "boundary"):
        value = data.get(name, "")
        values[name] = str(value[0] if isinstance(value, list) and value else value or "")
    return values


class DistrictAdminPages(Controller):
    include_in_schema = False
    dependencies = {"admin": provide_admin}  # noqa: RUF012

    @staticmethod
    async def _list(db: Db, values: dict[str, str], errors: dict[str, str] | None = None) -> Template:
        context = {
            "districts": await service.list_districts(db), "values": values, "errors": errors or {},
            "boundary_max": service.BOUNDARY_TEXT_MAX, "vertices_max": service.BOUNDARY_MAX_VERTICES,
        }  # fmt: skip
        return Template("districts/admin_districts.html", context=context, status_code=400 if errors else 200)

    @staticmethod
    async def _edit(
        db: Db, district_id: uuid.UUID, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
        coordinator: dict[str, str] | None = None, coordinator_errors: dict[str, str] | None = None,
    ) -> Template:  # fmt: skip
        district = await service.district_summary(db, district_id)
        if values is None:
            stored = await service.get_district(db, district_id)
            values = {"name": stored.name, "boundary": service.boundary_text(stored.boundary)}
        context = {
            "district": district, "values": values, "errors": errors or {},
            "coordinator": coordinator or {}, "coordinator_errors": coordinator_errors or {},
            "boundary_max": service.BOUNDARY_TEXT_MAX, "vertices_max": service.BOUNDARY_MAX_VERTICES,
        }  # fmt: skip
        failed = errors or coordinator_errors
        return Template("districts/admin_district.html", context=context, status_code=400 if failed else 200)

    @get("/admin/districts")
    async def districts(self, db: Db, admin: SignedIn) -> Template:
        return await self._list(db, {})

    @post("/admin/districts")
    async def create(self, db: Db, admin: SignedIn, data: Form) -> Template | Redirect:
        values = _values(data)
        try:
            district = await service.create_district(db, values["name"], values["boundary"])
        except InvalidInput as exc:
            return await self._list(db, values, exc.errors)
        return Redirect(f"/admin/districts/{district.id}?{urlencode({'created': district.name})}")

    @get("/admin/districts/{district_id:uuid}")
    async def district(self, db: Db, admin: SignedIn, district_id: FromPath[uuid.UUID]) -> Template:
        return await self._edit(db, district_id)

    @post("/admin/districts/{district_id:uuid}")
    async def update(
        self, db: Db, admin: SignedIn, district_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        values = _values(data)
        try:
            district = await service.update_district(db, district_id, values["name"], values["boundary"])
        except InvalidInput as exc:
            return await self._edit(db, district_id, values, exc.errors)
        return Redirect(f"/admin/districts?{urlencode({'saved': district.name})}")

    @post("/admin/districts/{district_id:uuid}/coordinators")
    async def add_coordinator(
        self, db: Db, admin: SignedIn, district_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        """A coordinator of this district, with a first password the administrator gives them in person."""
        district = await service.get_district(db, district_id)
        try:
            account = parse_form(CoordinatorAccountIn, data)
            user = await accounts.create_coordinator_account(db, admin, district, account)
        except InvalidInput as exc:
            typed = {name: str(data.get(name, "")) for name in ("email", "display_name")}
            return await self._edit(db, district_id, coordinator=typed, coordinator_errors=exc.errors)
        return Redirect(f"/admin/districts/{district_id}?{urlencode({'coordinator': user.email})}")
