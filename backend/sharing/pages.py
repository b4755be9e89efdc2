"""The owner's share-now pages: start a share in two taps, watch its countdown and who is watching, extend, answer
the live desk, stop; the summary afterwards and the list of past shares. Thin: every rule is in the service."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.errors import Conflict, InvalidInput, NotFound
from backend.sharing import service
from backend.sharing.api import policy_of
from backend.sharing.schemas import DURATION_CHOICES, ExtendIn, ShareIn, ShareOut
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_owner

Form = URLEncodedBody[dict[str, Any]]

DEFAULT_MINUTES = 30
EXTEND_CHOICES = (15, 30)
RECENT_ON_FORM = 3
NOTICES = {
    "started": "Sharing started. The live desk can see your cameras now.",
    "extended": "More time given.",
    "yes": "You gave the live desk more time.",
    "no": "You said no. The share still ends at the time shown.",
    "stopped": "Sharing stopped. Nobody can see your cameras any more.",
}


def clock(seconds: int) -> str:
    """A countdown as a phone's timer shows it: 4:05, 1:02:09."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def is_over(share: ShareOut) -> bool:
    """Ended, or its time ran out and the sweeper has not closed it yet."""
    return share.state == "ended" or share.seconds_left <= 0


def durations(policy: service.SharePolicy) -> list[tuple[str, str]]:
    """The duration choices, never above the program's cap."""
    allowed = [m for m in DURATION_CHOICES if m <= policy.max_minutes] or [policy.max_minutes]
    return [(str(m), service.minutes_label(m)) for m in allowed]


async def open_share(db: AsyncSession, owner_id: uuid.UUID, policy: service.SharePolicy) -> ShareOut | None:
    """The owner's share that is on now, for a banner ("Sharing live: 24 min left — Open")."""
    share_id = await service.open_share_of(db, owner_id)
    return await service.get_share(db, owner_id, share_id, policy) if share_id else None


def _form_values(form: dict[str, Any]) -> dict[str, Any]:
    """The posted form as the service reads it: camera_ids is always a list (one ticked box arrives as text)."""
    values = {k: v for k, v in form.items() if k != "_csrf_token"}
    cameras = values.get("camera_ids", [])
    values["camera_ids"] = [c for c in ([cameras] if isinstance(cameras, str) else cameras) if c]
    return values


class SharePages(Controller):
    include_in_schema = False
    dependencies = {"owner": provide_owner}

    async def _form(
        self,
        request: Request,
        db: Db,
        owner: User,
        values: dict[str, Any],
        errors: dict[str, str] | None = None,
        problem: str = "",
        status: int = 400,
    ) -> Template:
        policy = policy_of(request)
        sites = await service.shareable(db, owner.id)
        ready = [s for s in sites if s.cameras and not s.open_share_id]
        choices = durations(policy)
        defaults: dict[str, Any] = {
            "minutes": str(DEFAULT_MINUTES) if str(DEFAULT_MINUTES) in dict(choices) else choices[-1][0],
            "camera_ids": [],
            "note": "",
        }
        if len(ready) == 1:  # one site to share: no choice to make, one tap to start
            defaults["site_id"] = str(ready[0].id)
        values = {**defaults, **values}
        past = await service.owner_shares(db, owner.id, policy, limit=RECENT_ON_FORM)
        open_id = await service.open_share_of(db, owner.id) if problem else None
        return Template(
            "sharing/start.html",
            context={
                "sites": sites,
                "ready": ready,
                "values": values,
                "errors": errors or {},
                "problem": problem,
                "open_share_id": open_id,
                "durations": choices,
                "max_label": service.minutes_label(policy.max_minutes),
                "past": past,
                "time_zone": owner.time_zone,
            },
            status_code=status if errors or problem else 200,
        )

    @get("/share")
    async def share_form(self, request: Request, db: Db, owner: SignedIn) -> Template | Redirect:
        """The "Share now" screen; while a share is on, that share."""
        if (share_id := await service.open_share_of(db, owner.id)) is not None:
            return Redirect(f"/share/{share_id}")
        return await self._form(request, db, owner, {})

    @post("/share")
    async def start(self, request: Request, db: Db, owner: SignedIn, data: Form) -> Template | Redirect:
        values = _form_values(data)
        try:
            share = await service.start_share(db, owner.id, parse_form(ShareIn, values), policy_of(request))
        except InvalidInput as exc:
            return await self._form(request, db, owner, values, exc.errors)
        except NotFound:
            field = "camera_ids" if values["camera_ids"] else "site_id"
            message = "That camera is not one of yours." if field == "camera_ids" else "That site is not one of yours."
            return await self._form(request, db, owner, values, {field: message}, status=404)
        except Conflict as exc:
            return await self._form(request, db, owner, values, problem=exc.detail, status=409)
        await db.commit()
        return Redirect(f"/share/{share.id}?done=started")

    @get("/share/history")
    async def history(self, request: Request, db: Db, owner: SignedIn) -> Template:
        shares = await service.owner_shares(db, owner.id, policy_of(request))
        return Template("sharing/history.html", context={"shares": shares, "time_zone": owner.time_zone})

    async def _share_page(
        self,
        request: Request,
        db: Db,
        owner: User,
        share_id: uuid.UUID,
        notice: str = "",
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        policy = policy_of(request)
        share = await service.get_share(db, owner.id, share_id, policy)  # another owner's share is a 404
        ended_at = share.ended_at or (share.ends_at if is_over(share) else None)
        return Template(
            "sharing/share.html",
            context={
                "share": share,
                "over": is_over(share),
                "ended_at": ended_at,
                "lasted_s": ((ended_at or share.ends_at) - share.started_at).total_seconds(),
                "clock": clock(share.seconds_left),
                "extend_choices": EXTEND_CHOICES,
                "max_label": service.minutes_label(policy.max_minutes),
                "minutes_label": service.minutes_label,
                "notice": notice,
                "errors": errors or {},
                "time_zone": owner.time_zone,
            },
            status_code=status,
        )

    @get("/share/{share_id:uuid}")
    async def share(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID], done: FromQuery[str] = ""
    ) -> Template:
        return await self._share_page(request, db, owner, share_id, NOTICES.get(done, ""))

    async def _act(
        self, request: Request, db: Db, owner: User, share_id: uuid.UUID, action: Awaitable[object], done: str
    ) -> Template | Redirect:
        """Run one owner action on a share; a refusal comes back on the share page, beside what it concerns."""
        try:
            await action
        except InvalidInput as exc:
            return await self._share_page(request, db, owner, share_id, errors=exc.errors, status=400)
        except Conflict as exc:
            return await self._share_page(request, db, owner, share_id, errors={"share": exc.detail}, status=409)
        await db.commit()
        return Redirect(f"/share/{share_id}?done={done}")

    @post("/share/{share_id:uuid}/stop")
    async def stop(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        return await self._act(request, db, owner, share_id, service.stop_share(db, owner.id, share_id), "stopped")

    @post("/share/{share_id:uuid}/extend")
    async def extend(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        try:
            minutes = parse_form(ExtendIn, data).minutes
        except InvalidInput as exc:
            return await self._share_page(request, db, owner, share_id, errors=exc.errors, status=400)
        extending = service.extend_share(db, owner.id, share_id, minutes, policy_of(request))
        return await self._act(request, db, owner, share_id, extending, "extended")

    @post("/share/{share_id:uuid}/answer")
    async def answer(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        approve = data.get("approve") == "yes"
        answering = service.answer_extension(db, owner.id, share_id, approve, policy_of(request))
        return await self._act(request, db, owner, share_id, answering, "yes" if approve else "no")
