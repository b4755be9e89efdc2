"""Announcements and membership, pages and API: the coordinator writes to the district's members; a member reads
an announcement, sees what their district sees of them, and leaves. Thin: every rule is in districts.announcements
(announcements) and districts.membership (the member's districts, leaving)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, RequestBody, URLEncodedBody
from litestar.response import Redirect, Template

from backend.accounts.models import User
from backend.districts import announcements as service
from backend.districts import membership
from backend.districts.announcements import (
    AnnouncementIn,
    AnnouncementLimitReached,
    AnnouncementList,
    AnnouncementOut,
    AudienceOut,
)
from backend.districts.membership import MyDistrictOut
from backend.districts.models import ANNOUNCEMENT_BODY_MAX, ANNOUNCEMENT_TITLE_MAX
from backend.errors import InvalidInput
from backend.validation import labels, parse_form
from backend.web import Db, SignedIn, provide_coordinator, provide_owner

Form = URLEncodedBody[dict[str, Any]]
LIST = "/district/announcements"


async def _announcements_page(
    db: Db,
    coordinator: User,
    before: uuid.UUID | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    sent: AnnouncementOut | None = None,
    status_code: int = 200,
) -> Template:
    context = {
        "announcements": await service.list_announcements(db, coordinator, before),
        "audiences": await service.audiences(db, coordinator),
        "values": values or {"audience": "all"},
        "errors": errors or {},
        "labels": labels(AnnouncementIn),
        "title_max": ANNOUNCEMENT_TITLE_MAX,
        "body_max": ANNOUNCEMENT_BODY_MAX,
        "sent": sent,
        "before": before,
        "time_zone": coordinator.time_zone,
    }
    return Template("districts/announcements.html", context=context, status_code=status_code)


class AnnouncementPages(Controller):
    """The coordinator's announcements: the form (with how many members each audience reaches) and those sent."""

    include_in_schema = False
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get(LIST)
    async def announcements(
        self,
        db: Db,
        coordinator: SignedIn,
        before: FromQuery[uuid.UUID | None] = None,
        sent: FromQuery[uuid.UUID | None] = None,
    ) -> Template:
        done = await service.get_announcement(db, coordinator, sent) if sent else None
        return await _announcements_page(db, coordinator, before, sent=done)

    @post(LIST)
    async def send(self, db: Db, coordinator: SignedIn, data: Form) -> Template | Redirect:
        values = {k: v for k, v in data.items() if k != "_csrf_token"}
        # A browser sends a textarea's line breaks as CR LF; its maxlength counted each as one character.
        if isinstance(values.get("body"), str):
            values["body"] = values["body"].replace("\r\n", "\n")
        try:
            sent = await service.send_announcement(db, coordinator, parse_form(AnnouncementIn, values))
        except InvalidInput as exc:
            return await _announcements_page(db, coordinator, values=values, errors=exc.errors, status_code=400)
        except AnnouncementLimitReached as exc:
            errors = {"send": exc.detail}
            return await _announcements_page(db, coordinator, values=values, errors=errors, status_code=429)
        return Redirect(f"{LIST}?sent={sent.id}")

    @get(LIST + "/{announcement_id:uuid}")
    async def announcement(self, db: Db, coordinator: SignedIn, announcement_id: FromPath[uuid.UUID]) -> Template:
        found = await service.get_announcement(db, coordinator, announcement_id)
        return Template(
            "districts/announcement_sent.html", context={"announcement": found, "time_zone": coordinator.time_zone}
        )


class MemberDistrictPages(Controller):
    """A member's side: one announcement they received, and leaving a district (its confirmation first)."""

    include_in_schema = False
    dependencies = {"owner": provide_owner}  # noqa: RUF012

    @get("/announcements/{announcement_id:uuid}")
    async def announcement(self, db: Db, owner: SignedIn, announcement_id: FromPath[uuid.UUID]) -> Template:
        found = await service.open_announcement(db, owner, announcement_id)
        return Template("districts/announcement.html", context={"announcement": found, "time_zone": owner.time_zone})

    @get("/account/districts/{district_id:uuid}/leave")
    async def confirm_leave(self, db: Db, owner: SignedIn, district_id: FromPath[uuid.UUID]) -> Template:
        district = await membership.membership_of(db, owner, district_id)
        return Template("districts/leave.html", context={"district": district})

    @post("/account/districts/{district_id:uuid}/leave")
    async def leave(self, db: Db, owner: SignedIn, district_id: FromPath[uuid.UUID]) -> Redirect:
        await membership.leave_district(db, owner, district_id)
        return Redirect("/account?left_district=1#district-heading")


class AnnouncementApi(Controller):
    """A coordinator's announcements to their district's joined members."""

    path = "/api/v1/district/announcements"
    tags = ["districts"]  # noqa: RUF012
    dependencies = {"coordinator": provide_coordinator}  # noqa: RUF012

    @get("")
    async def list_announcements(
        self, db: Db, coordinator: SignedIn, before: FromQuery[uuid.UUID | None] = None
    ) -> AnnouncementList:
        """Newest first, with recipients, delivered (members at least one of whose devices' push services accepted
        the push) and read (members who opened it). `before`: the previous page's `next_before`."""
        return await service.list_announcements(db, coordinator, before)

    @post("")
    async def send(self, db: Db, coordinator: SignedIn, data: RequestBody[AnnouncementIn]) -> AnnouncementOut:
        """Send to the audience's joined members, in-app and by push. At most 3 per district in 24 hours (429 with
        Retry-After); an audience nobody is in is refused (400)."""
        return await service.send_announcement(db, coordinator, data)

    @get("/audiences")
    async def audiences(self, db: Db, coordinator: SignedIn) -> list[AudienceOut]:
        """How many joined members each audience reaches now."""
        return await service.audiences(db, coordinator)

    @get("/{announcement_id:uuid}")
    async def get_announcement(
        self, db: Db, coordinator: SignedIn, announcement_id: FromPath[uuid.UUID]
    ) -> AnnouncementOut:
        return await service.get_announcement(db, coordinator, announcement_id)


class MembershipApi(Controller):
    """The districts an owner is a member of, what each sees of them, and leaving."""

    path = "/api/v1/me/districts"
    tags = ["districts"]  # noqa: RUF012
    dependencies = {"owner": provide_owner}  # noqa: RUF012

    @get("")
    async def my_districts(self, db: Db, owner: SignedIn) -> list[MyDistrictOut]:
        """Each district (joined, or pending its coordinator's approval) and what it sees of you."""
        return await membership.my_districts(db, owner)

    @delete("/{district_id:uuid}")
    async def leave(self, db: Db, owner: SignedIn, district_id: FromPath[uuid.UUID]) -> None:
        """Leave the district (or withdraw a pending membership): it then sees "left" and nothing more, your sites
        are no longer part of it, and you get none of its announcements."""
        await membership.leave_district(db, owner, district_id)
