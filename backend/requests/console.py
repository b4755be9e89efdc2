"""The investigator console: find cameras near an incident, ask their owners, follow the answers, receive clips.

Thin pages: every rule (who may see what, which state may follow which, what a search returns) is in the
requests service and its evidence module. Times are typed in the investigator's own time zone."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Mapping
from itertools import groupby
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from msgspec import Meta

from backend.errors import InvalidInput
from backend.notifications import service as notifications
from backend.registry.models import RECORDER_LABELS
from backend.registry.schemas import Latitude, Longitude
from backend.requests import evidence, search, service
from backend.requests.models import QUICK_REPLY_LABELS, REQUEST_TYPE_LABELS, RequestType
from backend.requests.schemas import MESSAGE_MAX_CHARS, AreaRequestIn, CameraSearchIn, CaseNumber, RequestOut
from backend.requests.states import CONVERSATION_STATES, OPEN_STATES
from backend.validation import parse_form
from backend.web import Db, SignedIn, client_ip, provide_investigator

SEARCH_FIELDS = ("latitude", "longitude", "incident_address", "radius_m", "window_start", "window_end")
REQUEST_TYPES = [(t.value, REQUEST_TYPE_LABELS[t]) for t in RequestType]
DEFAULT_RADIUS_M = 250


class SearchForm(msgspec.Struct, kw_only=True):
    latitude: Latitude
    longitude: Longitude
    radius_m: float  # its range is the registry's rule, with its message
    window_start: str
    window_end: str
    incident_address: Annotated[str, Meta(max_length=300)] = ""


class SendForm(msgspec.Struct, kw_only=True):
    case_number: CaseNumber
    request_type: RequestType
    message: Annotated[str, Meta(max_length=2000)] = ""
    deadline_at: str = ""


def _local_value(moment: dt.datetime, time_zone: str) -> str:
    """A moment as a datetime-local input shows it, in the investigator's zone."""
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M")


def _from_local(values: Mapping[str, Any], name: str, label: str, time_zone: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(values.get(name, "")).strip())
    except ValueError as exc:
        raise InvalidInput({name: f"{label}: give a date and a time"}) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zoneinfo.ZoneInfo(time_zone))


def _search_query(values: Mapping[str, Any], time_zone: str) -> CameraSearchIn:
    form = parse_form(SearchForm, values)
    return CameraSearchIn(
        latitude=form.latitude,
        longitude=form.longitude,
        radius_m=form.radius_m,
        window_start=_from_local(values, "window_start", "Incident from", time_zone),
        window_end=_from_local(values, "window_end", "Incident until", time_zone),
    )


class ConsolePages(Controller):
    include_in_schema = False
    dependencies = {"investigator": provide_investigator}

    @staticmethod
    async def _search_page(
        db: Db, investigator: SignedIn, values: Mapping[str, Any], filters: search.Filters, *, ticks: str = "view",
        ticked_ids: set[uuid.UUID] | None = None, send_values: Mapping[str, Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:  # fmt: skip
        """The search form, and its results whenever the search fields hold a search: filtered, and ticked as asked
        (or as the form sent back had them)."""
        results = None
        errors = dict(errors or {})
        if any(values.get(name) for name in ("latitude", "longitude")):
            try:
                query = _search_query(values, investigator.time_zone)
                results = await search.console_search(
                    db, investigator, query, filters, ticks=ticks, ticked_ids=ticked_ids
                )
            except InvalidInput as exc:
                errors.update(exc.errors)
        return Template(
            "console/search.html",
            context={
                "values": values, "send_values": send_values or {"request_type": RequestType.VOLUNTARY.value},
                "errors": errors, "results": results, "request_types": REQUEST_TYPES,
                "recorder_labels": RECORDER_LABELS, "time_zone": investigator.time_zone, "filters": filters,
                "filter_labels": search.FILTER_LABELS,
            },
            status_code=400 if errors else 200,
        )  # fmt: skip

    @get("/console/search")
    async def search(self, request: Request, db: Db, investigator: SignedIn) -> Template:
        values: dict[str, Any] = {name: request.query_params.get(name, "") for name in SEARCH_FIELDS}
        if not any(values.values()):
            now = dt.datetime.now(dt.UTC)
            values.update(
                radius_m=DEFAULT_RADIUS_M,
                window_start=_local_value(now - dt.timedelta(hours=1), investigator.time_zone),
                window_end=_local_value(now, investigator.time_zone),
            )
        filters = search.Filters.of(request.query_params)
        return await self._search_page(db, investigator, values, filters, ticks=request.query_params.get("ticks", ""))

    @post("/console/requests")
    async def send(self, request: Request, db: Db, investigator: SignedIn) -> Template | Redirect:
        form = await request.form()
        values = {name: form.get(name, "") for name in SEARCH_FIELDS}
        send_values = {name: form.get(name, "") for name in ("case_number", "request_type", "message", "deadline_at")}
        filters, ticked_ids = search.Filters.of(form), set()
        try:
            camera_ids = [uuid.UUID(value) for value in form.getall("camera_ids", [])]
            ticked_ids = set(camera_ids)  # a send that comes back keeps them ticked
            query = _search_query(values, investigator.time_zone)
            fields = parse_form(SendForm, send_values)
            only = form.get("only_owner_of")
            if only and uuid.UUID(only) not in ticked_ids:
                camera_ids.append(uuid.UUID(only))  # "Ask only this owner" asks about this camera, ticked or not
            if not camera_ids:
                raise InvalidInput({"camera_ids": "Tick at least one camera whose owner to ask"})
            deadline = (
                _from_local(send_values, "deadline_at", "Answer by", investigator.time_zone)
                if fields.deadline_at
                else None
            )
            sent = await service.send_area_request(
                db, investigator,
                AreaRequestIn(
                    camera_ids=camera_ids, case_number=fields.case_number, request_type=fields.request_type,
                    incident_latitude=query.latitude, incident_longitude=query.longitude,
                    incident_address=str(values["incident_address"]).strip(), window_start=query.window_start,
                    window_end=query.window_end, message=fields.message, deadline_at=deadline,
                    only_owner_of=uuid.UUID(only) if only else None,
                ),
                ip=client_ip(request),
            )  # fmt: skip
        except (InvalidInput, ValueError) as exc:
            errors = exc.errors if isinstance(exc, InvalidInput) else {"camera_ids": "Choose cameras from the list"}
            return await self._search_page(
                db, investigator, values, filters, ticked_ids=ticked_ids, send_values=send_values, errors=errors
            )
        return Redirect(
            "/console/requests?" + urlencode({"case_number": fields.case_number.strip(), "sent": len(sent)})
        )

    @get("/console/requests")
    async def requests(
        self, db: Db, investigator: SignedIn, case_number: FromQuery[str] = "", sent: FromQuery[int] = 0,
        before: FromQuery[str | None] = None,
    ) -> Template:  # fmt: skip
        page = await service.agency_requests(db, investigator, case_number.strip() or None, before)
        cases = [(case, list(items)) for case, items in groupby(page.items, key=lambda r: r.case_number)]
        older = page.next_link("/console/requests", case_number=case_number.strip())
        return Template(
            "console/requests.html",
            context={"cases": cases, "case_number": case_number, "sent": sent, "older": older, **_labels(investigator)},
        )

    @get("/console/requests/{request_id:uuid}")
    async def request_page(
        self, request: Request, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> Template:
        footage = await service.agency_request(db, investigator, request_id)
        request.state.unread = await notifications.unread_count(db, investigator.id)  # opening it read some
        return await _request_template(db, investigator, footage)

    @post("/console/requests/{request_id:uuid}/withdraw")
    async def withdraw(self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]) -> Redirect:
        await service.withdraw(db, investigator, request_id)
        return Redirect(f"/console/requests/{request_id}?withdrawn=1")

    @post("/console/requests/{request_id:uuid}/contact")
    async def contact(
        self, request: Request, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> Template:
        card = await service.contact_card(db, investigator, request_id, ip=client_ip(request))
        footage = await service.agency_request(db, investigator, request_id)
        return await _request_template(db, investigator, footage, card=card)

    @post("/console/requests/{request_id:uuid}/messages")
    async def write(
        self, request: Request, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        text = str((await request.form()).get("text", ""))
        try:
            await service.investigator_writes(db, investigator, request_id, text)
        except InvalidInput as exc:
            footage = await service.agency_request(db, investigator, request_id)
            return await _request_template(db, investigator, footage, errors=exc.errors, text=text)
        return Redirect(f"/console/requests/{request_id}?written=1#conversation")

    @get("/console/clips/{clip_id:uuid}")
    async def clip(self, request: Request, db: Db, investigator: SignedIn, clip_id: FromPath[uuid.UUID]) -> Template:
        clip, media_type = await evidence.open_clip(db, investigator, clip_id, ip=client_ip(request))
        footage = await service.agency_request(db, investigator, clip.request_id)
        context = {"clip": clip, "media_type": media_type, "footage": footage, **_labels(investigator)}
        return Template("console/clip.html", context=context)


def _labels(investigator: SignedIn) -> dict[str, Any]:
    return {"reply_labels": QUICK_REPLY_LABELS, "open_states": OPEN_STATES, "time_zone": investigator.time_zone}


async def _request_template(
    db: Db, investigator: SignedIn, footage: RequestOut, card: Any = None, errors: dict[str, str] | None = None,
    text: str = "",
) -> Template:  # fmt: skip
    clips = await evidence.agency_clips(db, investigator, footage.id)
    messages = await service.agency_conversation(db, investigator, footage.id)
    return Template(
        "console/request.html",
        context={
            "footage": footage, "clips": clips, "card": card, "messages": messages, "errors": errors or {},
            "text": text, "max_chars": MESSAGE_MAX_CHARS, "conversation_states": CONVERSATION_STATES,
            **_labels(investigator),
        },
        status_code=400 if errors else 200,
    )  # fmt: skip
