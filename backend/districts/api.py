"""JSON API of a district's coordinator: their district's totals, its roster and the roster's CSV import."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.params import FromPath, Parameter, RequestBody

from backend.districts import roster_import, service
from backend.districts.models import MemberStatus
from backend.districts.schemas import (
    DistrictOut,
    ImportPreviewOut,
    ImportResultOut,
    ImportRowOut,
    MemberIn,
    MemberOut,
    MemberPage,
    MemberPatch,
    StepOut,
    StepTotal,
)
from backend.validation import set_fields
from backend.web import Db, SignedIn, provide_coordinator


def member_out(row: service.RosterRow) -> MemberOut:
    member = row.member
    furthest = row.furthest
    return MemberOut(
        id=member.id, business_name=member.business_name, contact_name=member.contact_name, email=member.email,
        phone=member.phone, address=member.address, latitude=member.latitude, longitude=member.longitude,
        status=MemberStatus(member.status), source=member.source,  # type: ignore[arg-type]
        steps=[StepOut(step=s.value, label=service.STEP_LABELS[s], reached_at=at) for s, at in row.steps.items()],
        furthest_step=furthest[0].value if furthest else None, needs_nudge=row.needs_nudge,
        invited_at=member.invited_at, invite_expires_at=member.invite_expires_at, joined_at=member.joined_at,
        left_at=member.left_at, created_at=member.created_at,
    )  # fmt: skip


def district_out(totals: service.Totals) -> DistrictOut:
    return DistrictOut(
        name=totals.district,
        members=totals.members,
        by_status={status.value: count for status, count in totals.by_status.items()},
        needs_nudge=totals.needs_nudge,
        steps=[StepTotal(step=s.step.value, label=s.label, reached=s.reached) for s in totals.steps],
    )


def preview_out(found: roster_import.Preview) -> ImportPreviewOut:
    return ImportPreviewOut(
        import_id=found.import_id,
        expires_at=found.expires_at,
        counts={verdict.value: count for verdict, count in found.counts.items()},
        ignored_columns=found.ignored_columns,
        rows=[
            ImportRowOut(
                line=row.line,
                verdict=row.verdict.value,
                business_name=row.business_name,
                reason=row.reason,
                changed_fields=row.changed,
                formula_fields=row.formulas,
            )  # fmt: skip
            for row in found.rows
        ],
    )


async def uploaded_csv(request: Request) -> bytes | None:
    """The CSV of an import: the `file` field of a multipart form, or the whole body sent as text/csv; read up to
    one byte past the limit, so a larger file is told so without being read whole."""
    if request.content_type[0].startswith(("multipart/", "application/x-www-form-urlencoded")):
        upload = (await request.form()).get(roster_import.FIELD)
        if not isinstance(upload, UploadFile):
            return None
        return await upload.read(roster_import.MAX_BYTES + 1)
    body = await request.body()
    return body or None


class DistrictApi(Controller):
    path = "/api/v1/district"
    tags = ["districts"]
    dependencies = {"coordinator": Provide(provide_coordinator)}

    @get("", summary="The coordinator's district: its members' onboarding funnel as totals")
    async def district(self, db: Db, coordinator: SignedIn) -> DistrictOut:
        return district_out(await service.totals(db, coordinator))

    @get("/members", summary="The roster, in business-name order, a page at a time")
    async def members(
        self,
        db: Db,
        coordinator: SignedIn,
        after: Annotated[str | None, Parameter(description="The `next` of the previous page")] = None,
        limit: Annotated[int, Parameter(ge=1, le=service.PAGE_SIZE)] = service.PAGE_SIZE,
        status: Annotated[MemberStatus | None, Parameter(description="Only members with this status")] = None,
        missing: Annotated[service.Step | None, Parameter(description="Only members who have not reached it")] = None,
        nudge: Annotated[bool, Parameter(description="Only members who need a reminder")] = False,
        q: Annotated[str, Parameter(max_length=200, description="Business name contains")] = "",
    ) -> MemberPage:
        roster_filter = service.RosterFilter(status=status, missing=missing, nudge=nudge, search=q)
        page = await service.roster_page(db, coordinator, roster_filter, after=after, limit=limit)
        return MemberPage(members=[member_out(row) for row in page.rows], next=page.next_cursor)

    @post("/members", summary="Add a member by hand (listed: no invite is sent)")
    async def add_member(self, db: Db, coordinator: SignedIn, data: RequestBody[MemberIn]) -> MemberOut:
        return member_out(await service.add_member(db, coordinator, data))

    @get("/members/{member_id:uuid}", summary="One member and the date of each funnel step")
    async def member(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> MemberOut:
        return member_out(await service.roster_row(db, coordinator, member_id))

    @patch("/members/{member_id:uuid}", summary="Correct what the district knows of a member")
    async def update_member(
        self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID], data: RequestBody[MemberPatch]
    ) -> MemberOut:
        return member_out(await service.update_member(db, coordinator, member_id, set_fields(data)))

    @delete("/members/{member_id:uuid}", summary="Remove a member who has not joined (409 for a joined member)")
    async def remove_member(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> None:
        await service.remove_member(db, coordinator, member_id)

    @post(
        "/import/preview",
        status_code=200,
        request_max_body_size=roster_import.UPLOAD_BODY_MAX,
        summary="Preview a roster CSV: each row's verdict; nothing is saved to the roster",
        description=(
            "Send the CSV as the `file` field of a multipart/form-data body, or as the whole body with "
            "Content-Type: text/csv. UTF-8 (with or without a byte order mark), at most 2 MB and 5,000 rows; the "
            "first row names the columns (Business name is required). Confirm within an hour with the `import_id`."
        ),
    )
    async def preview_import(self, request: Request, db: Db, coordinator: SignedIn) -> ImportPreviewOut:
        content = await uploaded_csv(request)
        return preview_out(await roster_import.preview(db, coordinator, content))

    @post("/import/{import_id:str}/confirm", status_code=200, summary="Import a previewed CSV (no invite is sent)")
    async def confirm_import(self, db: Db, coordinator: SignedIn, import_id: FromPath[str]) -> ImportResultOut:
        result = await roster_import.confirm(db, coordinator, import_id)
        return ImportResultOut(
            added=result.added, updated=result.updated, duplicate=result.duplicate, invalid=result.invalid
        )
