"""The coordinator's home: which district they coordinate and what Porchlight does for them so far."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from backend.districts import service
from backend.web import Db, SignedIn, provide_coordinator


class DistrictPages(Controller):
    include_in_schema = False
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get("/district")
    async def home(self, db: Db, coordinator: SignedIn) -> Template:
        return Template("districts/home.html", context={"district": await service.district_name(db, coordinator)})
