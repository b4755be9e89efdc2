"""HTTP plumbing shared by every domain: the signed-in viewer, security headers, errors, assets."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import quote

import msgspec
from litestar import Litestar, Request, Response
from litestar.di import NamedDependency
from litestar.enums import MediaType, RequestEncodingType, ScopeType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.middleware.csrf import generate_csrf_token
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Template
from litestar.response.base import ASGIResponse
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import AGENCY_ROLES, Role, User
from backend.db import close_request_session, connection_error_summary
from backend.errors import Forbidden, InvalidInput, NotAuthenticated, ServiceError
from backend.notifications import service as notifications
from backend.settings import PROJECT_ROOT, Settings
from backend.validation import body_errors, field_label, field_of, humanize, labels

# Handler parameter types: the request's database session, and who is signed in.
Db: TypeAlias = NamedDependency[AsyncSession]
SignedIn: TypeAlias = NamedDependency[User]
Viewer: TypeAlias = NamedDependency[User | None]

SESSION_COOKIE = "porchlight_session"
CSRF_COOKIE = "csrftoken"  # the CSRF middleware's default cookie name
STATIC_DIR = PROJECT_ROOT / "pwa" / "static"
TEMPLATE_DIR = PROJECT_ROOT / "pwa" / "templates"
MACHINE_PREFIXES = ("/api/", "/device/", "/live/v1/")  # their errors are problem details; /live, /live/... are pages

logger = logging.getLogger("porchlight.web")


def assets_version(directory: Path = STATIC_DIR) -> str:
    """A hash of every static file: it is part of their URLs, so a changed file gets a new URL."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


BACKGROUND_HEADER = "x-porchlight-background"


async def provide_viewer(request: Request, db: Db) -> User | None:
    """The signed-in user of this request, or None."""
    if "viewer" not in request.state:
        token = request.cookies.get(SESSION_COOKIE)
        # A page refreshing itself (the live desk's list, a device's health) is not the person using Porchlight:
        # it must not keep an agency session from ending when nobody is there.
        touch = request.headers.get(BACKGROUND_HEADER) != "1"
        days = settings_of(request).session_days
        found = await accounts.user_for_session(db, token, days=days, touch=touch) if token else None
        request.state.viewer, request.state.session_id = found if found else (None, None)
        # The unread count is for the page header; API calls do not need it.
        show_count = found is not None and not is_machine_request(request)
        request.state.unread = await notifications.unread_count(db, found[0].id) if show_count else 0
    return request.state.viewer


# A handler's `opt` flag: it serves a person who must still replace the first password an administrator gave them.
BEFORE_PASSWORD_CHOSEN = "before_password_chosen"
CHOOSE_PASSWORD_PATH = "/password/choose"


class PasswordChangeRequired(Forbidden):
    """Pages redirect to the page where the person chooses their password; the API answers this 403."""

    title = "Choose your password first"


async def provide_user(request: Request, db: Db) -> User:
    """The signed-in user; anonymous requests get 401 (API) or go to the sign-in page. Someone whose first password
    was given by an administrator reaches nothing but the page to choose their own (the user row is already
    loaded with the session: no extra query)."""
    user = await provide_viewer(request, db)
    if user is None:
        raise NotAuthenticated("Sign in to continue")
    if user.must_change_password_since is not None and not request.route_handler.opt.get(BEFORE_PASSWORD_CHOSEN):
        raise PasswordChangeRequired(
            "This account still has the first password an administrator gave it. Choose your own password on the "
            f"web at {CHOOSE_PASSWORD_PATH} (or POST /api/v1/me/password) before anything else."
        )
    return user


def _provide_role(role: Role, refusal: str) -> Callable[[Request, AsyncSession], Awaitable[User]]:
    async def provide(request: Request, db: Db) -> User:
        user = await provide_user(request, db)
        if not user.has_role(role):
            raise Forbidden(refusal)
        return user

    return provide


provide_owner = _provide_role(Role.OWNER, "Only camera owners manage sites and cameras")
provide_admin = _provide_role(Role.ADMIN, "Only administrators see this page")
provide_investigator = _provide_role(Role.INVESTIGATOR, "Only investigators send and follow footage requests")
provide_coordinator = _provide_role(Role.COORDINATOR, "Only district coordinators see this page")


def set_session_cookie(response: Response, token: str, settings: Settings, agency: bool = False) -> None:
    """An agency account's cookie is SameSite=Strict: opening a contact card or a clip records a police access,
    and no link on another site may make the browser do that in the person's name (Lax would send the cookie
    on a cross-site link). Owners keep Lax, so a link from a notification email arrives signed in."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict" if agency else "lax",
        path="/",
    )


def rotate_csrf_token(response: Response[Any], settings: Settings) -> None:
    """A new CSRF token at sign-in and sign-out: a token seen before (e.g. planted in the browser by someone else)
    is worthless after. Same cookie as the CSRF middleware's (app.py)."""
    response.set_cookie(
        CSRF_COOKIE,
        generate_csrf_token(settings.secret_key),
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


async def begin_session(request: Request, db: AsyncSession, user: User, response: Response[Any]) -> Response[Any]:
    """Sign the browser in with a brand-new session (any session it arrived with is ended) and CSRF token."""
    settings = settings_of(request)
    if old_token := request.cookies.get(SESSION_COOKIE):
        await accounts.end_session(db, old_token)
    token = await accounts.start_session(
        db, user, days=settings.session_days, user_agent=request.headers.get("user-agent", ""), ip=client_ip(request)
    )
    set_session_cookie(response, token, settings, agency=bool(user.role_names & AGENCY_ROLES))
    rotate_csrf_token(response, settings)
    return response


async def end_session(request: Request, db: AsyncSession, response: Response[Any]) -> Response[Any]:
    """Sign out: the session is deleted on the server, the cookie and the browser's caches cleared."""
    if token := request.cookies.get(SESSION_COOKIE):
        await accounts.end_session(db, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    rotate_csrf_token(response, settings_of(request))
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def content_security_policy(settings: Settings) -> str:
    images = "'self' data:"
    if settings.map_tile_url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.map_tile_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


_NO_STORE = (b"cache-control", b"no-store")
_SESSION_COOKIE_BYTES = SESSION_COOKIE.encode() + b"="


def _signed_in(scope: Scope) -> bool:
    """The request carries a session cookie or a device credential: its answer is someone's own data."""
    for name, value in scope.get("headers", []):
        if (name == b"cookie" and _SESSION_COOKIE_BYTES in value) or name == b"authorization":
            return True
    return False


def security_headers(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before-send hook adding security headers to every response, 404s and static files included, and
    `Cache-Control: no-store` to every answer to a signed-in request that does not set its own."""
    headers = [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"permissions-policy", b"geolocation=(self), camera=(), microphone=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if settings.secure_cookies:
        headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            added = [h for h in headers if h[0] not in present]
            if b"cache-control" not in present and _signed_in(scope):
                added.append(_NO_STORE)  # personal data stays out of browser and proxy caches
            message["headers"] = [*message.get("headers", []), *added]

    return add_headers


def allowed_methods(app: Litestar, path_template: str) -> list[str]:
    """The methods the app serves on a path (OPTIONS included), from its own route table."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == path_template:
            methods.update(route.route_handler_map)
    return sorted(methods)


async def allow_header(message: Message, scope: Scope) -> None:
    """A before-send hook: a successful OPTIONS answer lists in `Allow` every method its path serves. Litestar makes
    a path's OPTIONS handler when the path's first handler is registered and never updates its method list as
    the others join, so alone it named only that first one (`OPTIONS /api/v1/sites/{id}`: DELETE, OPTIONS); a
    path's own OPTIONS handler (tus capabilities) gets the header too."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS" or message["status"] >= 300:
        return
    path_template = scope.get("path_template")
    if not path_template:
        return
    allow = ", ".join(allowed_methods(scope["litestar_app"], path_template)).encode()
    headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != b"allow"]
    message["headers"] = [*headers, (b"allow", allow)]


NUL = "\x00"
NO_NUL = "Text must not contain the NUL character (U+0000)"
# A handler's `opt` flag: it answers malformed input in its own protocol's words (RFC 6749's token endpoint).
ANSWERS_MALFORMED_INPUT = "answers_malformed_input"


def _holding_nul(value: Any, field: str) -> str | None:
    """The field of `value` (a decoded body; top-level keys name the fields) with text containing NUL, if any."""
    if isinstance(value, str):
        return field if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = field or str(key)
            if NUL in str(key) or _holding_nul(item, name) is not None:
                return name
    elif isinstance(value, list):
        for item in value:
            if (found := _holding_nul(item, field)) is not None:
                return found
    return None


async def refuse_nul_characters(request: Request) -> None:
    """A before-request hook: text with a NUL character, in the query or in a body the handler reads (JSON or form),
    is a 400 naming the field. PostgreSQL cannot store it (it was a 500 there), SQLite kept it, nobody types one."""
    if request.route_handler.opt.get(ANSWERS_MALFORMED_INPUT):
        return
    fields: list[tuple[str, Any]] = list(request.query_params.multi_items())
    if "data" in request.route_handler.parsed_fn_signature.parameters:
        if request.content_type[0] in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
            fields += (await request.form()).multi_items()
        else:
            try:
                fields.append(("", msgspec.json.decode(await request.body())))
            except msgspec.DecodeError:
                pass  # not JSON: the handler's own parsing says what is wrong
    for key, value in fields:
        field = key if NUL in key else _holding_nul(value, key)
        if field is not None:
            raise InvalidInput({field or "body": NO_NUL})


def pages_answer_in_html(app: Litestar) -> None:
    """Every page handler answers HTML, whatever its return annotation says. Litestar takes a handler's media type
    from its annotation (`-> Any` means JSON) and gives it to the Template the handler returns, so a form that came
    back with its errors (a 400 Template) was sent as application/json and a phone showed the HTML as text. Called
    once on the built app, before any request (the media type is read when the first answer is made)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(MACHINE_PREFIXES):
            continue
        for handler, *_ in route.route_handler_map.values():
            declares_an_answer = handler.parsed_fn_signature.return_type.is_subclass_of((Response, ASGIResponse))
            if handler.media_type == MediaType.JSON and not declares_an_answer:
                handler.media_type = MediaType.HTML


def resolve_dependencies_in_turn(app: Litestar) -> None:
    """Every handler's dependencies are resolved one after another, never side by side. Litestar resolves
    dependencies that do not need each other concurrently, each in a task of its own; here every dependency that
    waits on anything waits on the request's one database session, which serves one statement at a time, so that
    only cost two tasks per request (7% of GET /api/v1/sites in a profile) and could put two queries on one session
    at once.
    Called once on the built app, before any request; the order stays one Litestar would accept (by name within
    what it would run side by side, the same in every process)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for _handler, kwargs_model in route.route_handler_map.values():
                batches = kwargs_model.dependency_batches
                kwargs_model.dependency_batches = [
                    {d} for batch in batches for d in sorted(batch, key=attrgetter("key"))
                ]


def is_machine_request(request: Request) -> bool:
    return request.scope["path"].startswith(MACHINE_PREFIXES)  # not request.url: building it parses the whole URL


def _problem(request: Request, status: int, title: str, detail: str, **extra: Any) -> Response[Any]:
    headers = extra.pop("headers", None)
    return ProblemDetailsException(
        status_code=status, title=title, detail=detail, extra=extra or None, headers=headers
    ).to_response(request)


def handle_service_error(request: Request, exc: ServiceError) -> Response[Any]:
    headers = exc.headers
    if is_machine_request(request):
        extra: dict[str, Any] = {"headers": headers}
        if isinstance(exc, InvalidInput):
            extra["errors"] = [{"field": field, "message": message} for field, message in exc.errors.items()]
        return _problem(request, exc.status_code, exc.title, exc.detail, **extra)
    if isinstance(exc, PasswordChangeRequired):
        return Redirect(CHOOSE_PASSWORD_PATH)
    if isinstance(exc, NotAuthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}")
    # A form's handler that did not catch its InvalidInput: the messages (each names its field), not "field: ...".
    messages = exc.errors.values() if isinstance(exc, InvalidInput) else ()
    detail = " ".join(m if m.endswith(".") else f"{m}." for m in messages) or exc.detail
    return error_page(request, exc.status_code, exc.title, detail, headers=headers)


NO_BODY = "Send the fields as a JSON body (Content-Type: application/json)"


def _body_struct(request: Request) -> type[msgspec.Struct] | None:
    """The Struct a handler reads its body into, if it reads one."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    annotation = data.annotation if data is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else None


def _invalid_fields(request: Request, exc: ValidationException) -> list[dict[str, str]]:
    """Every wrong field of the body, each named by its API name with its label's words in the message. msgspec
    stops at the first error; the body is checked again field by field so that all come back at once."""
    struct_type = _body_struct(request)
    body = ScopeState.from_scope(request.scope).body  # read (and kept) when the handler's data was parsed
    if struct_type is not None and isinstance(body, bytes):
        if errors := body_errors(struct_type, body):
            return [{"field": field, "message": message} for field, message in errors.items()]
    names = labels(struct_type) if struct_type is not None else {}
    found = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if item.get("key") == "data" and item.get("message") == "'data'":  # Litestar's word for "no body"
            found.append({"field": "body", "message": NO_BODY})
            continue
        field = field_of(item.get("message", ""), item.get("key") or "body")
        message = humanize(item.get("message", ""))
        if field != "body" and not message.endswith("is not a field this request accepts"):
            message = f"{names.get(field) or field_label(field)} {message}"
        elif field != "body":
            message = f"{field} {message}"
        found.append({"field": field, "message": message})
    return found


def handle_http_exception(request: Request, exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException) and is_machine_request(request):
        errors = _invalid_fields(request, exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.detail
        return _problem(request, 400, "Some fields need a fix", detail, errors=errors)
    detail = exc.detail
    if exc.status_code == 403 and "CSRF" in detail:
        detail = (
            "This form was sent without its security token (it may have expired or come from another site). "
            "Reload the page and try again."
        )
    if is_machine_request(request):
        return _problem(request, exc.status_code, exc.detail, detail, headers=exc.headers)
    title = "Page not found" if isinstance(exc, NotFoundException) else exc.detail
    return error_page(request, exc.status_code, title, detail, headers=exc.headers)


def error_page(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response[Any]:
    return ErrorPage(
        "error.html",
        context={"title": title, "detail": detail, "status": status},
        status_code=status,
        headers=headers,
    )


class ErrorPage(Template):
    """An error page with the signed-in header and navigation. A path no route serves (404, 405) never ran a
    handler that loads the viewer: the page looks the session up itself before it renders."""

    def to_asgi_response(self, app: Any, request: Request, **kwargs: Any) -> ASGIApp:  # type: ignore[override]
        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            await load_viewer_for_error_page(request)
            await Template.to_asgi_response(self, app, request, **kwargs)(scope, receive, send)

        return respond


async def load_viewer_for_error_page(request: Request) -> None:
    """The viewer of a request whose handler never loaded it, on a short session of its own (the request's may be
    the one that failed); not after a lost database connection. It never stops the error page: at worst the page
    shows the signed-out header."""
    if "viewer" in request.state or request.state.get(_DATABASE_LOST):
        return
    request.state.viewer, request.state.unread = None, 0
    token = request.cookies.get(SESSION_COOKIE)
    open_session = request.app.state.get("sessions")
    if not token or open_session is None:
        return
    try:
        async with open_session() as db:
            found = await accounts.user_for_session(db, token, days=settings_of(request).session_days, touch=False)
            if found is not None:
                request.state.viewer = found[0]
                request.state.unread = await notifications.unread_count(db, found[0].id)
    except Exception:  # noqa: BLE001 - the error page is shown whatever happens here
        logger.warning("error page for %s %s shown without its viewer", request.method, request.url.path, exc_info=True)


DATABASE_RETRY_AFTER_SECONDS = 3
_DATABASE_LOST = "database_connection_lost"  # request.state: this answer is the 503 of a lost database connection


def handle_database_unavailable(request: Request, exc: Exception) -> Response[Any]:
    """The request's database connection died (or none could be had): 503 with Retry-After, a problem for API
    paths and the error page for pages; one warning, no traceback (nothing in the code is wrong)."""
    request.state[_DATABASE_LOST] = True
    cause = connection_error_summary(exc)
    logger.warning("database connection lost during %s %s: %s", request.method, request.url.path, cause)
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    if is_machine_request(request):
        detail = "The connection to the database was lost. Try again in a few seconds."
        return _problem(request, 503, "Service unavailable", detail, headers=headers)
    detail = "Porchlight lost its connection to its database for a moment. Try again in a few seconds."
    return error_page(request, 503, "Try again in a moment", detail, headers=headers)


class RetryReadOnLostConnection(ASGIMiddleware):
    """A GET or HEAD whose database connection died before its answer started runs once more on a fresh connection
    (the pool's pre-ping replaces a connection cut while idle; this is one cut while the request used it). Once:
    a second loss is the 503. Reads only: a write may have committed before the cut, its client decides. A read
    that records something (a session touched, a police access to a contact card) may record it twice, as the
    client's own retry after the 503 would."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, session_scope_key: str) -> None:
        self.session_scope_key = session_scope_key

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await next_app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        before = dict(state)
        lost = False

        async def hold_the_lost_connection_answer(message: Message) -> None:
            nonlocal lost
            lost = lost or (message["type"] == "http.response.start" and bool(state.get(_DATABASE_LOST)))
            if not lost:
                await send(message)

        await next_app(scope, receive, hold_the_lost_connection_answer)
        if not lost:
            return
        await close_request_session(scope, self.session_scope_key)  # its before-send hook never saw the 503
        state.clear()
        state.update(before)  # what the first run learnt (the viewer) came from the dead connection
        ScopeState.from_scope(scope).response_started = False  # nothing was sent (Litestar's own flag, else it
        # would take an exception in the second run for one raised after the answer started)
        logger.info("%s %s: read again on a fresh database connection", scope["method"], scope["path"])
        await next_app(scope, receive, send)
