"""What the OpenAPI description (/schema/openapi.json) says beyond what Litestar infers from the handlers: the
problem answers (RFC 9457, application/problem+json) each API operation gives (the 4xx it can give, and 500), and
that request bodies refuse fields they do not know. Declared here, in one place, from the app's route table."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING

import msgspec
from litestar import Response
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from backend.web import MACHINE_PREFIXES

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

PROBLEM_JSON = "application/problem+json"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class ProblemDetails(msgspec.Struct, kw_only=True):
    """How every API error is answered (RFC 9457). Other members may appear, as RFC 9457 allows."""

    status: int
    title: str
    detail: str
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET  # 400: one item per field that needs a fix


_MEANING = {
    400: "A field, parameter or header is wrong or missing, or text holds a NUL character; `errors` names each field",
    401: "No session (sign in), or no valid device credential (`Authorization: Bearer`)",
    403: "This account's role may not do this, or the CSRF token (`x-csrftoken` header) is missing or stale",
    404: "No such object among the caller's own (another party's id is a 404 too)",
    405: "This method is not the one to use here (the detail says which is)",
    409: "The object's state does not allow this now (the detail says why)",
    410: "It has ended (a share that is over, an account that was deleted)",
    412: "A precondition header is missing or wrong (tus: `Tus-Resumable: 1.0.0`)",
    413: "The body or the file is larger than this operation takes",
    415: "The body is not of the media type this operation takes",
    422: "The content does not match what was announced (a clip's SHA-256)",
    423: "The object is busy on another connection; try again in a moment",
    429: "Too many attempts; `Retry-After` says when to try again",
    500: "An unexpected error; it was logged",
    503: "The database connection was lost; try again after `Retry-After` (a change may have been saved: read first)",
}

# API operations that need no credential. Every other one needs a session cookie or a device's bearer credential,
# and answers 401 without it, 403 when the account's role may not, 404 for an id that is not the caller's.
PUBLIC_OPERATIONS = frozenset(
    {
        ("POST", "/api/v1/auth/signup"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/push/key"),
        ("POST", "/api/v1/push/subscription-change"),  # proved by the old subscription's secret
        ("POST", "/device/v1/device_authorization"),
        ("POST", "/device/v1/token"),
        ("OPTIONS", "/api/v1/requests/{request_id}/uploads"),  # tus capabilities
    }
)

# Answers particular operations give beyond the shared ones: what their services raise (backend/errors.py).
_TUS = {412}  # every tus call but OPTIONS checks Tus-Resumable
_APPEND = _TUS | {409, 413, 415, 422, 423}  # wrong offset or finished clip, too many bytes, body type, checksum, busy
EXTRA_STATUSES: dict[tuple[str, str], set[int]] = {
    ("POST", "/api/v1/auth/login"): {429},  # five wrong passwords or codes lock the account for a while
    ("POST", "/api/v1/devices/pair"): {429},  # guessing pairing codes
    ("POST", "/api/v1/push/subscriptions"): {409},  # the same browser subscribing twice at once
    ("POST", "/api/v1/push/subscription-change"): {404},  # no such old subscription
    ("POST", "/api/v1/requests/{request_id}/answer"): {409},
    ("POST", "/api/v1/agency/requests/{request_id}/withdraw"): {409},
    ("POST", "/api/v1/requests/{request_id}/messages"): {409},  # the request is closed
    ("POST", "/api/v1/agency/requests/{request_id}/messages"): {409, 410},  # closed; the owner deleted their account
    ("GET", "/api/v1/agency/requests/{request_id}/contact"): {410},  # the owner deleted their account
    ("POST", "/api/v1/requests/{request_id}/uploads"): _TUS | {409, 413},  # not accepted; larger than allowed
    ("HEAD", "/api/v1/uploads/{clip_id}"): _TUS,
    ("PATCH", "/api/v1/uploads/{clip_id}"): _APPEND,
    ("POST", "/api/v1/uploads/{clip_id}"): _APPEND | {405},  # without X-HTTP-Method-Override: PATCH
    ("DELETE", "/api/v1/uploads/{clip_id}"): _TUS | {409},  # a received clip stays
    ("POST", "/api/v1/clips/{clip_id}/note"): {409},
    ("POST", "/api/v1/shares"): {409},  # a share of the site is on already; no live desk in the program
    ("POST", "/api/v1/shares/{share_id}/stop"): {409},
    ("POST", "/api/v1/shares/{share_id}/extend"): {409},
    ("POST", "/api/v1/shares/{share_id}/answer"): {409},
    ("POST", "/api/v1/live-desk/shares/{share_id}/acknowledge"): {409, 410},
    ("POST", "/api/v1/live-desk/shares/{share_id}/more-time"): {409, 410},
    ("POST", "/live/v1/whip/{share_camera_id}"): {410, 413},  # the SDP offer is read from the body
    ("POST", "/live/v1/whep/{share_camera_id}"): {409, 410, 413},  # 409: the camera's video has not arrived yet
    ("POST", "/api/v1/district/announcements"): {429},  # the district's announcements in 24 hours
    # Invites: a member who joined, left or waits has no invite to send; one email a day per member, 200 per district.
    ("POST", "/api/v1/district/members/{member_id}/invite"): {409, 429},
    ("POST", "/api/v1/district/members/{member_id}/nudge"): {409, 429},
    ("POST", "/api/v1/district/members/{member_id}/revoke"): {409},
    ("POST", "/api/v1/district/pending/{member_id}/approve"): {409},  # not waiting for approval
    ("POST", "/api/v1/district/pending/{member_id}/decline"): {409},
    ("POST", "/api/v1/join/{token}"): {409, 410},  # a member already; an invite used, expired, withdrawn or off
    ("DELETE", "/api/v1/district/members/{member_id}"): {409},  # a joined member leaves by themselves
    ("POST", "/api/v1/district/import/preview"): {413},  # the upload is read from the body
    ("POST", "/api/v1/district/import/{import_id}/confirm"): {409, 410},  # the roster changed meanwhile; expired
}


def problem_statuses(app: Litestar, method: str, path: str, route: HTTPRoute) -> set[int]:
    """The problem answers an API operation can give (`path` as the schema writes it, without types)."""
    handler, kwargs = route.route_handler_map[method]  # type: ignore[index]
    # 400 anywhere: a field, parameter or header that is wrong, or text with a NUL (web.refuse_nul_characters)
    statuses = {400, 500, 503} | EXTRA_STATUSES.get((method, path), set())  # 503: web.handle_database_unavailable
    if (method, path) not in PUBLIC_OPERATIONS:
        statuses |= {401, 403, 404}
    if route.path_parameters:
        statuses.add(404)  # a path parameter that does not parse (not a UUID) is no such path
    if "data" in kwargs.expected_reserved_kwargs:
        statuses.add(413)  # every body has a size limit (request_max_body_size)
    if method not in _SAFE_METHODS and not _csrf_exempt(app, handler.opt, route.path):
        statuses.add(403)
    return statuses


def _csrf_exempt(app: Litestar, opt: dict, path: str) -> bool:
    config = app.csrf_config
    if config is None or opt.get(config.exclude_from_csrf_key):
        return True
    excluded = [config.exclude] if isinstance(config.exclude, str) else (config.exclude or [])
    return any(re.match(pattern, path) for pattern in excluded)


def _problem(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails,
        media_type=PROBLEM_JSON,
        description=f"{HTTPStatus(status).phrase}: {_MEANING[status]}",
        generate_examples=False,
    )


def _answers_without_body(handler: HTTPRouteHandler) -> bool:
    """A handler returning `Response[None]` answers with no body; Litestar would describe a JSON `null`."""
    returned = handler.parsed_fn_signature.return_type
    return returned.is_subclass_of(Response) and bool(returned.inner_types) and returned.inner_types[0].is_none_type


def declare_answers(app: Litestar) -> None:
    """Give each API operation's handler its problem answers (`responses`), so the schema Litestar builds from them
    declares them, and a success answer without a body no content. What a handler declares itself (the device
    token endpoint's RFC 6749 errors, the long-poll's 204) is kept."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(MACHINE_PREFIXES):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if not handler.resolve_include_in_schema():
                continue
            declared = {status: _problem(status) for status in problem_statuses(app, method, route.path_format, route)}
            if _answers_without_body(handler):
                declared[handler.status_code] = ResponseSpec(
                    data_container=None, description=HTTPStatus(handler.status_code).phrase
                )
            handler.responses = {**declared, **(handler.responses or {})}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's schema for msgspec Structs, plus `additionalProperties: false` for a Struct that refuses unknown
    fields (forbid_unknown_fields): every request body does, and the schema now says so."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
