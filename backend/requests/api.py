"""JSON API for footage requests: the agency side (/api/v1/agency/...) and the owner side (/api/v1/requests)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, RequestBody

from backend.requests import service
from backend.requests.schemas import AnswerIn, AreaRequestIn, ContactCardOut, RequestOut
from backend.web import Db, SignedIn, client_ip, provide_investigator, provide_owner


class AgencyRequestController(Controller):
    path = "/api/v1/agency/requests"
    tags = ["footage requests (agency)"]
    dependencies = {"investigator": Provide(provide_investigator)}

    @post("")
    async def send(
        self, request: Request, db: Db, investigator: SignedIn, data: RequestBody[AreaRequestIn]
    ) -> list[RequestOut]:
        """Ask the owners of these cameras for video: one request per owner, naming their cameras."""
        return await service.send_area_request(db, investigator, data, ip=client_ip(request))

    @get("")
    async def list_requests(
        self, db: Db, investigator: SignedIn, case_number: FromQuery[str | None] = None
    ) -> list[RequestOut]:
        return await service.agency_requests(db, investigator, case_number)

    @post("/{request_id:uuid}/withdraw", status_code=200)
    async def withdraw(self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]) -> RequestOut:
        return await service.withdraw(db, investigator, request_id)

    @get("/{request_id:uuid}/contact")
    async def contact(
        self, request: Request, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> ContactCardOut:
        """The owner's contact card. Opening it is recorded and shown to the owner."""
        return await service.contact_card(db, investigator, request_id, ip=client_ip(request))


class OwnerRequestController(Controller):
    path = "/api/v1/requests"
    tags = ["footage requests (owner)"]
    dependencies = {"owner": Provide(provide_owner)}

    @get("")
    async def list_requests(self, db: Db, owner: SignedIn) -> list[RequestOut]:
        return await service.owner_requests(db, owner.id)

    @get("/{request_id:uuid}")
    async def open_request(self, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID]) -> RequestOut:
        """A request sent to you; opening it marks it seen."""
        return await service.open_for_owner(db, owner.id, request_id)

    @post("/{request_id:uuid}/answer", status_code=200)
    async def answer(
        self, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID], data: RequestBody[AnswerIn]
    ) -> RequestOut:
        """`accept` to share clips, or a quick reply (no_footage, not_recording, not_covered, need_more_info,
        decline). Declining carries no penalty."""
        return await service.answer(db, owner.id, request_id, data)

    @get("/access-log")
    async def access_log(self, db: Db, owner: SignedIn) -> list[dict[str, Any]]:
        """Every time an agency opened your contact card, sent you a request, or viewed or downloaded your clips."""
        return await service.access_log(db, owner.id)
