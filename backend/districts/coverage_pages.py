"""The coordinator's coverage: the page (/district/coverage) and its JSON twin (/api/v1/district/coverage). Thin."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter
from litestar.response import Template

from backend.districts import coverage
from backend.districts.coverage import Coverage
from backend.web import Db, SignedIn, provide_coordinator

Cursor = Annotated[str | None, QueryParameter(max_length=1000, description="`next_cursor` of the page before")]


class CoveragePages(Controller):
    include_in_schema = False
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get("/district/coverage")
    async def coverage(self, db: Db, coordinator: SignedIn, after: Cursor = None) -> Template:
        found = await coverage.district_coverage(db, coordinator, after)
        context = {"coverage": found, "blocks": coverage.blocks_of(found.cameras), "first_page": after is None}
        return Template("districts/coverage.html", context=context)


class CoverageApi(Controller):
    path = "/api/v1/district/coverage"
    tags = ["districts"]  # noqa: RUF012
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get("/")
    async def coverage(
        self,
        db: Db,
        coordinator: SignedIn,
        after: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=coverage.PAGE_MAX, description="Cameras per page")] = (
            coverage.PAGE_SIZE
        ),
    ) -> Coverage:
        """The coordinator's district: totals, devices and cameras offline now (counts), blocks with no
        outward-facing camera (where to recruit), and a page of registered cameras of joined members with their
        view, by street and block. No footage, no owner's contact details."""
        return await coverage.district_coverage(db, coordinator, after, limit)
