"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when PORCHLIGHT_TEST_DATABASE_URL is set),
the app built from test settings, and an HTTP client that speaks CSRF like the PWA does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.session_cache import SESSION_CACHE, AppSession
from backend.app import create_app
from backend.db import make_engine, migrate
from backend.models import Base
from backend.notifications.delivery import ssl_context, vapid_keys
from backend.settings import Settings
from push.fake_service import FakePushService
from push.sender import PushSender
from push.vapid import VapidSigner
from push.worker import DeliveryWorker
from tests.databases import create_database, drop_database


@pytest.hookimpl(trylast=True)  # after pytest-xdist has named each test's group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist the tests marked `slow` are handed out first, so that none of them starts last while the
    other workers have nothing left to do. A run in one process keeps the order the tests are written in."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if getattr(config.option, "loadgroup", False):
        # The group rides on the test's id ("...::test_x@e2e"); on pytest 9.2 it no longer does (pytest-xdist issue
        # 1386), and the groups would silently be spread over the workers.
        grouped = [item.nodeid for item in items if item.get_closest_marker("xdist_group")]
        if any("@" not in nodeid.rsplit("::", 1)[-1] for nodeid in grouped):
            raise pytest.UsageError("pytest-xdist did not keep the xdist_group tests together (--dist loadgroup)")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (anyio_mode = auto) run on asyncio, like the app."""
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = create_database(tmp_path_factory.mktemp("db"), "test")
    migrate(url)
    yield url
    drop_database(url)


def make_settings(database_url: str, var_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "var_dir": var_dir,
        "show_demo_logins": False,
        # Tests run the push worker themselves, step by step.
        "background_in_process": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test database, emptied before the test starts."""
    engine = make_engine(settings)
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
    async with AppSession(engine, expire_on_commit=False) as session:  # as the app's (see `app`)
        yield session
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, db: AsyncSession) -> AsyncIterator[Litestar]:
    """The app, started (lifespan) in the test's own event loop. What `db` changes is changed in the app's process:
    the sessions the app remembers are forgotten at its commit, as they are after the app's own changes (tests of
    other processes' changes: tests/accounts/test_session_path.py)."""
    application = create_app(settings)
    db.sync_session.info[SESSION_CACHE] = application.state.session_holders
    async with application.lifespan():
        yield application


class Client(httpx.AsyncClient):
    """A browser-like client calling the app in-process; it carries the CSRF token on unsafe requests,
    as the PWA's pages and fetches do."""

    def __init__(self, app: Litestar, base_url: str = "http://testserver.local") -> None:
        super().__init__(transport=httpx.ASGITransport(app=app), base_url=base_url, follow_redirects=True)
        self.app = app

    async def csrf_token(self) -> str:
        if "csrftoken" not in self.cookies:
            await self.get("/health")
        return self.cookies["csrftoken"]

    async def send_json(self, method: str, url: str, json: object = None, **kwargs: object):
        headers = {"x-csrftoken": await self.csrf_token(), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return await self.request(method, url, json=json, headers=headers, **kwargs)  # type: ignore[arg-type]

    async def submit(self, url: str, data: dict[str, object], **kwargs: object):
        """Post a form with its hidden CSRF field, as a browser does."""
        return await self.post(url, data={"_csrf_token": await self.csrf_token(), **data}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[Client]:
    async with Client(app) as test_client:
        yield test_client


@pytest.fixture
async def other_client(app: Litestar) -> AsyncIterator[Client]:
    """A second browser, for a second user."""
    async with Client(app) as test_client:
        yield test_client


@pytest.fixture
async def push_service() -> AsyncIterator[FakePushService]:
    """The RFC 8030 push service for tests: checks VAPID, decrypts and records every message."""
    async with FakePushService.serving() as fake:
        yield fake


@pytest.fixture
def push_settings(settings: Settings, push_service: FakePushService) -> Settings:
    return replace(settings, push_extra_hosts=("127.0.0.1",), push_ca_file=push_service.ca_file)


@pytest.fixture
async def worker(push_settings: Settings, db: AsyncSession) -> AsyncIterator[DeliveryWorker]:
    """A worker the test drives one batch at a time (run_once), as the app's would run continuously."""
    engine = make_engine(push_settings)
    signer = VapidSigner(vapid_keys(push_settings), push_settings.vapid_subject)
    async with PushSender(signer, ssl_context=ssl_context(push_settings), timeout_seconds=1.0) as sender:
        yield DeliveryWorker(async_sessionmaker(engine, expire_on_commit=False), sender)
    await engine.dispose()
