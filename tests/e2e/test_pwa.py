"""The installable app: manifest, service worker, offline page, and what the worker keeps (only public files)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Owner, cached_urls, log_in, use_service_worker, wait_for_active_worker

pytestmark = pytest.mark.e2e

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_chromium_finds_the_app_installable(persistent_context: Any, server_url: str) -> None:
    page = persistent_context.pages[0] if persistent_context.pages else persistent_context.new_page()
    page.goto("/")
    wait_for_active_worker(page)
    cdp = persistent_context.new_cdp_session(page)

    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    app_manifest = cdp.send("Page.getAppManifest")
    assert app_manifest["url"] == f"{server_url}/manifest.webmanifest"
    assert app_manifest["errors"] == []

    manifest = page.request.get("/manifest.webmanifest").json()
    assert manifest["name"] and manifest["short_name"] == "Porchlight"
    assert manifest["id"] == "/"
    assert manifest["start_url"].startswith("/")
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any("maskable" in icon.get("purpose", "").split() for icon in manifest["icons"])
    for icon in manifest["icons"]:
        response = page.request.get(icon["src"])
        assert response.ok and response.headers["content-type"] == "image/png", icon["src"]


def test_service_worker_registers_for_the_whole_site(page: Page, server_url: str) -> None:
    page.goto("/")
    wait_for_active_worker(page)
    registration = page.evaluate(
        """navigator.serviceWorker.getRegistration().then(r => r && {
             scope: r.scope, script: r.active && r.active.scriptURL, state: r.active && r.active.state })"""
    )
    assert registration == {"scope": f"{server_url}/", "script": f"{server_url}/sw.js", "state": "activated"}


def test_offline_navigation_shows_the_offline_page(page: Page, owner: Owner) -> None:
    log_in(page, owner)
    use_service_worker(page, "/sites")
    page.context.set_offline(True)

    page.goto("/sites")

    expect(page.get_by_role("heading", name="You are offline", level=1)).to_be_visible()
    expect(page.locator("body[data-offline-page]")).to_have_count(1)
    # The page is complete offline: its stylesheet and script come from the worker's cache.
    assert page.evaluate("getComputedStyle(document.querySelector('.card')).display") != "inline"


def test_service_worker_keeps_only_public_files(page: Page, owner: Owner, server_url: str) -> None:
    use_service_worker(page, "/")
    log_in(page, owner)
    page.goto("/sites")
    page.goto("/account")
    page.goto("/api/v1/me")
    assert owner.email in page.content()
    page.goto("/sites")
    me = page.evaluate("fetch('/api/v1/me', {credentials: 'same-origin'}).then(r => r.json())")
    assert me["email"] == owner.email

    urls = cached_urls(page)
    paths = {urlsplit(url).path for url in urls}
    assert "/offline" in paths, f"the offline page was not precached: {urls}"
    assert all(urlsplit(url).netloc == urlsplit(server_url).netloc for url in urls), urls
    kept_private = sorted(path for path in paths if path != "/offline" and not path.startswith("/static/"))
    assert kept_private == [], f"the service worker cached signed-in content: {kept_private}"


def test_sign_out_empties_the_caches_and_forgets_the_session(page: Page, owner: Owner) -> None:
    log_in(page, owner)
    use_service_worker(page, "/sites")
    page.evaluate("caches.open('porchlight-test').then(c => c.put('/marker', new Response('x')))")
    assert page.evaluate("caches.has('porchlight-test')")

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/login\?signed_out=1$"))
    expect(page.locator("html[data-caches-cleared]")).to_have_count(1)
    assert not page.evaluate("caches.has('porchlight-test')")
    # The worker puts the public offline page back for next time, and nothing else.
    page.wait_for_function(
        """caches.keys().then(async keys => {
             for (const key of keys) if (await (await caches.open(key)).match('/offline')) return true;
             return false; })"""
    )
    assert all(urlsplit(url).path == "/offline" or "/static/" in url for url in cached_urls(page))

    page.goto("/sites")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


def test_ios_install_hint_shows_only_on_iphone_safari(new_context: Any) -> None:
    iphone = new_context(user_agent=IPHONE_SAFARI).new_page()
    iphone.goto("/")
    expect(iphone.locator("#ios-install-hint")).to_be_visible()
    expect(iphone.locator("#ios-install-hint")).to_contain_text("Add to Home Screen")

    chromium = new_context().new_page()
    chromium.goto("/")
    expect(chromium.locator("#install-strip")).to_be_hidden()
    # app.js has run (it registers the worker), and still the hint stays hidden.
    wait_for_active_worker(chromium)
    expect(chromium.locator("#ios-install-hint")).to_be_hidden()
