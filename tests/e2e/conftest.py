"""Browser tests: one Porchlight server and one Chromium for the e2e run, a fresh browser context per test.

The server is the real app (`uvicorn backend.app:create_app_from_env`) on a free port, on its own migrated
database: a SQLite file, or a new PostgreSQL database when PORCHLIGHT_TEST_DATABASE_URL is set. Its maps take
their tiles from a small local tile server, as a deployment with PORCHLIGHT_MAP_TILE_URL would.

The server and the browser live for the `tests/e2e` package: Playwright's sync API marks an asyncio loop as
running between its calls, so it must be stopped before the async tests elsewhere in the suite run. Under
pytest-xdist (`--dist loadgroup`) the package's tests are one group, run one after another by one worker, so the
server and the browser start once, not on every worker and again whenever a worker comes back to the package.
"""

from __future__ import annotations

import http.server
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import sync_playwright

from backend.db import migrate
from tests.databases import create_database, drop_database
from tests.e2e.helpers import Owner, new_owner, off_the_loop, sign_up, watch_for_problems
from tests.live_server import running_server
from tests.smtp import Inbox, free_port

# Debian's chromium package; another machine can point PORCHLIGHT_E2E_CHROMIUM at its own Chromium.
CHROMIUM = Path(os.environ.get("PORCHLIGHT_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: dict[str, Any] = {"viewport": {"width": 360, "height": 780}, "is_mobile": True, "has_touch": True}
# Long enough for a slow CI machine, short enough that a missing element fails the test quickly.
TIMEOUT_MS = 10_000


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    package = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(package):
            item.add_marker(pytest.mark.xdist_group("e2e"))


def _browser_missing(reason: str) -> None:
    """In CI a missing browser is a broken build, not a reason to skip the browser tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def server_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the e2e server's database, for tests that seed what a person would not type (agency accounts)."""
    database_url = create_database(tmp_path_factory.mktemp("e2e-db"), "e2e")
    yield database_url
    drop_database(database_url)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain image of one colour, as a map tile."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class _Tiles(http.server.BaseHTTPRequestHandler):
    tile = _png(256, 256, (221, 227, 234))
    requested: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.requested.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.tile)))
        self.end_headers()
        self.wfile.write(self.tile)

    def log_message(self, *args: Any) -> None:
        pass


class TileServer(NamedTuple):
    url: str  # the tile URL template the app is given
    requested: list[str]  # the paths browsers asked for


@pytest.fixture(scope="package")
def tile_server() -> Iterator[TileServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield TileServer(f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", _Tiles.requested)
    server.shutdown()


@pytest.fixture(scope="package")
def server_url(
    tmp_path_factory: pytest.TempPathFactory, server_database: str, tile_server: TileServer
) -> Iterator[str]:
    """Base URL of a running Porchlight on a fresh, migrated database."""
    migrate(server_database)
    with running_server(
        server_database, tmp_path_factory.mktemp("e2e-var"), PORCHLIGHT_MAP_TILE_URL=tile_server.url
    ) as url:
        yield url


@pytest.fixture(scope="package")
def chromium() -> Path:
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} is not installed (apt-get install -y chromium, or set PORCHLIGHT_E2E_CHROMIUM)")
    return CHROMIUM


@pytest.fixture(scope="package")
def playwright(chromium: Path, server_url: str) -> Iterator[Any]:
    # After the server: its database is created (asyncio.run) before Playwright holds a loop,
    # and dropped after Playwright has let go of it.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Any, chromium: Path) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser: Any, server_url: str) -> Iterator[Any]:
    """Makes browser contexts (phone-sized unless told otherwise); all are closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(base_url=server_url, **{**PHONE, **options})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Any) -> Iterator[Any]:
    """A page in a fresh phone context; the test fails if a script throws or the CSP blocks anything."""
    problems: list[str] = []
    page = watch_for_problems(new_context().new_page(), problems)
    yield page
    assert not problems, f"the page reported problems: {problems}"


@pytest.fixture(scope="package")
def owner(browser: Any, server_url: str) -> Owner:
    """An owner account for tests that only read: signed up once, through the sign-up page."""
    owner = new_owner("shared")
    context = browser.new_context(base_url=server_url, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    sign_up(context.new_page(), owner)
    context.close()
    return owner


@pytest.fixture
def persistent_context(playwright: Any, chromium: Path, server_url: str, tmp_path: Path) -> Iterator[Any]:
    """A browser with a profile on disk: the only kind Chromium considers installable (not incognito)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(chromium),
        args=CHROMIUM_ARGS,
        headless=True,
        base_url=server_url,
        **PHONE,
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def mail() -> Iterator[tuple[str, Inbox]]:
    """A plain SMTP server on loopback (a relay on the same host: smtp://), and what it received."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", inbox
    controller.stop()


class MailingServer(NamedTuple):
    url: str
    database_url: str


@pytest.fixture
def mailing_server(tmp_path: Path, mail: tuple[str, Inbox]) -> Iterator[MailingServer]:
    """A Porchlight of the test's own, on its own database, that sends its email to `mail` (the package's server
    saves mail to its development mailbox, and its delivery worker would take this mail too if they shared one)."""
    database_url = off_the_loop(create_database, tmp_path, "e2e_mail")
    off_the_loop(migrate, database_url)
    try:
        with running_server(database_url, tmp_path, PORCHLIGHT_SMTP_URL=mail[0]) as url:
            yield MailingServer(url, database_url)
    finally:
        off_the_loop(drop_database, database_url)
