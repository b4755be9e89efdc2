"""Invites on the web and in the API: the coordinator's actions (send, nudge, revoke, posters, the district-wide
link and its pending members), the join pages an invite link opens, and the owner's sites right after joining.
Thin: every rule is in backend.districts.invites (and the registry's service for sites)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, RequestBody, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.districts import invites
from backend.districts.invite_schemas import InviteOut, JoinIn, JoinLinkAction, JoinLinkChange, JoinLinkOut, JoinOut
from backend.errors import InvalidInput, NotFound, ServiceError
from backend.registry import service as registry
from backend.settings import Settings
from backend.validation import labels
from backend.web import Db, SignedIn, Viewer, provide_coordinator, provide_owner, provide_viewer, settings_of

Form = URLEncodedBody[dict[str, Any]]
JOIN_LABELS = labels(JoinIn)
LINK_BACK = ("/district/join-link", "Back to the district link")
T = TypeVar("T")
# An invite action on one member: (db, settings, coordinator, member id) -> its invite.
MemberAction = Callable[[AsyncSession, Settings, User, uuid.UUID], Awaitable[InviteOut]]


def _refused(exc: ServiceError, back: str, back_label: str) -> Template:
    """An action the coordinator cannot take now, and why (the rate limit says when it can be taken again)."""
    detail = " ".join(exc.errors.values()) if isinstance(exc, InvalidInput) else exc.detail
    headers = exc.headers
    return Template(
        "districts/invite_refused.html",
        context={"title": exc.title, "detail": detail, "back": back, "back_label": back_label},
        status_code=exc.status_code,
        headers=headers,
    )


async def _or_refused(action: Awaitable[T], then: Callable[[T], Any], back: str, back_label: str) -> Any:
    """What follows the coordinator's action, or the page that says why it cannot be taken now (another district's
    member stays a 404)."""
    try:
        result = await action
    except NotFound:
        raise
    except ServiceError as exc:
        return _refused(exc, back, back_label)
    return then(result)


def _member_path(member_id: uuid.UUID, done: str = "") -> str:
    return f"/district/members/{member_id}" + (f"?invite={done}" if done else "")


async def _on_member(
    request: Request, db: Db, coordinator: SignedIn, member_id: uuid.UUID, action: MemberAction, then: str
) -> Any:
    """The invite action on the member, then to `then`; refused: the page says why."""
    done = action(db, settings_of(request), coordinator, member_id)
    return await _or_refused(done, lambda _: Redirect(then), _member_path(member_id), "Back to the member")


def _svg_file(name: str, content: bytes) -> Response[bytes]:
    return Response(
        content, media_type="image/svg+xml", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class InvitePages(Controller):
    """The coordinator's invite actions. Each is scoped to their district: another district's member is a 404."""

    include_in_schema = False
    dependencies = {"coordinator": Provide(provide_coordinator)}  # noqa: RUF012

    @post("/district/members/{member_id:uuid}/invite")
    async def send(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Any:
        then = _member_path(member_id, "sent")
        return await _on_member(request, db, coordinator, member_id, invites.send_invite, then)

    @post("/district/members/{member_id:uuid}/nudge")
    async def nudge(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Any:
        then = _member_path(member_id, "nudged")
        return await _on_member(request, db, coordinator, member_id, invites.send_invite, then)

    @post("/district/members/{member_id:uuid}/revoke")
    async def revoke(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Any:
        then = _member_path(member_id, "revoked")
        return await _on_member(request, db, coordinator, member_id, invites.revoke_invite, then)

    @post("/district/members/{member_id:uuid}/poster")
    async def print_poster(
        self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]
    ) -> Any:
        """Printing counts as inviting: the member is marked invited, then the poster is shown, ready to print."""
        then = f"/district/members/{member_id}/poster"
        return await _on_member(request, db, coordinator, member_id, invites.print_poster, then)

    @get("/district/members/{member_id:uuid}/poster")
    async def poster(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Template:
        poster = await invites.member_poster(db, settings_of(request), coordinator, member_id)
        return Template("districts/poster.html", context={"poster": poster, "time_zone": coordinator.time_zone})

    @get("/district/members/{member_id:uuid}/poster.svg")
    async def poster_file(
        self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        return _svg_file(*await invites.member_poster_file(db, settings_of(request), coordinator, member_id))

    @get("/district/join-link")
    async def join_link(self, request: Request, db: Db, coordinator: SignedIn) -> Template:
        settings = settings_of(request)
        link = await invites.join_link(db, settings, coordinator)
        poster = await invites.district_poster(db, settings, coordinator)
        return Template(
            "districts/join_link.html",
            context={"link": link, "poster": poster, "time_zone": coordinator.time_zone},
        )

    async def _change(self, request: Request, db: Db, coordinator: SignedIn, action: JoinLinkAction) -> Redirect:
        await invites.change_join_link(db, settings_of(request), coordinator, action)
        return Redirect(f"/district/join-link?saved={action.value}")

    @post("/district/join-link/on")
    async def link_on(self, request: Request, db: Db, coordinator: SignedIn) -> Redirect:
        return await self._change(request, db, coordinator, JoinLinkAction.ENABLE)

    @post("/district/join-link/off")
    async def link_off(self, request: Request, db: Db, coordinator: SignedIn) -> Redirect:
        return await self._change(request, db, coordinator, JoinLinkAction.DISABLE)

    @post("/district/join-link/renew")
    async def link_renew(self, request: Request, db: Db, coordinator: SignedIn) -> Redirect:
        return await self._change(request, db, coordinator, JoinLinkAction.RENEW)

    @get("/district/join-link/poster")
    async def district_poster(self, request: Request, db: Db, coordinator: SignedIn) -> Template:
        poster = await invites.district_poster(db, settings_of(request), coordinator)
        return Template("districts/poster.html", context={"poster": poster, "time_zone": coordinator.time_zone})

    @get("/district/join-link/poster.svg")
    async def district_poster_file(self, request: Request, db: Db, coordinator: SignedIn) -> Any:
        file = invites.district_poster_file(db, settings_of(request), coordinator)
        return await _or_refused(file, lambda found: _svg_file(*found), *LINK_BACK)

    @post("/district/pending/{member_id:uuid}/approve")
    async def approve(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Any:
        approved = invites.approve(db, coordinator, member_id)
        return await _or_refused(approved, lambda _: Redirect("/district/join-link?saved=approved"), *LINK_BACK)

    @post("/district/pending/{member_id:uuid}/decline")
    async def decline(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Any:
        declined = invites.decline(db, coordinator, member_id)
        return await _or_refused(declined, lambda _: Redirect("/district/join-link?saved=declined"), *LINK_BACK)


def _join_page(
    view: invites.JoinView, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> Template:
    return Template(
        "districts/join.html",
        context={
            "view": view, "values": values or {}, "errors": errors or {}, "labels": JOIN_LABELS,
            "district_sees": invites.WHAT_THE_DISTRICT_SEES, "never_sees": invites.WHAT_IT_NEVER_SEES,
        },
        status_code=400 if errors else view.status_code,
    )  # fmt: skip


class JoinPages(Controller):
    """The pages an invite link opens (public: they say what the invite is, and change nothing until a signed-in
    owner confirms), and the owner's sites in the district right after joining."""

    include_in_schema = False
    dependencies = {"viewer": Provide(provide_viewer)}  # noqa: RUF012

    @get("/join/{token:str}")
    async def landing(self, request: Request, db: Db, viewer: Viewer, token: FromPath[str]) -> Template:
        return _join_page(await invites.join_view(db, settings_of(request), token, viewer))

    @post("/join/{token:str}")
    async def confirm(self, request: Request, db: Db, viewer: Viewer, token: FromPath[str], data: Form) -> Any:
        """A signed-in owner joins (the district-wide link: with the business details they give the district)."""
        settings = settings_of(request)
        if viewer is None:
            return Redirect(f"/login?invite={invites.checked_token(token)}")
        values = {k: v for k, v in data.items() if k != "_csrf_token"}
        try:
            details = invites.join_form(data) if token.startswith("d.") else None
            joined = await invites.accept(db, settings, viewer, token, details)
        except InvalidInput as exc:
            view = await invites.join_view(db, settings, token, viewer)
            return _join_page(view, values, exc.errors)
        except ServiceError:
            # The page says why (used, expired, already a member, not an owner account) with the matching status.
            return _join_page(await invites.join_view(db, settings, token, viewer))
        return Redirect(await invites.next_step(db, viewer, joined))

    @get("/joined/{district_id:uuid}", dependencies={"owner": Provide(provide_owner)})
    async def joined(self, db: Db, owner: SignedIn, district_id: FromPath[uuid.UUID]) -> Template:
        return Template(
            "districts/joined.html", context={"joined": await invites.joined(db, owner, district_id), "errors": {}}
        )

    @post("/joined/{district_id:uuid}", dependencies={"owner": Provide(provide_owner)})
    async def place_sites(self, db: Db, owner: SignedIn, district_id: FromPath[uuid.UUID], data: Form) -> Any:
        """The ticked sites are part of the district from now on; the others of this owner's are not."""
        ticked = data.get("site_ids", [])
        ticked = [ticked] if isinstance(ticked, str) else list(ticked)
        try:
            await registry.place_sites_in_district(db, owner.id, district_id, ticked)
        except InvalidInput as exc:
            context = {"joined": await invites.joined(db, owner, district_id), "errors": exc.errors}
            return Template("districts/joined.html", context=context, status_code=400)
        return Redirect(f"/joined/{district_id}?saved=1")


class InviteApi(Controller):
    """A coordinator's invites in the API: the same actions and rules as their pages."""

    path = "/api/v1/district"
    tags = ["districts"]  # noqa: RUF012
    dependencies = {"coordinator": Provide(provide_coordinator)}  # noqa: RUF012

    @post("/members/{member_id:uuid}/invite", status_code=200)
    async def send(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> InviteOut:
        """Email the member their personal invite (valid 90 days from now, for one account). At most one email per
        member per 24 hours and 200 per district: 429 with Retry-After; a member without an email: 400 naming it."""
        return await invites.send_invite(db, settings_of(request), coordinator, member_id)

    @post("/members/{member_id:uuid}/nudge", status_code=200)
    async def nudge(self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> InviteOut:
        """Send the invite again (a reminder): the same link, its expiry 90 days from now; rate-limited as above."""
        return await invites.send_invite(db, settings_of(request), coordinator, member_id)

    @post("/members/{member_id:uuid}/revoke", status_code=200)
    async def revoke(
        self, request: Request, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]
    ) -> InviteOut:
        """Every copy of the member's invite (emailed or printed) stops working."""
        return await invites.revoke_invite(db, settings_of(request), coordinator, member_id)

    @get("/join-link")
    async def join_link(self, request: Request, db: Db, coordinator: SignedIn) -> JoinLinkOut:
        """The district-wide link for a meeting, whether it is on, and who joined through it and waits."""
        return await invites.join_link(db, settings_of(request), coordinator)

    @post("/join-link", status_code=200)
    async def change_join_link(
        self, request: Request, db: Db, coordinator: SignedIn, data: RequestBody[JoinLinkChange]
    ) -> JoinLinkOut:
        """Turn the district-wide link on or off, or renew it (every copy of the old one stops working)."""
        return await invites.change_join_link(db, settings_of(request), coordinator, data.action)

    @post("/pending/{member_id:uuid}/approve", status_code=200)
    async def approve(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> JoinOut:
        """A business that joined through the district-wide link becomes a member."""
        return await invites.approve(db, coordinator, member_id)

    @post("/pending/{member_id:uuid}/decline", status_code=204)
    async def decline(self, db: Db, coordinator: SignedIn, member_id: FromPath[uuid.UUID]) -> Response[None]:
        """A business that joined through the district-wide link is not taken: its request goes."""
        await invites.decline(db, coordinator, member_id)
        return Response(None, status_code=204)


class JoinApi(Controller):
    """The member's side: a signed-in owner accepts an invite."""

    path = "/api/v1/join"
    tags = ["districts"]  # noqa: RUF012
    dependencies = {"owner": Provide(provide_owner)}  # noqa: RUF012

    @post("/{token:str}", status_code=200)
    async def accept(
        self, request: Request, db: Db, owner: SignedIn, token: FromPath[str], data: RequestBody[JoinIn | None] = None
    ) -> JoinOut:
        """Accept the invite `token` (the link's last part). A personal invite links this account to its business
        (once: a used invite is 410); the district-wide link (a token starting `d.`) needs the business details the
        district will see, and makes a member pending the coordinator's approval."""
        return await invites.accept(db, settings_of(request), owner, token, data)
