"""The coordinator's pages: their district's home, the roster with its onboarding funnel, one member, the CSV import
and export. Thin: every rule is in the districts service and the roster import."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from backend.districts import invites, roster_import, service
from backend.districts.models import MemberStatus
from backend.districts.schemas import MemberIn
from backend.errors import Conflict, Gone, InvalidInput, NotFound
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_coordinator, settings_of

Form = URLEncodedBody[dict[str, Any]]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

STATUS_LABELS = {
    MemberStatus.LISTED: "Listed",
    MemberStatus.PENDING: "Pending approval",
    MemberStatus.JOINED: "Joined",
    MemberStatus.LEFT: "Left",
}
SAVED = {
    "added": "Member added. Invite them when you are ready: adding sends nothing.",
    "member": "Saved.",
}


def _choice(enum_type: type, value: str) -> Any:
    """A filter's value from the query, None when empty or not one of the choices (a stale bookmark shows all)."""
    try:
        return enum_type(value) if value else None
    except ValueError:
        return None


def _form(member: service.RosterRow | None, values: dict[str, Any], errors: dict[str, str] | None = None) -> Template:
    return Template(
        "districts/member_form.html",
        context={"row": member, "values": values, "errors": errors or {}},
        status_code=400 if errors else 200,
    )


def _values(form: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k != "_csrf_token"}


def _member_page(
    request: Request, row: service.RosterRow, saved: str = "", problem: str = "", status_code: int = 200
) -> Template:
    return Template(
        "districts/member.html",
        context={
            "row": row, "member": row.member, "invite": invites.invite_out(row.member, settings_of(request)),
            "step_labels": service.STEP_LABELS, "status_labels": STATUS_LABELS,
            "time_zone": request.state.viewer.time_zone, "saved": SAVED.get(saved, ""), "problem": problem,
        },
        status_code=status_code,
    )  # fmt: skip


class DistrictPages(Controller):
    include_in_schema = False
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get("/district")
    async def home(self, db: Db, coordinator: SignedIn) -> Template:
        try:
            totals = await service.totals(db, coordinator)
        except NotFound:
            totals = None
        return Template("districts/home.html", context={"totals": totals, "no_district": service.NO_DISTRICT})

    @get("/district/members")
    async def members(
        self,
        request: Request,
        db: Db,
        coordinator: SignedIn,
        status: FromQuery[str] = "",
        missing: FromQuery[str] = "",
        nudge: FromQuery[str] = "",
        q: FromQuery[str] = "",
        after: FromQuery[str] = "",
    ) -> Template:
        roster_filter = service.RosterFilter(
            status=_choice(MemberStatus, status), missing=_choice(service.Step, missing), nudge=nudge == "1",
            search=q[:200],
        )  # fmt: skip
        try:
            page = await service.roster_page(db, coordinator, roster_filter, after=after or None)
        except InvalidInput:  # a cursor not made here: the first page
            page = await service.roster_page(db, coordinator, roster_filter)
        totals = await service.totals(db, coordinator)
        return Template(
            "districts/members.html",
            context={
                "page": page, "totals": totals, "filter": roster_filter, "step_labels": service.STEP_LABELS,
                "status_labels": STATUS_LABELS, "time_zone": coordinator.time_zone, "first_page": not after,
                "removed": request.query_params.get("removed", ""),
            },
        )  # fmt: skip

    @get("/district/members.csv", media_type="text/csv")
    async def export(self, db: Db, coordinator: SignedIn) -> Response[str]:
        text, file_name = await service.roster_csv(db, coordinator)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
        )

    @get("/district/members/new")
    async def new_member_form(self, db: Db, coordinator: SignedIn) -> Template:
        await service.coordinated_district(db, coordinator)
        return _form(None, {})

    @post("/district/members/new")
    async def add_member(self, db: Db, coordinator: SignedIn, data: Form) -> Template | Redirect:
        try:
            row = await service.add_member(db, coordinator, parse_form(MemberIn, data))
        except InvalidInput as exc:
            return _form(None, _values(data), exc.errors)
        return Redirect(f"/district/members/{row.member.id}?saved=added")

    @get("/district/members/{member_id:uuid}")
    async def member(
        self,
        request: Request,
        db: Db,
        coordinator: SignedIn,
        member_id: FromPath[uuid.UUID],
        saved: FromQuery[str] = "",
    ) -> Template:
        return _member_page(request, await service.roster_row(db, coordinator, member_id), saved)

    @get("/district/members/{member_id:uuid}/edit")
    async def edit_member_form(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Template:
        row = await service.roster_row(db, coordinator, member_id)
        return _form(row, {name: getattr(row.member, name) for name in service.MEMBER_FIELDS})

    @post("/district/members/{member_id:uuid}/edit")
    async def update_member(
        self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        row = await service.roster_row(db, coordinator, member_id)  # another district's member: 404
        try:
            changes = msgspec.structs.asdict(parse_form(MemberIn, data))  # every field: the form has them all
            await service.update_member(db, coordinator, member_id, changes)
        except InvalidInput as exc:
            return _form(row, _values(data), exc.errors)
        return Redirect(f"/district/members/{member_id}?saved=member")

    @post("/district/members/{member_id:uuid}/remove")
    async def remove_member(
        self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        try:
            name = await service.remove_member(db, coordinator, member_id)
        except Conflict as exc:
            row = await service.roster_row(db, coordinator, member_id)
            return _member_page(request, row, problem=exc.detail, status_code=409)
        return Redirect(f"/district/members?removed={quote(name)}")

    @get("/district/import")
    async def import_form(
        self,
        db: Db,
        coordinator: SignedIn,
        added: FromQuery[int | None] = None,
        updated: FromQuery[int] = 0,
        duplicate: FromQuery[int] = 0,
        invalid: FromQuery[int] = 0,
    ) -> Template:
        await service.coordinated_district(db, coordinator)
        result = None if added is None else roster_import.ImportResult(added, updated, duplicate, invalid)
        return _import_page(result=result)

    @post("/district/import", request_max_body_size=roster_import.UPLOAD_BODY_MAX)
    async def preview_import(self, db: Db, coordinator: SignedIn, data: Upload) -> Template:
        upload = data.get(roster_import.FIELD)
        content = await upload.read(roster_import.MAX_BYTES + 1) if isinstance(upload, UploadFile) else None
        try:
            preview = await roster_import.preview(db, coordinator, content)
        except InvalidInput as exc:
            return _import_page(errors=exc.errors, status_code=400)
        name = upload.filename if isinstance(upload, UploadFile) else ""
        return _import_page(preview=preview, file_name=name)

    @post("/district/import/{import_id:str}/confirm")
    async def confirm_import(self, db: Db, coordinator: SignedIn, import_id: FromPath[str]) -> Template | Redirect:
        await service.coordinated_district(db, coordinator)  # no district: its own page, not the import's message
        try:
            result = await roster_import.confirm(db, coordinator, import_id)
        except (NotFound, Gone, Conflict) as exc:
            return _import_page(errors={roster_import.FIELD: exc.detail}, status_code=exc.status_code)
        return Redirect(
            f"/district/import?added={result.added}&updated={result.updated}&duplicate={result.duplicate}"
            f"&invalid={result.invalid}"
        )


def _import_page(
    preview: roster_import.Preview | None = None,
    file_name: str = "",
    result: roster_import.ImportResult | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        "districts/import.html",
        context={
            "preview": preview, "file_name": file_name, "result": result, "errors": errors or {},
            "verdict_labels": roster_import.VERDICT_LABELS, "field_labels": roster_import.FIELD_LABELS,
            "max_rows": roster_import.MAX_ROWS,
        },
        status_code=status_code,
    )  # fmt: skip
