"""Share now, the whole loop in browsers: an owner (phone) shares a site whose real edge agent sends a simulated
camera; the live desk (laptop) is alerted, plays the video over WHEP through the real relay, says "I'm watching"
(the owner's push arrives at a push service), and when the owner stops, the desk's video stops within 2 s.

This module runs its own server (with a fake push service it trusts) on its own database; the package's browser
is shared. Database work runs on a thread: Playwright's sync API holds this thread's event loop."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import migrate
from push.fake_service import FakePushService
from tests.agent_process import SIMULATED_CAMERA, Agent, start_pairing
from tests.databases import create_database, drop_database
from tests.e2e import seed
from tests.e2e.conftest import PHONE, TIMEOUT_MS, TileServer
from tests.e2e.helpers import (
    DETECTIVE_PASSWORD,
    add_site,
    log_in_agency,
    new_owner,
    sign_up,
    wait_until,
    watch_for_problems,
)
from tests.live_server import running_server

pytestmark = pytest.mark.e2e

LAPTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}, "is_mobile": False, "has_touch": False}
AGENCY = "Milwaukee PD"
DESK_NAME = "J. Ortiz"
VIDEO_START_S = 30  # pairing done: the agent's next desired state, the WHIP offer, ICE, the first key frame


class LiveServer(NamedTuple):
    url: str
    database_url: str
    push: FakePushService


def _on_a_thread(work: Callable[[], Any]) -> Any:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, tile_server: TileServer) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("share-live")
    database_url = _on_a_thread(lambda: create_database(directory, "share_live"))
    _on_a_thread(lambda: migrate(database_url))
    try:
        with (
            FakePushService.running() as push,
            running_server(
                database_url, directory, PORCHLIGHT_MAP_TILE_URL=tile_server.url,
                PORCHLIGHT_PUSH_EXTRA_HOSTS="127.0.0.1", PORCHLIGHT_PUSH_CA_FILE=push.ca_file,
            ) as url,
        ):  # fmt: skip
            yield LiveServer(url, database_url, push)
    finally:
        _on_a_thread(lambda: drop_database(database_url))


def live_desk_account(database_url: str, email: str, password: str, totp_secret: str) -> None:
    async def work(db: AsyncSession) -> None:
        user = await accounts.create_user(
            db, email=email, password=password, display_name=DESK_NAME, roles=[Role.LIVE_DESK], agency_name=AGENCY
        )
        user.totp_secret, user.totp_confirmed_at = totp_secret, dt.datetime.now(dt.UTC)
        await db.commit()

    seed.run(database_url, work)


class Api:
    """The owner's JSON calls, made with the owner's browser session and CSRF token, as the app's scripts do."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def csrf(self) -> str:
        return next(c["value"] for c in self.page.context.cookies() if c["name"] == "csrftoken")

    def get(self, path: str) -> Any:
        response = self.page.request.get(path)
        assert response.ok, f"GET {path}: {response.status} {response.text()}"
        return response.json()

    def post(self, path: str, body: Any = None, expect_status: int = 200) -> Any:
        response = self.page.request.post(path, data=body, headers={"x-csrftoken": self.csrf()})
        assert response.status == expect_status, f"POST {path}: {response.status} {response.text()}"
        return response.json() if response.text() else None


def frames(video: Any) -> int:
    return int(video.get_attribute("data-frames") or 0)


def test_the_desk_plays_a_live_share_says_it_is_watching_and_the_video_stops_when_the_owner_stops(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    desk_email, desk_secret = f"desk-{tag}@mpd.example", pyotp.random_base32()
    live_desk_account(live_server.database_url, desk_email, DETECTIVE_PASSWORD, desk_secret)
    contexts: list[Any] = []
    problems: list[str] = []

    def new_context(**options: Any) -> Any:
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    agents: list[Agent] = []
    try:
        # The owner, on a phone: an account, a site, and an edge device paired to it that sends one camera.
        phone = watch_for_problems(new_context(**PHONE).new_page(), problems)
        sign_up(phone, new_owner("live"))
        site_url = add_site(phone, f"Bakery {tag}")
        site_id = site_url.rsplit("/", 1)[1]
        owner = Api(phone)
        config = tmp_path / "edge.toml"
        pairing, code = start_pairing(live_server.url, config)
        agents.append(pairing)
        owner.post("/api/v1/devices/pair", {"user_code": code, "name": "Storefront core", "site_id": site_id},
                   expect_status=201)  # fmt: skip
        pairing.wait_for_line(lambda line: line.startswith("Paired as"), timeout=20)
        with config.open("a") as file:
            file.write(SIMULATED_CAMERA)
        agents.append(Agent("run", "--config", str(config), "--interval", "1"))

        def camera_sending() -> bool:
            return any(s["id"] == site_id and s["cameras"] for s in owner.get("/api/v1/shares/shareable"))

        wait_until(camera_sending, "the device's camera to send video", timeout_s=30)

        # The live desk, on a laptop, has the desk open before anything is shared.
        desk = watch_for_problems(new_context(**LAPTOP).new_page(), problems)
        log_in_agency(desk, desk_email, DETECTIVE_PASSWORD, desk_secret, lands_on="/live")
        expect(desk.get_by_role("heading", name="Live desk", level=1)).to_be_visible()
        expect(desk.get_by_text("No one is sharing live video right now.")).to_be_visible()
        title = desk.title()

        share = owner.post(
            "/api/v1/shares", {"site_id": site_id, "minutes": 15, "note": f"Break-in at the back {tag}"},
            expect_status=201,
        )  # fmt: skip

        # A new share: an alert that is announced, a highlighted entry, and the tab's title says so.
        item = desk.get_by_test_id("live-share").filter(has_text=f"Bakery {tag}")
        expect(item).to_be_visible()
        expect(item).to_have_class(re.compile(r"\blive-new\b"))
        expect(desk.get_by_role("alert")).to_contain_text(f"New live share (owner): Bakery {tag}")
        assert desk.title() == f"(1 new) {title}"
        expect(item).to_contain_text(f"Break-in at the back {tag}")
        expect(item).to_contain_text("Started by the owner in the app")
        expect(item).to_contain_text("Front door")
        item.get_by_role("link", name=re.compile(f"Bakery {tag}")).click()

        # Its page plays the camera: frames are decoded, and they are the agent's live frames (its clock).
        expect(desk.get_by_role("heading", name=f"Bakery {tag}", level=1)).to_be_visible()
        video = desk.get_by_test_id("live-camera").filter(has_text="Front door").locator("video")
        wait_until(lambda: frames(video) > 10, "the desk's video to decode 10 frames", timeout_s=VIDEO_START_S)
        assert video.evaluate("v => v.videoWidth") == 640 and video.evaluate("v => v.videoHeight") == 360
        assert video.evaluate("v => v.getVideoPlaybackQuality().totalVideoFrames") > 0
        latency_ms = desk.evaluate("PorchlightLive.latencies()")[0]
        assert latency_ms is not None and -500 < latency_ms < 5000, latency_ms
        expect(desk.get_by_test_id("live-camera").get_by_role("status")).to_have_text("Live")
        expect(desk.locator("[data-live-map] .map-tile").first).to_be_visible()

        # "I'm watching": the owner's phone gets the push (through the push service), and the desk sees it said.
        subscription = live_server.push.new_subscription()
        owner.post("/api/v1/push/subscriptions", subscription, expect_status=201)
        desk.get_by_role("button", name="I'm watching").click()
        expect(desk.get_by_text("You told the owner you are watching")).to_be_visible()
        [message] = live_server.push.wait_for_messages(1, subscription, timeout=15)
        assert message.json()["notification"]["title"] == f"{AGENCY} live desk ({DESK_NAME}) is watching"
        assert owner.get(f"/api/v1/shares/{share['id']}")["acknowledged_by"] == DESK_NAME

        desk.get_by_role("button", name="+30 min").click()
        expect(desk.get_by_text("Asked the owner; waiting for their answer")).to_be_visible()
        assert owner.get(f"/api/v1/shares/{share['id']}")["extension_asked_minutes"] == 30

        # The owner stops: within 2 s the desk's video stops and the page says how the share ended.
        playing = frames(video)
        wait_until(lambda: frames(video) > playing, "the video to keep playing before the stop")
        owner.post(f"/api/v1/shares/{share['id']}/stop")
        stopped_at = time.monotonic()
        expect(desk.get_by_role("alert").filter(has_text="ended")).to_have_text(
            "This share has ended — ended by the owner", timeout=2000
        )
        assert time.monotonic() - stopped_at < 2.0
        after_stop = frames(video)
        time.sleep(1.0)
        assert frames(video) == after_stop, "the desk's video kept playing after the share ended"
        assert video.evaluate("v => v.srcObject === null")
        expect(desk.get_by_role("button", name="I'm watching")).to_be_disabled()

        # The agency's audit shows who opened it, said they were watching, and asked for more time.
        desk.get_by_role("navigation", name="Main").get_by_role("link", name="Live audit").click()
        rows = desk.get_by_test_id("live-audit-row").filter(has_text=f"Bakery {tag}")
        expect(rows.filter(has_text="Opened live video")).to_have_count(1)
        expect(rows.filter(has_text="Told the owner they are watching")).to_have_count(1)
        expect(rows.filter(has_text="Asked for more time")).to_have_count(1)
        # The share is no longer on the desk.
        desk.get_by_role("link", name="Live desk").first.click()
        expect(desk.get_by_test_id("live-share").filter(has_text=f"Bakery {tag}")).to_have_count(0)
    finally:
        for agent in agents:
            agent.stop()
        for context in contexts:
            context.close()
    assert not problems, f"the pages reported problems: {problems}"
