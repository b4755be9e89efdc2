"""Web Push in the browser: the service worker's push and notificationclick handlers, and the settings screen.

There is no push service here, so pushes come through the DevTools protocol (ServiceWorker.deliverPushMessage),
which fires the worker's real `push` event with the data a push service would hand over.

Chromium lets a service worker focus or open a window only while it handles a notification click the person
really made; a click dispatched from a test (`new NotificationEvent("notificationclick")`) is refused with
"Not allowed to focus a window." / "Not allowed to open a window.". The click tests therefore replace
`WindowClient.focus` and `Clients.openWindow` (and only those two) with recorders standing in for that
permission; finding the window, `WindowClient.navigate` and closing the notification are Chromium's own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, TIMEOUT_MS
from tests.e2e.helpers import new_owner, sign_up, use_service_worker, wait_until, watch_for_problems

pytestmark = pytest.mark.e2e

GENERIC_TITLE = "Porchlight"
GENERIC_BODY = "You have a new notification. Open Porchlight to see it."
UNREACHABLE = "The browser's push service could not be reached. Check the connection and try again."
BLOCKED = "Notifications are blocked for Porchlight in this browser's site settings. Allow them there, then reload."
NOT_GIVEN = "Permission was not given, so this device will not get notifications."
HOME_SCREEN = "Notifications need Porchlight on your Home Screen."
NO_DEVICES = "No device gets notifications yet."
EMPTY_LIST = (
    "Nothing yet. When police ask for footage near your cameras, it appears here, "
    "even if a push notification does not arrive."
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
# Safari in an iPhone browser tab (not on the Home Screen) has no Notification or PushManager.
SAFARI_TAB_WITHOUT_PUSH = "delete window.PushManager; delete window.Notification;"

# Counts pushManager.subscribe() calls (and lets them through), so a test knows when the page is waiting on one.
COUNT_SUBSCRIBE_CALLS = """(() => {
  const subscribe = PushManager.prototype.subscribe;
  PushManager.prototype.subscribe = function (...args) {
    window.pushSubscribeCalls = (window.pushSubscribeCalls || 0) + 1;
    return subscribe.apply(this, args);
  };
})();"""

SHOWN_JS = """navigator.serviceWorker.ready.then(r => r.getNotifications()).then(shown => shown.map(n => (
  {title: n.title, body: n.body, tag: n.tag, data: n.data, timestamp: n.timestamp})))"""

# Runs inside the service worker: click the notification with `tag` the way Chromium would dispatch it, and report
# which windows the handler focused or opened, how its waitUntil promise ended, and which notifications remain.
CLICK_JS = """async ({tag, asRealClick}) => {
  const calls = [];
  const focus = WindowClient.prototype.focus, openWindow = Clients.prototype.openWindow;
  if (asRealClick) {
    WindowClient.prototype.focus = function () { calls.push({focus: this.url}); return Promise.resolve(this); };
    Clients.prototype.openWindow = function (url) { calls.push({open: url}); return Promise.resolve(null); };
  }
  try {
    const [notification] = await self.registration.getNotifications({tag});
    const event = new NotificationEvent("notificationclick", {notification});
    const pending = [];
    // A synthetic event may not extend itself; collect the promise instead of letting waitUntil throw.
    event.waitUntil = promise => { pending.push(promise); };
    self.dispatchEvent(event);
    const outcome = (await Promise.allSettled(pending))
      .map(s => s.status === "fulfilled" ? "fulfilled" : `${s.reason.name}: ${s.reason.message}`);
    const remaining = (await self.registration.getNotifications()).map(n => n.tag);
    return {calls, outcome, remaining};
  } finally {
    WindowClient.prototype.focus = focus;
    Clients.prototype.openWindow = openWindow;
  }
}"""


def declarative(title: str, body: str, navigate: str, tag: str, badge: str | None = None) -> dict[str, Any]:
    """A Declarative Web Push payload as the server sends it."""
    payload: dict[str, Any] = {
        "web_push": 8030,
        "notification": {"title": title, "body": body, "navigate": navigate, "tag": tag},
    }
    if badge is not None:
        payload["app_badge"] = badge
    return payload


class PushChannel:
    """Delivers push messages to the page's service worker through CDP, as the push service would."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.cdp = page.context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        self.cdp.on(
            "ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"])
        )
        self.cdp.send("ServiceWorker.enable")

        def ours() -> str | None:
            page.wait_for_timeout(10)  # let Playwright dispatch the CDP events
            scope = f"{origin}/"
            found = [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]
            return found[-1]["registrationId"] if found else None

        self.registration_id: str = wait_until(ours, "the service worker registration over CDP")

    def deliver(self, data: str | dict[str, Any]) -> None:
        self.last = data if isinstance(data, str) else json.dumps(data)
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.origin, "registrationId": self.registration_id, "data": self.last},
        )

    def shown(self) -> list[dict[str, Any]]:
        """The notifications the service worker is showing (title, body, tag, data, timestamp)."""
        return self.page.evaluate(SHOWN_JS)

    def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], what: str) -> list[dict[str, Any]]:
        """Until the notifications shown meet `condition`. Chromium now and then drops a message CDP delivers,
        mostly the first after a worker starts or a page navigates (about one run of this file in ten: worker
        running and activated, permission granted, no error, nothing shown; the same message again shows at
        once). So the last message is delivered again every 2 s until the condition holds: a repeat replaces
        its notification by tag, so it never adds one, and a worker that cannot show it still fails the test."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        again_at = time.monotonic() + 2
        while True:
            shown = self.shown()
            if condition(shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            if time.monotonic() > again_at:
                self.deliver(self.last)
                again_at = time.monotonic() + 2
            time.sleep(0.02)


def service_worker(page: Page) -> Any:
    """Playwright's handle on the origin's service worker, for evaluating code inside it."""
    workers = page.context.service_workers
    return workers[0] if workers else page.context.wait_for_event("serviceworker")


def click_notification(page: Page, tag: str, *, as_real_click: bool = True) -> dict[str, Any]:
    return service_worker(page).evaluate(CLICK_JS, {"tag": tag, "asRealClick": as_real_click})


def shown_without_timestamps(shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in item.items() if key != "timestamp"} for item in shown]


@pytest.fixture(scope="module")
def session(browser: Any, server_url: str) -> dict[str, Any]:
    """One new account for this module, signed up once; each test's fresh context starts with its cookies."""
    context = browser.new_context(base_url=server_url, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    sign_up(context.new_page(), new_owner("push"))
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def signed_in(new_context: Any, session: dict[str, Any]) -> Iterator[Callable[..., Page]]:
    """Opens a signed-in page in a fresh context (phone-sized; options such as user_agent pass through).
    As with the `page` fixture, the test fails if a script throws or the CSP blocks anything."""
    problems: list[str] = []

    def open_page(**options: Any) -> Page:
        return watch_for_problems(new_context(storage_state=session, **options).new_page(), problems)

    yield open_page
    assert not problems, f"the page reported problems: {problems}"


@pytest.fixture
def push(signed_in: Callable[..., Page], server_url: str) -> PushChannel:
    """Signed in, the service worker active and in control, notifications allowed, and a push channel to it."""
    page = signed_in()
    use_service_worker(page, "/sites")
    page.context.grant_permissions(["notifications"], origin=server_url)
    return PushChannel(page, server_url)


# --- push -------------------------------------------------------------------------------------------------------


def test_a_declarative_push_shows_exactly_its_notification(push: PushChannel) -> None:
    assert push.shown() == []

    push.deliver(
        declarative("Footage request", "Police ask about Back door.", "/notifications?open=7", "request-7", "2")
    )

    shown = push.wait_for(lambda shown: len(shown) > 0, "the notification")
    assert shown_without_timestamps(shown) == [
        {
            "title": "Footage request",
            "body": "Police ask about Back door.",
            "tag": "request-7",
            "data": {"navigate": "/notifications?open=7"},
        }
    ]


def test_a_repeated_push_replaces_its_notification_and_another_tag_adds_one(push: PushChannel) -> None:
    first = declarative("Footage request", "Police ask about Back door.", "/notifications", "request-7")
    push.deliver(first)
    [shown] = push.wait_for(lambda shown: len(shown) == 1, "the first notification")

    # At-least-once delivery: the same message again replaces the notification (a newer timestamp), never stacks.
    push.deliver(first)
    replaced = push.wait_for(lambda now: len(now) != 1 or now[0]["timestamp"] != shown["timestamp"], "the repeat")
    assert len(replaced) == 1 and replaced[0]["tag"] == "request-7"
    push.deliver(declarative("Footage request", "Updated: police ask about 2 cameras.", "/notifications", "request-7"))
    replaced = push.wait_for(lambda now: any(n["body"].startswith("Updated") for n in now), "the updated repeat")
    assert [(n["tag"], n["body"]) for n in replaced] == [("request-7", "Updated: police ask about 2 cameras.")]

    push.deliver(declarative("Footage request", "Police ask about Driveway.", "/notifications", "request-8"))
    both = push.wait_for(lambda now: len(now) >= 2, "the second notification")
    assert sorted((n["tag"], n["body"]) for n in both) == [
        ("request-7", "Updated: police ask about 2 cameras."),
        ("request-8", "Police ask about Driveway."),
    ]


def test_a_push_that_is_not_a_declarative_payload_still_shows_a_generic_notification(push: PushChannel) -> None:
    generic = {
        "title": GENERIC_TITLE,
        "body": GENERIC_BODY,
        "tag": "porchlight",
        "data": {"navigate": "/notifications"},
    }

    push.deliver("garbage")
    shown = push.wait_for(lambda shown: len(shown) > 0, "the notification for a payload that is not JSON")
    assert shown_without_timestamps(shown) == [generic]

    # JSON, but without a notification member: the same generic notification, replacing the first.
    push.deliver({"web_push": 8030})
    again = push.wait_for(lambda now: now and now[0]["timestamp"] != shown[0]["timestamp"], "the second push")
    assert shown_without_timestamps(again) == [generic]


# --- notificationclick ------------------------------------------------------------------------------------------


def test_a_click_from_the_test_closes_the_notification_though_chromium_allows_no_window_focus(
    push: PushChannel,
) -> None:
    push.deliver(declarative("Footage request", "Police ask about Back door.", "/notifications", "request-7"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")

    result = click_notification(push.page, "request-7", as_real_click=False)

    assert result["calls"] == [] and result["remaining"] == []
    # The page is at /sites, so the handler focuses it before navigating: allowed only for a click the person made.
    assert result["outcome"] in (["fulfilled"], ["InvalidAccessError: Not allowed to focus a window."])


def test_clicking_a_notification_takes_the_open_window_to_its_target(push: PushChannel, server_url: str) -> None:
    page = push.page
    page.goto("/account")
    push.deliver(declarative("Footage request", "Police ask about Back door.", "/notifications", "request-7"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")

    result = click_notification(page, "request-7")

    assert result == {"calls": [{"focus": f"{server_url}/account"}], "outcome": ["fulfilled"], "remaining": []}
    expect(page).to_have_url(f"{server_url}/notifications")
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()


def test_clicking_a_notification_focuses_a_window_already_at_its_target_without_reloading(
    push: PushChannel, server_url: str
) -> None:
    page = push.page
    page.goto("/notifications")
    page.evaluate("window.stillTheSameDocument = true")
    push.deliver(declarative("Footage request", "Police ask about Back door.", "/notifications", "request-7"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")

    result = click_notification(page, "request-7")

    assert result == {"calls": [{"focus": f"{server_url}/notifications"}], "outcome": ["fulfilled"], "remaining": []}
    assert page.evaluate("window.stillTheSameDocument") is True


def test_clicking_a_notification_with_no_window_open_opens_one_at_its_target(
    push: PushChannel, server_url: str
) -> None:
    page = push.page
    worker = service_worker(page)
    push.deliver(declarative("Footage request", "Police ask about Back door.", "/notifications?open=7", "request-7"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")
    page.close()
    wait_until(
        lambda: worker.evaluate("clients.matchAll({type: 'window', includeUncontrolled: true})") == [],
        "the window to be gone",
    )

    result = worker.evaluate(CLICK_JS, {"tag": "request-7", "asRealClick": True})

    assert result == {
        "calls": [{"open": f"{server_url}/notifications?open=7"}],
        "outcome": ["fulfilled"],
        "remaining": [],
    }


def test_clicking_a_notification_pointing_at_another_site_goes_nowhere(push: PushChannel, server_url: str) -> None:
    page = push.page
    page.goto("/account")
    push.deliver(declarative("Footage request", "Police ask about Back door.", "https://example.com/phish", "odd"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")

    result = click_notification(page, "odd")

    assert result == {"calls": [], "outcome": [], "remaining": []}
    assert page.url == f"{server_url}/account"


def test_clicking_a_notification_takes_a_window_the_worker_does_not_control_to_its_target(
    push: PushChannel, server_url: str
) -> None:
    """A hard reload (Shift+Reload) leaves the page outside the worker's control; the click must still get there."""
    page = push.page
    page.goto("/account")
    with page.expect_navigation():
        push.cdp.send("Page.reload", {"ignoreCache": True})
    assert page.evaluate("navigator.serviceWorker.controller") is None
    push.deliver(declarative("Footage request", "Police ask about Back door.", "/notifications", "request-7"))
    push.wait_for(lambda shown: len(shown) == 1, "the notification")

    result = click_notification(page, "request-7")

    assert result["remaining"] == []
    assert result["outcome"] == ["fulfilled"], result
    opened = {"open": f"{server_url}/notifications"} in result["calls"]
    if not opened:
        expect(page).to_have_url(f"{server_url}/notifications")


# --- the settings screen ----------------------------------------------------------------------------------------


def test_turning_on_notifications_without_a_push_service_says_so_and_allows_a_retry(
    signed_in: Callable[..., Page], server_url: str
) -> None:
    page = signed_in()
    page.context.grant_permissions(["notifications"], origin=server_url)
    use_service_worker(page, "/settings/notifications")
    status = page.locator("[data-push-status]")
    button = page.get_by_role("button", name="Turn on notifications")
    devices = page.get_by_test_id("device")

    button.click()

    expect(status.filter(has_text=UNREACHABLE).or_(devices)).to_be_visible()
    if devices.count():  # a push service answered after all: the page reloaded with this device listed
        expect(devices).to_have_count(1)
        expect(devices.locator(".badge", has_text="this browser")).to_be_visible()
    else:
        expect(status).to_have_text(UNREACHABLE)
        expect(page.get_by_text(NO_DEVICES)).to_be_visible()
    expect(button).to_be_enabled()


def test_turning_on_notifications_gives_up_on_a_push_service_that_never_answers(
    persistent_context: Any, session: dict[str, Any], server_url: str
) -> None:
    """Outside incognito (a profile on disk, as on a real phone) Chromium's pushManager.subscribe() waits for the
    unreachable push service indefinitely (still pending after 4 minutes here), so the page must give up by itself.
    Once subscribe() has been called, the page's clock (Playwright's fake timers) is run 30 s forward."""
    persistent_context.add_cookies(session["cookies"])
    persistent_context.grant_permissions(["notifications"], origin=server_url)
    persistent_context.add_init_script(COUNT_SUBSCRIBE_CALLS)
    page = persistent_context.pages[0] if persistent_context.pages else persistent_context.new_page()
    page.clock.install()
    use_service_worker(page, "/settings/notifications")
    status = page.locator("[data-push-status]")
    button = page.get_by_role("button", name="Turn on notifications")

    button.click()
    wait_until(lambda: page.evaluate("window.pushSubscribeCalls"), "the page to call pushManager.subscribe()")
    expect(status).to_have_text("Subscribing this device…")
    page.clock.run_for("00:30")

    expect(status).to_have_text(UNREACHABLE, timeout=2_000)
    expect(button).to_be_enabled()


def test_blocked_notifications_are_explained_and_not_offered(signed_in: Callable[..., Page], server_url: str) -> None:
    page = signed_in()
    context = page.context
    context.clear_permissions()
    target = context.new_cdp_session(page).send("Target.getTargetInfo")["targetInfo"]
    context.browser.new_browser_cdp_session().send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": "denied",
            "origin": server_url,
            "browserContextId": target["browserContextId"],
        },
    )

    page.goto("/settings/notifications")

    assert page.evaluate("Notification.permission") == "denied"
    expect(page.locator("[data-push-status]")).to_have_text(BLOCKED)
    expect(page.get_by_role("button", name="Turn on notifications")).to_be_hidden()
    expect(page.locator("[data-push-ios]")).to_be_hidden()


def test_refusing_the_permission_prompt_says_so_and_allows_a_retry(signed_in: Callable[..., Page]) -> None:
    page = signed_in()
    page.goto("/settings/notifications")
    assert page.evaluate("Notification.permission") == "default"
    button = page.get_by_role("button", name="Turn on notifications")

    button.click()  # headless Chromium answers the permission prompt with a refusal (after a second or two)

    expect(page.locator("[data-push-status]")).to_have_text(NOT_GIVEN, timeout=TIMEOUT_MS)
    expect(button).to_be_enabled()


def test_iphone_safari_tab_without_push_points_to_the_home_screen(signed_in: Callable[..., Page]) -> None:
    page = signed_in(user_agent=IPHONE_SAFARI)
    page.context.add_init_script(SAFARI_TAB_WITHOUT_PUSH)

    page.goto("/settings/notifications")

    expect(page.locator("[data-push-ios]")).to_be_visible()
    expect(page.locator("[data-push-ios]")).to_contain_text("Add to Home Screen")
    expect(page.locator("[data-push-status]")).to_have_text(HOME_SCREEN)
    expect(page.get_by_role("button", name="Turn on notifications")).to_be_hidden()


def test_iphone_user_agent_outside_the_home_screen_gets_the_hint_even_where_push_apis_exist(
    signed_in: Callable[..., Page],
) -> None:
    """On iPhone and iPad push works only from the Home Screen, whatever APIs a browser tab exposes."""
    page = signed_in(user_agent=IPHONE_SAFARI)

    page.goto("/settings/notifications")

    expect(page.locator("[data-push-ios]")).to_be_visible()
    expect(page.locator("[data-push-ios]")).to_contain_text("Add to Home Screen")


def test_chromium_on_a_phone_gets_the_button_and_no_iphone_hint(signed_in: Callable[..., Page]) -> None:
    page = signed_in()
    page.goto("/settings/notifications")

    expect(page.get_by_role("button", name="Turn on notifications")).to_be_visible()
    expect(page.locator("[data-push-ios]")).to_be_hidden()


# --- the in-app list ------------------------------------------------------------------------------------------


def test_a_new_account_has_no_unread_notifications(signed_in: Callable[..., Page]) -> None:
    page = signed_in()  # this module's account, new and never notified
    page.goto("/sites")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications", exact=True).click()

    expect(page).to_have_url(re.compile(r"/notifications$"))
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    expect(page.get_by_text("0 unread", exact=True)).to_be_visible()
    expect(page.get_by_text(EMPTY_LIST)).to_be_visible()
    expect(page.get_by_test_id("notification")).to_have_count(0)
    expect(page.get_by_role("button", name="Mark all as read")).to_have_count(0)
    expect(page.locator(".topbar .count")).to_have_count(0)
