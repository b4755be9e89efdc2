"""Owner pages: the request inbox, one request with two-tap answers, and "Who accessed my information"."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from backend.errors import InvalidInput
from backend.notifications import service as notifications
from backend.requests import evidence, service
from backend.requests.models import QUICK_REPLY_LABELS, Answer, QuickReply
from backend.requests.schemas import MESSAGE_MAX_CHARS, AnswerIn, ClipNoteIn, RequestOut
from backend.requests.states import CONVERSATION_STATES
from backend.sharing import service as sharing
from backend.sharing.api import policy_of
from backend.validation import parse_form
from backend.web import Db, SignedIn, provide_owner, settings_of

Form = URLEncodedBody[dict[str, Any]]


class OwnerRequestPages(Controller):
    include_in_schema = False
    dependencies = {"owner": provide_owner}

    @get("/requests")
    async def inbox(self, db: Db, owner: SignedIn, before: FromQuery[str | None] = None) -> Template:
        page = await service.owner_requests(db, owner.id, before)
        return Template(
            "requests/inbox.html",
            context={"requests": page.items, "older": page.next_link("/requests"), "time_zone": owner.time_zone},
        )

    @get("/requests/{request_id:uuid}")
    async def detail(self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID]) -> Template:
        footage = await service.open_for_owner(db, owner.id, request_id)
        request.state.unread = await notifications.unread_count(db, owner.id)  # opening it read some
        return await self._detail(request, db, owner, footage)

    @staticmethod
    async def _detail(
        request: Request, db: Db, owner: SignedIn, footage: RequestOut, errors: dict[str, str] | None = None,
        message: str = "", text: str = "", confirm_decline: bool = False,
    ) -> Template:  # fmt: skip
        store = evidence.ClipStore(settings_of(request).evidence_path)
        clips = await evidence.owner_clips(db, store, owner.id, footage.id)
        return Template(
            "requests/detail.html",
            context={
                "footage": footage,
                "clips": clips,
                "outcome": service.owner_outcome_words(footage, clips, owner.time_zone),
                # Declining asks first, on the page itself: ?decline=1 (a link), or a decline posted unconfirmed.
                "confirm_decline": confirm_decline or request.query_params.get("decline") == "1",
                "messages": await service.owner_conversation(db, owner.id, footage.id),
                "conversation_states": CONVERSATION_STATES,
                "time_zone": owner.time_zone,
                "errors": errors or {},
                "message": message,
                "text": text,
                "max_chars": MESSAGE_MAX_CHARS,
                "quick_replies": [(r, QUICK_REPLY_LABELS[r]) for r in QuickReply if r is not QuickReply.NEED_MORE_INFO],
            },  # fmt: skip
            status_code=400 if errors else 200,
        )

    @post("/requests/{request_id:uuid}/answer")
    async def answer(
        self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        message = str(data.get("message", ""))
        if data.get("answer") == Answer.DECLINE and data.get("confirmed") != "1":  # one tap must not decline
            footage = await service.open_for_owner(db, owner.id, request_id)
            return await self._detail(request, db, owner, footage, message=message, confirm_decline=True)
        try:
            answer = Answer(data.get("answer"))
            await service.answer(db, owner.id, request_id, AnswerIn(answer=answer, message=message))
        except (InvalidInput, ValueError) as exc:
            errors = exc.errors if isinstance(exc, InvalidInput) else {"answer": "Choose one of the answers"}
            footage = await service.open_for_owner(db, owner.id, request_id)
            return await self._detail(request, db, owner, footage, errors, message)
        if answer is Answer.NEED_MORE_INFO:  # the question opened the conversation: show it, with its confirmation
            return Redirect(f"/requests/{request_id}?written=1#conversation")
        return Redirect(f"/requests/{request_id}")

    @post("/requests/{request_id:uuid}/messages")
    async def write(
        self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        text = str(data.get("text", ""))
        try:
            await service.owner_writes(db, owner.id, request_id, text)
        except InvalidInput as exc:
            footage = await service.open_for_owner(db, owner.id, request_id)
            return await self._detail(request, db, owner, footage, exc.errors, text=text)
        return Redirect(f"/requests/{request_id}?written=1#conversation")

    @post("/requests/{request_id:uuid}/clips/{clip_id:uuid}/note")
    async def note(
        self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID],
        clip_id: FromPath[uuid.UUID], data: Form,
    ) -> Template | Redirect:  # fmt: skip
        try:
            await evidence.set_note(db, owner.id, clip_id, parse_form(ClipNoteIn, data).note)
        except InvalidInput as exc:
            footage = await service.open_for_owner(db, owner.id, request_id)
            return await self._detail(request, db, owner, footage, {f"note-{clip_id}": exc.errors["note"]})
        return Redirect(f"/requests/{request_id}?noted={clip_id}#clip-{clip_id}")

    @get("/requests/{request_id:uuid}/clips/{clip_id:uuid}/receipt", media_type="text/plain")
    async def receipt(
        self, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID], clip_id: FromPath[uuid.UUID]
    ) -> Response[str]:
        """A received clip's receipt as a small text file to keep (another owner's: 404)."""
        receipt = await evidence.owner_receipt(db, owner.id, request_id, clip_id, owner.time_zone)
        return Response(
            receipt.text,
            media_type="text/plain; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{receipt.file_name}"',
                "Cache-Control": "no-store",
            },
        )

    @get("/account/access")
    async def access_log(
        self, request: Request, db: Db, owner: SignedIn, before: FromQuery[str | None] = None
    ) -> Template:
        events = await service.open_access_log(db, owner.id, before)
        request.state.unread = await notifications.unread_count(db, owner.id)  # opening it read some
        shares = await sharing.owner_shares(db, owner.id, policy_of(request))
        return Template(
            "requests/access_log.html",
            context={
                "events": events.items, "older": events.next_link("/account/access"), "shares": shares,
                "time_zone": owner.time_zone,
            },
        )  # fmt: skip
