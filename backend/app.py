"""create_app(settings): the one place that wires plugins, routers and middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from jinja2 import StrictUndefined
from litestar import Litestar, Request, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from sqlalchemy import Integer, literal, literal_column, select, text

from backend.accounts.api import AuthController, MeController
from backend.accounts.models import AGENCY_ROLES
from backend.accounts.pages import AccountPages, AdminUserPages
from backend.accounts.service import AGENCY_IDLE_LIMIT
from backend.accounts.session_cache import SESSION_CACHE, AppSession, SessionCache
from backend.compression import GzipMiddleware
from backend.db import alchemy_config, connection_lost, make_engine
from backend.devices.api import DeviceApi, DeviceController
from backend.devices.desired import HUB as DESIRED_STATE
from backend.devices.pages import DevicePages
from backend.devices.service import HeartbeatBatcher
from backend.districts.admin_pages import DistrictAdminPages
from backend.districts.announcement_pages import AnnouncementApi, AnnouncementPages, MemberDistrictPages, MembershipApi
from backend.districts.api import DistrictApi
from backend.districts.coverage_pages import CoverageApi, CoveragePages
from backend.districts.invite_pages import InviteApi, InvitePages, JoinApi, JoinPages
from backend.districts.pages import DistrictPages
from backend.errors import ServiceError
from backend.hot_reads import HotRead
from backend.listening import listening
from backend.local_time import local_time
from backend.navigation import navigation_for
from backend.notifications.api import NotificationController, PushController
from backend.notifications.delivery import allowed_push_hosts, check_delivery_settings, running_worker, vapid_keys
from backend.notifications.pages import DevMailboxPage, NotificationPages, PushAdminPages
from backend.openapi import StrictStructSchemaPlugin, declare_answers
from backend.pwa import PwaRoutes
from backend.registry.api import CameraController, SiteController
from backend.registry.models import RECORDER_LABELS
from backend.registry.pages import RegistryPages
from backend.requests.api import (
    AgencyController,
    AgencyRequestController,
    OwnerRequestController,
    UploadController,
)
from backend.requests.console import ConsolePages
from backend.requests.evidence import ClipStore
from backend.requests.pages import OwnerRequestPages
from backend.settings import Settings
from backend.sharing.api import LiveController, LiveDeskController, ShareController
from backend.sharing.desk import LiveDeskPages
from backend.sharing.pages import SharePages
from backend.sharing.relay import running_relay
from backend.sweeper import running_sweeper
from backend.validation import form_labels
from backend.web import (
    STATIC_DIR,
    TEMPLATE_DIR,
    RetryReadOnLostConnection,
    allow_header,
    assets_version,
    error_page,
    handle_database_unavailable,
    handle_http_exception,
    handle_service_error,
    is_machine_request,
    pages_answer_in_html,
    refuse_nul_characters,
    resolve_dependencies_in_turn,
    security_headers,
)
from push.outbox import DOORBELL

logger = logging.getLogger("porchlight")


# A read of the database file's header on SQLite (SELECT 1 would not open the file); a round trip on PostgreSQL.
_SCHEMA_VERSION, _ONE = literal_column("schema_version", Integer), literal(1)
_REACHABLE = {
    "sqlite": HotRead(select(_SCHEMA_VERSION).select_from(text("pragma_schema_version")), _SCHEMA_VERSION),
    "postgresql": HotRead(select(_ONE), _ONE),
}


@get(
    "/health",
    tags=["operations"],
    cache=False,
    responses={
        503: ResponseSpec(dict[str, str], description="The database cannot be reached", generate_examples=False)
    },
)
async def health(state: State) -> Response[dict[str, str]]:
    """200 when the app can reach its database, 503 when it cannot. One read on a connection of its own, without an
    ORM session or a transaction (backend.hot_reads): on PostgreSQL a pooled connection's round trip; on SQLite the
    file's header, read in place, as the signed-in pages' reads are."""
    engine = state.engine
    try:
        await _REACHABLE[engine.dialect.name].rows_outside(engine)
    except Exception:  # any database failure means "not healthy", never a 500 page
        logger.exception("health check: database unreachable")
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})


def _handle_unexpected(request: Request, exc: Exception) -> Response[Any]:
    if connection_lost(exc):
        return handle_database_unavailable(request, exc)
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    if is_machine_request(request):
        return handle_http_exception(request, HTTPException(status_code=500, detail="Internal server error"))
    return error_page(request, 500, "Something went wrong", "The error was logged. Try again in a moment.")


def _file_size(size: int) -> str:
    """Bytes as a person reads them: 950 bytes, 12.4 MB, 1.8 GB (decimal units, as phones show files)."""
    if size < 1000:
        return f"{size} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    """A span of time as a person reads it: 45 s, 12 min, 3 h 5 min, 4 days, 10 years."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / (365.25 * 86400):.0f} years"


def create_app(settings: Settings | None = None, *, relay_only: bool = False) -> Litestar:
    """The app; with `relay_only`, just the live relay's WHIP/WHEP endpoints (`porchlight relay`)."""
    settings = settings or Settings.from_env()
    check_delivery_settings(settings)
    engine = make_engine(settings)
    session_holders = SessionCache()
    database = alchemy_config(settings, engine, AppSession, info={SESSION_CACHE: session_holders})
    version = assets_version()

    @asynccontextmanager
    async def background_work(app: Litestar) -> AsyncIterator[None]:
        """Push delivery and the sweepers, inside this process unless configured otherwise; the live relay's watch
        over its shares; and, always, the LISTEN for desired-state changes that this process's device long-polls
        wait for, for account changes that this process's remembered sessions must forget, and for deliveries
        queued (which wake this process's worker, if it runs one)."""
        followers = [DESIRED_STATE, session_holders, DOORBELL]
        async with listening(settings.database_url, followers), running_relay(engine):
            if relay_only or not settings.background_in_process:
                yield
                return
            async with running_worker(settings, engine), running_sweeper(engine, ClipStore(settings.evidence_path)):
                yield

    def configure_templates(engine_: JinjaTemplateEngine) -> None:
        # A misspelt or missing variable is an error, not an empty string on the page.
        engine_.engine.undefined = StrictUndefined
        # Templates change with a release, as the code does: no look at every template file's time on every page.
        engine_.engine.auto_reload = False
        engine_.engine.globals.update(
            static_url=lambda path: f"/static/{version}/{path}",
            settings=settings,
            recorder_labels=RECORDER_LABELS,
            is_agency_account=lambda user: bool(user.role_names & AGENCY_ROLES),
            agency_idle_seconds=int(AGENCY_IDLE_LIMIT.total_seconds()),
            form_labels=form_labels,
            navigation_for=navigation_for,
        )
        engine_.engine.filters["local_time"] = local_time
        engine_.engine.filters["file_size"] = _file_size
        engine_.engine.filters["duration"] = _duration

    handlers: list[Any] = [
        health,
        PwaRoutes,
        create_static_files_router(
            path=f"/static/{version}",
            directories=[STATIC_DIR],
            cache_control=CacheControlHeader(max_age=31_536_000, public=True),
            name="static",
        ),
        AuthController,
        MeController,
        SiteController,
        CameraController,
        PushController,
        NotificationController,
        AgencyRequestController,
        OwnerRequestController,
        UploadController,
        AgencyController,
        AccountPages,
        AdminUserPages,
        RegistryPages,
        NotificationPages,
        PushAdminPages,
        DevMailboxPage,
        OwnerRequestPages,
        ConsolePages,
        DeviceApi,
        DeviceController,
        DevicePages,
        ShareController,
        LiveDeskController,
        LiveDeskPages,
        SharePages,
        DistrictPages,
        InvitePages,
        JoinPages,
        InviteApi,
        JoinApi,
        DistrictApi,
        AnnouncementPages,
        MemberDistrictPages,
        AnnouncementApi,
        MembershipApi,
        CoveragePages,
        CoverageApi,
        DistrictAdminPages,
        *([LiveController] if settings.relay_in_process else []),
    ]
    app = Litestar(
        route_handlers=[health, LiveController] if relay_only else handlers,
        plugins=[SQLAlchemyPlugin(config=database), StrictStructSchemaPlugin()],
        middleware=[GzipMiddleware, RetryReadOnLostConnection(database.session_scope_key)],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            # The service worker renews a subscription without a page (no token); the old auth secret proves it.
            exclude=["/api/v1/push/subscription-change"],
        ),
        before_request=refuse_nul_characters,
        before_send=[security_headers(settings), allow_header],
        template_config=TemplateConfig(
            directory=TEMPLATE_DIR, engine=JinjaTemplateEngine, engine_callback=configure_templates
        ),
        exception_handlers={
            ServiceError: handle_service_error,
            HTTPException: handle_http_exception,
            Exception: _handle_unexpected,
        },
        openapi_config=OpenAPIConfig(
            title="Porchlight API",
            version="1",
            path="/schema",
            # JSON only: the interactive viewers load scripts from CDNs, which the CSP forbids.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        state=State(
            {
                "settings": settings,
                "assets_version": version,
                "vapid_public_key": vapid_keys(settings).public_key,
                "push_hosts": allowed_push_hosts(settings),
                "engine": engine,
                "heartbeats": HeartbeatBatcher(engine),
                "session_holders": session_holders,
                # Error pages look up who is signed in on a session of their own (web.ErrorPage).
                "sessions": database.create_session_maker(),
            }
        ),
        lifespan=[background_work],
        on_shutdown=[engine.dispose],
    )
    declare_answers(app)
    pages_answer_in_html(app)
    resolve_dependencies_in_turn(app)
    return app


def create_app_from_env() -> Litestar:
    """Factory for ASGI servers (uvicorn --factory backend.app:create_app_from_env)."""
    return create_app(Settings.from_env())


def create_relay_from_env() -> Litestar:
    """Factory for `porchlight relay`: the live relay alone."""
    return create_app(Settings.from_env(), relay_only=True)
