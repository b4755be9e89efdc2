"""What a person does in the browser, written once: sign up, sign in, add a site or a camera."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyotp
from playwright.sync_api import Page, expect

PASSWORD = "lantern-by-the-door-42"
DETECTIVE_PASSWORD = "detective-lantern-9"
# An investigator's desk: a desktop browser.
DESK: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False, "has_touch": False}


@dataclass(frozen=True)
class Owner:
    email: str
    password: str
    name: str


def new_owner(label: str = "owner") -> Owner:
    """Credentials nobody has used yet on this server."""
    return Owner(email=f"{label}-{uuid.uuid4().hex[:10]}@example.org", password=PASSWORD, name="Dana Rivera")


def sign_up(page: Page, owner: Owner) -> None:
    """Create the account on the sign-up page; it arrives signed in at its (empty) camera overview."""
    page.goto("/signup")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Your name").fill(owner.name)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/sites\?welcome=1$"))
    expect(page.get_by_role("heading", name="My cameras", level=1)).to_be_visible()


def log_in(page: Page, owner: Owner) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/sites$"))
    expect(page.get_by_role("heading", name="My cameras", level=1)).to_be_visible()


def log_in_agency(page: Page, email: str, password: str, totp_secret: str, lands_on: str = "/console/requests") -> None:
    """An agency account's sign-in: password, then the authenticator app's code; an investigator lands on the
    console's sent requests, the live desk on its shares (`lands_on="/live"`)."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(totp_secret).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(f"{lands_on}$"))


def fill_site_form(
    page: Page,
    *,
    name: str = "Corner bakery",
    kind: str = "Business",
    address: str = "2200 N Farwell Ave, Milwaukee, WI 53202",
    latitude: str = "43.05870",
    longitude: str = "-87.88410",
    phone: str = "+1 414 555 0134",
) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("group", name="Home or business").get_by_label(kind).check()
    page.get_by_label("Street address").fill(address)
    page.get_by_label("Latitude").fill(latitude)
    page.get_by_label("Longitude").fill(longitude)
    page.get_by_label("Phone").fill(phone)


def add_site(page: Page, name: str = "Corner bakery", **fields: str) -> str:
    """Add a site through the overview's "Add a site"; returns the site page's URL (without the query)."""
    page.goto("/sites")
    page.get_by_role("link", name="Add a site").click()
    fill_site_form(page, name=name, **fields)
    page.get_by_role("button", name="Save site").click()
    expect(page).to_have_url(re.compile(r"/sites/[^/]+$"))
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    return page.url.split("?")[0]


def add_camera(page: Page, name: str = "Back door", **fields: Any) -> None:
    """On a site page: add a camera through "Add a camera" and come back to the site page."""
    site_url = page.url
    page.get_by_role("link", name="Add a camera").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Faces (degrees)").fill(str(fields.get("bearing", 180)))
    page.get_by_label("Field of view (degrees)").fill(str(fields.get("field_of_view", 90)))
    page.get_by_label("Sees up to (metres)").fill(str(fields.get("range", 25)))
    page.get_by_label(fields.get("placement", "Outdoor"), exact=True).check()
    page.get_by_label("Records to").select_option(label=fields.get("recorder", "NVR / DVR"))
    page.get_by_label("Keeps video for (days)").fill(str(fields.get("retention", 14)))
    page.get_by_role("button", name="Save camera").click()
    expect(page).to_have_url(re.compile(re.escape(site_url.split("?")[0]) + r"(\?.*)?$"))
    expect(camera_item(page, name)).to_be_visible()


def camera_item(page: Page, name: str, within: Any = None) -> Any:
    """The list item of one camera (site page or overview) found by its name, optionally inside `within`."""
    name_is = page.locator(".camera-name", has_text=re.compile(f"^{re.escape(name)}$"))
    return (within or page).get_by_test_id("camera").filter(has=name_is)


# `ready` never settles when the worker fails to install (a syntax error in sw.js): give up after 10 s.
ACTIVATED_JS = """Promise.race([
  navigator.serviceWorker.ready.then(r => new Promise(resolve => {
    const worker = r.active;
    if (worker.state === "activated") return resolve(true);
    worker.addEventListener("statechange", () => worker.state === "activated" && resolve(true));
  })),
  new Promise(resolve => setTimeout(() => resolve(false), 10000)),
])"""


def wait_for_active_worker(page: Page) -> None:
    """Wait until this page's service worker has finished installing (shell cached) and activating."""
    assert page.evaluate(ACTIVATED_JS), "the service worker did not activate within 10 s (is /sw.js valid?)"


def use_service_worker(page: Page, path: str = "/") -> None:
    """Open a page and wait until the service worker is active and controls it."""
    page.goto(path)
    wait_for_active_worker(page)
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")


CACHED_URLS_JS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(request.url);
  }
  return urls;
}"""


def cached_urls(page: Page) -> list[str]:
    """Every request URL held in any of this origin's Cache Storage caches."""
    return page.evaluate(CACHED_URLS_JS)


def watch_for_problems(page: Page, problems: list[str]) -> Page:
    """Collect the page's script errors and Content-Security-Policy refusals into `problems`."""
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )
    return page


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    """Poll `check` from Python (the pages' CSP forbids the eval behind page.wait_for_function's polling)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def off_the_loop(work: Callable[..., Any], *args: Any) -> Any:
    """Run `work` on another thread: database set-up uses asyncio.run, which Playwright's sync API forbids on this
    thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work, *args).result()
