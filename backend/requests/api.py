"""JSON API for footage requests: the agency side (/api/v1/agency/...) and the owner side (/api/v1/requests)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from litestar import Controller, HttpMethod, Request, Response, delete, get, head, patch, post, route
from litestar.di import Provide
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromPath, FromQuery, QueryParameter, RequestBody
from litestar.response import File, Stream

from backend.accounts.models import User
from backend.errors import InvalidInput
from backend.requests import evidence, service
from backend.requests.schemas import (
    AnswerIn,
    AreaRequestIn,
    CameraSearchIn,
    CameraSearchOut,
    ClipNoteIn,
    ClipOut,
    ContactCardOut,
    MessageIn,
    MessageOut,
    RequestOut,
)
from backend.web import Db, SignedIn, client_ip, provide_investigator, provide_owner, settings_of


def _inline(file_name: str) -> str:
    """Content-Disposition for a file shown in the page, its name kept (RFC 6266: ASCII, and UTF-8 beside it)."""
    plain = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in file_name)
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(file_name, safe='')}"


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
        self,
        request: Request,
        db: Db,
        investigator: SignedIn,
        case_number: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Response[list[RequestOut]]:
        """The agency's requests (of one case, if given), newest first, 50 at a time: when there are more, a
        `Link: <...>; rel="next"` header gives the next page's URL."""
        page = await service.agency_requests(db, investigator, case_number, before)
        return Response(page.items, headers=page.link_header(request.url.path, case_number=case_number or ""))

    @post("/{request_id:uuid}/withdraw", status_code=200)
    async def withdraw(self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]) -> RequestOut:
        return await service.withdraw(db, investigator, request_id)

    @get("/{request_id:uuid}/contact")
    async def contact(
        self, request: Request, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> ContactCardOut:
        """The owner's contact card. Opening it is recorded and shown to the owner."""
        return await service.contact_card(db, investigator, request_id, ip=client_ip(request))

    @get("/{request_id:uuid}/messages")
    async def messages(self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]) -> list[MessageOut]:
        """The request's conversation with its owner, oldest first; reading it marks the owner's messages read."""
        return await service.agency_conversation(db, investigator, request_id)

    @post("/{request_id:uuid}/messages", status_code=201)
    async def write(
        self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID], data: RequestBody[MessageIn]
    ) -> MessageOut:
        """Write to the request's owner (at most 2,000 characters); they are notified. 409 once the request is
        closed."""
        return await service.investigator_writes(db, investigator, request_id, data.text)


class OwnerRequestController(Controller):
    path = "/api/v1/requests"
    tags = ["footage requests (owner)"]
    dependencies = {"owner": Provide(provide_owner)}

    @get("")
    async def list_requests(
        self, request: Request, db: Db, owner: SignedIn, before: FromQuery[str | None] = None
    ) -> Response[list[RequestOut]]:
        """Requests sent to you, newest first, 50 at a time: when there are more, a `Link: <...>; rel="next"`
        header gives the next page's URL."""
        page = await service.owner_requests(db, owner.id, before)
        return Response(page.items, headers=page.link_header(request.url.path))

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

    @get("/{request_id:uuid}/messages")
    async def messages(self, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID]) -> list[MessageOut]:
        """The request's conversation with the investigator, oldest first; reading it marks their messages read."""
        return await service.owner_conversation(db, owner.id, request_id)

    @post("/{request_id:uuid}/messages", status_code=201)
    async def write(
        self, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID], data: RequestBody[MessageIn]
    ) -> MessageOut:
        """Write to the investigator (a question, or an answer to their reply; at most 2,000 characters); they are
        notified and the request shows it is their turn. 409 once the request is closed."""
        return await service.owner_writes(db, owner.id, request_id, data.text)

    @get("/access-log")
    async def access_log(
        self, request: Request, db: Db, owner: SignedIn, before: FromQuery[str | None] = None
    ) -> Response[list[dict[str, Any]]]:
        """Every time an agency opened your contact card, sent you a request, or viewed or downloaded your clips,
        newest first, 50 at a time (a `Link: <...>; rel="next"` header gives the next page)."""
        page = await service.open_access_log(db, owner.id, before)
        return Response(page.items, headers=page.link_header(request.url.path))


def _store(request: Request) -> evidence.ClipStore:
    return evidence.ClipStore(settings_of(request).evidence_path)


def _tus_headers(clip: ClipOut | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": evidence.TUS_VERSION, "Cache-Control": "no-store"}
    if clip is not None:
        headers["Upload-Offset"] = str(clip.received_bytes)
        headers["Upload-Length"] = str(clip.size_bytes)
    return headers


def _header_int(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):  # "²" is a digit to Python, not to int()
        raise InvalidInput({name: f"{name} must be a whole number of bytes"})
    return int(value)


def _check_tus_version(request: Request) -> None:
    if request.headers.get("Tus-Resumable") != evidence.TUS_VERSION:
        raise ClientException(
            status_code=412,
            detail=f"Send the header Tus-Resumable: {evidence.TUS_VERSION} (the tus version this server speaks)",
            headers={"Tus-Version": evidence.TUS_VERSION},
        )


class UploadController(Controller):
    """Owners send clips with the tus 1.0 resumable upload protocol (core, creation, termination), so any tus
    client works. Each request that changes something carries the CSRF token (x-csrftoken)."""

    path = "/api/v1"
    tags = ["evidence uploads (owner, tus 1.0)"]
    dependencies = {"owner": Provide(provide_owner)}

    @route("/requests/{request_id:uuid}/uploads", http_method=[HttpMethod.OPTIONS], status_code=204)
    async def capabilities(self, request: Request, request_id: FromPath[uuid.UUID]) -> Response[None]:
        """What this tus server supports, and the largest file it takes."""
        return Response(
            None,
            status_code=204,
            headers={
                **_tus_headers(),
                "Tus-Version": evidence.TUS_VERSION,
                "Tus-Extension": "creation,termination",
                "Tus-Max-Size": str(settings_of(request).max_clip_bytes),
            },
        )

    @post("/requests/{request_id:uuid}/uploads", status_code=201)
    async def create_upload(
        self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID]
    ) -> Response[None]:
        """Start sending one file (Upload-Length; Upload-Metadata `filename`, `filetype`, optional `sha256` in
        hex). A file over the size limit is refused (413) before any of it is sent."""
        _check_tus_version(request)
        if "Upload-Concat" in request.headers:  # tus concatenation: parts must never be kept as clips
            raise InvalidInput(
                {"Upload-Concat": "This server does not join uploads sent in parallel parts; send the file as one "
                                  "upload (tus-js-client: parallelUploads: 1)"}
            )  # fmt: skip
        clip = await evidence.create_upload(
            db, _store(request), owner.id, request_id,
            length=_header_int(request, "Upload-Length"),
            metadata=evidence.parse_metadata(request.headers.get("Upload-Metadata", "")),
            max_bytes=settings_of(request).max_clip_bytes,
        )  # fmt: skip
        headers = {**_tus_headers(), "Location": f"/api/v1/uploads/{clip.id}", "Upload-Offset": "0"}
        return Response(None, status_code=201, headers=headers)

    @head("/uploads/{clip_id:uuid}")
    async def offset(self, request: Request, db: Db, owner: SignedIn, clip_id: FromPath[uuid.UUID]) -> Response[None]:
        """How many bytes of the file the server has: continue from there."""
        _check_tus_version(request)
        clip = await evidence.upload_offset(db, _store(request), owner.id, clip_id)
        return Response(None, headers=_tus_headers(clip))

    @post("/uploads/{clip_id:uuid}", status_code=204, request_max_body_size=None)
    async def append_overridden(
        self, request: Request, db: Db, owner: SignedIn, clip_id: FromPath[uuid.UUID]
    ) -> Response[None]:
        """The PATCH below, for clients that cannot send PATCH: POST with `X-HTTP-Method-Override: PATCH` (tus 1.0)."""
        if request.headers.get("X-HTTP-Method-Override", "").upper() != "PATCH":
            raise ClientException(
                status_code=405, detail="Send the bytes with PATCH (or POST with X-HTTP-Method-Override)"
            )
        return await self._append(request, db, owner, clip_id)

    @patch("/uploads/{clip_id:uuid}", status_code=204, request_max_body_size=None)
    async def append(self, request: Request, db: Db, owner: SignedIn, clip_id: FromPath[uuid.UUID]) -> Response[None]:
        """Bytes of the file from Upload-Offset on (Content-Type: application/offset+octet-stream). The last byte
        completes the clip: 422 if it does not match the `sha256` given at the start (nothing is kept)."""
        return await self._append(request, db, owner, clip_id)

    async def _append(self, request: Request, db: Db, owner: User, clip_id: uuid.UUID) -> Response[None]:
        _check_tus_version(request)
        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/offset+octet-stream":
            raise ClientException(status_code=415, detail="Send the bytes as application/offset+octet-stream")
        offset = _header_int(request, "Upload-Offset")
        if offset is None:
            raise InvalidInput({"Upload-Offset": "Say where these bytes start (Upload-Offset)"})
        clip = await evidence.append(
            db, _store(request), owner, clip_id, offset=offset, content_length=_header_int(request, "Content-Length"),
            chunks=request.stream(), ip=client_ip(request),
        )  # fmt: skip
        return Response(None, status_code=204, headers=_tus_headers(clip))

    @delete("/uploads/{clip_id:uuid}", status_code=204)
    async def cancel(self, request: Request, db: Db, owner: SignedIn, clip_id: FromPath[uuid.UUID]) -> Response[None]:
        """Stop an unfinished upload and remove what was sent of it. A received clip cannot be removed."""
        _check_tus_version(request)
        await evidence.cancel_upload(db, _store(request), owner.id, clip_id)
        return Response(None, status_code=204, headers=_tus_headers())

    @get("/requests/{request_id:uuid}/clips")
    async def clips(self, request: Request, db: Db, owner: SignedIn, request_id: FromPath[uuid.UUID]) -> list[ClipOut]:
        """Your receipts for a request: name, size, SHA-256 and time of each clip received, and uploads under way."""
        return await evidence.owner_clips(db, _store(request), owner.id, request_id)

    @post("/clips/{clip_id:uuid}/note", status_code=200)
    async def note(
        self, db: Db, owner: SignedIn, clip_id: FromPath[uuid.UUID], data: RequestBody[ClipNoteIn]
    ) -> ClipOut:
        """A note beside a received clip; the clip itself never changes."""
        return await evidence.set_note(db, owner.id, clip_id, data.note)


@dataclass
class _CsvOrJson(Operation):
    """The custody report's 200 is JSON, or CSV with `format=csv` (one row per custody event, the same columns)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/csv"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))


class AgencyController(Controller):
    """The agency's tools beside its requests: the camera search, clips, and the custody report."""

    path = "/api/v1/agency"
    tags = ["cameras, clips and custody (agency)"]
    dependencies = {"investigator": Provide(provide_investigator)}

    @get("/cameras")
    async def search(
        self,
        db: Db,
        investigator: SignedIn,
        latitude: FromQuery[float],
        longitude: FromQuery[float],
        radius_m: FromQuery[float],
        window_start: FromQuery[dt.datetime],
        window_end: FromQuery[dt.datetime],
    ) -> CameraSearchOut:
        """Registered cameras within radius_m (25-2000) of an incident, nearest first: distance, which way each
        faces and whether the incident point is in its view, and a warning where the recorder has probably
        overwritten the window (at most 7 days, with time zones). No owner's name or contact is included."""
        query = CameraSearchIn(
            latitude=latitude, longitude=longitude, radius_m=radius_m, window_start=window_start, window_end=window_end
        )
        return await service.search_cameras(db, investigator, query)

    @get("/requests/{request_id:uuid}/clips")
    async def clips(self, db: Db, investigator: SignedIn, request_id: FromPath[uuid.UUID]) -> list[ClipOut]:
        """The clips received for one of your agency's requests, with their SHA-256."""
        return await evidence.agency_clips(db, investigator, request_id)

    @get("/clips/{clip_id:uuid}")
    async def clip(self, request: Request, db: Db, investigator: SignedIn, clip_id: FromPath[uuid.UUID]) -> ClipOut:
        """Open a clip's record. Recorded in custody and shown to the owner."""
        return await evidence.view_clip(db, investigator, clip_id, ip=client_ip(request))

    @get("/clips/{clip_id:uuid}/download", media_type="application/octet-stream")
    async def download(self, request: Request, db: Db, investigator: SignedIn, clip_id: FromPath[uuid.UUID]) -> File:
        """The clip's file, as an attachment. Recorded in custody and shown to the owner."""
        path, clip = await evidence.download_clip(db, _store(request), investigator, clip_id, ip=client_ip(request))
        digest = base64.b64encode(bytes.fromhex(clip.sha256)).decode()
        return File(
            path=path,
            filename=clip.file_name,
            media_type="application/octet-stream",
            content_disposition_type="attachment",
            headers={"Repr-Digest": f"sha-256=:{digest}:", "Cache-Control": "no-store"},
        )

    @get(
        "/clips/{clip_id:uuid}/play",
        responses={
            200: ResponseSpec(
                bytes,
                description="The whole clip, with its own media type (video/mp4, video/webm...)",
                media_type="video/*",
                generate_examples=False,
            ),
            206: ResponseSpec(
                bytes,
                description="The byte range asked for (Range: bytes=...)",
                media_type="video/*",
                generate_examples=False,
            ),
        },  # fmt: skip
    )
    async def play(self, request: Request, db: Db, investigator: SignedIn, clip_id: FromPath[uuid.UUID]) -> Stream:
        """The clip's video for a browser's player, shown inline with its media type; answers byte ranges (206, or
        416 for a range outside the file) so the player can seek. Recorded in custody as a view and shown to the
        owner, once per opening rather than once per range."""
        media = await evidence.play_clip(
            db, _store(request), investigator, clip_id, ip=client_ip(request),
            range_header=request.headers.get("range"), if_range=request.headers.get("if-range"),
        )  # fmt: skip
        size = media.clip.size_bytes
        part = media.byte_range
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(part.length if part else size),
            "Content-Disposition": _inline(media.clip.file_name),
            "ETag": media.etag,
            "Cache-Control": "no-store",
            "Cross-Origin-Resource-Policy": "same-origin",
        }
        if part is not None:
            headers["Content-Range"] = part.content_range(size)
        body = evidence.read_range(media.path, part.start if part else 0, part.length if part else size)
        return Stream(body, status_code=206 if part else 200, media_type=media.media_type, headers=headers)

    @get("/custody-report", operation_class=_CsvOrJson)
    async def custody_report(
        self,
        db: Db,
        investigator: SignedIn,
        case_number: FromQuery[str],
        report_format: Annotated[Literal["json", "csv"], QueryParameter(name="format")] = "json",
    ) -> Response[Any]:
        """Every upload, view, download, contact-card view and request of a case: who, when, from where, hash."""
        rows = await evidence.custody_report(db, investigator, case_number)
        # A header is Latin-1 at most: the file name keeps ASCII letters and digits only.
        safe_case = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "_" for ch in case_number.strip())
        disposition = {"Content-Disposition": f'attachment; filename="custody-{safe_case}.{report_format}"'}
        if report_format == "csv":
            return Response(evidence.custody_csv(rows), media_type="text/csv", headers=disposition)  # utf-8 added
        return Response(rows, headers=disposition)
