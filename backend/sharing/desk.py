"""The live desk's pages: the shares that are on now, one share's live video, and the agency's live-video audit.

Thin pages: who may see which share, and what the desk may do with it, is the sharing service's. The video itself
plays in the browser (pwa/static/live-desk.js) over WHEP; without scripts the pages still list the shares and the
buttons still work (they post and come back)."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from backend.requests.models import CustodyAction
from backend.sharing import service
from backend.sharing.schemas import DeskShareOut
from backend.web import Db, SignedIn, client_ip, provide_user

# What the desk may ask for (the owner decides; only their yes extends the share).
MORE_TIME_CHOICES = ((30, "+30 min"), (60, "+1 h"))
TRIGGER_LABELS = {"app": "Started by the owner in the app", "button": "Started by the panic button"}
ACTION_LABELS = {
    CustodyAction.LIVE_VIEW.value: "Opened live video",
    CustodyAction.LIVE_ACKNOWLEDGED.value: "Told the owner they are watching",
    CustodyAction.LIVE_MORE_TIME.value: "Asked for more time",
}


def _context(user: SignedIn, **values: object) -> dict[str, object]:
    return {"time_zone": user.time_zone, "trigger_labels": TRIGGER_LABELS, **values}


def _share_page(user: SignedIn, share: DeskShareOut, said: str = "") -> Template:
    return Template(
        "live/share.html",
        context=_context(user, share=share, more_time_choices=MORE_TIME_CHOICES, said=said),
    )


class LiveDeskPages(Controller):
    """The live desk console (a desktop browser). Anyone but a live desk operator gets the 403 page."""

    path = "/live"
    include_in_schema = False
    dependencies = {"user": provide_user}  # noqa: RUF012

    @get("/")
    async def shares(self, db: Db, user: SignedIn) -> Template:
        shares = await service.desk_shares(db, user)
        return Template("live/desk.html", context=_context(user, shares=shares))

    @get("/audit")
    async def audit(self, db: Db, user: SignedIn) -> Template:
        events = await service.agency_audit(db, user)
        return Template("live/audit.html", context=_context(user, events=events, action_labels=ACTION_LABELS))

    @get("/{share_id:uuid}")
    async def share(self, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID], said: FromQuery[str] = "") -> Template:
        return _share_page(user, await service.desk_share(db, user, share_id), said)

    @post("/{share_id:uuid}/acknowledge")
    async def acknowledge(self, request: Request, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID]) -> Redirect:
        await service.acknowledge(db, user, share_id, client_ip(request))
        await db.commit()
        return Redirect(f"/live/{share_id}?said=watching")

    @post("/{share_id:uuid}/more-time")
    async def more_time(self, request: Request, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID]) -> Redirect:
        form = await request.form()
        minutes = {str(value): value for value, _ in MORE_TIME_CHOICES}.get(str(form.get("minutes", "")), 30)
        await service.ask_more_time(db, user, share_id, minutes, client_ip(request))
        await db.commit()
        return Redirect(f"/live/{share_id}?said=more-time")
