"""The installable app's files: manifest, service worker, offline page, versioned assets."""

from __future__ import annotations

from tests.conftest import Client


async def test_manifest_has_what_installation_needs(client: Client) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"].startswith("Porchlight") and manifest["short_name"] == "Porchlight"
    assert manifest["id"] == "/" and manifest["scope"] == "/" and manifest["start_url"].startswith("/")
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] and manifest["background_color"]
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        width = int.from_bytes(image.content[16:20], "big")
        assert f"{width}x{width}" == icon["sizes"]


async def test_service_worker_is_served_fresh_at_the_root_with_the_shell_list(client: Client) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    version = client.app.state.assets_version
    assert '"porchlight-shell-" + VERSION' in response.text and f'const VERSION = "{version}"' in response.text
    assert '"/offline"' in response.text and f'"/static/{version}/app.css"' in response.text


async def test_static_assets_are_versioned_and_cached_for_a_year(client: Client) -> None:
    version = client.app.state.assets_version
    response = await client.get(f"/static/{version}/app.js")
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["cache-control"]
    home = await client.get("/")
    assert f"/static/{version}/app.js" in home.text and f"/static/{version}/app.css" in home.text
    assert 'rel="manifest" href="/manifest.webmanifest"' in home.text
    assert 'rel="apple-touch-icon"' in home.text


async def test_offline_page_is_public_and_personal_data_free(client: Client) -> None:
    response = await client.get("/offline")
    assert response.status_code == 200 and "You are offline" in response.text


async def test_pages_load_no_third_party_code(client: Client) -> None:
    for path in ("/", "/login", "/signup", "/offline"):
        text = (await client.get(path)).text
        assert "http://" not in text.replace("http://testserver", "") and "https://" not in text
        assert "<script>" not in text  # no inline scripts: the CSP would block them
