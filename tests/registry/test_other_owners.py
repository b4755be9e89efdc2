"""Another owner's sites and cameras are a 404 on every endpoint and page, and stay unchanged."""

from __future__ import annotations

import pytest

from tests.conftest import Client
from tests.helpers import CAMERA, SITE, add_camera, add_site, sign_up


@pytest.fixture
async def victim(client: Client) -> dict[str, str]:
    """The first owner's site and camera; `other_client` is signed in as a second owner."""
    await sign_up(client, "first@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    return {"site": site["id"], "camera": camera["id"]}


async def test_api_never_shows_or_changes_another_owners_objects(
    client: Client, other_client: Client, victim: dict[str, str]
) -> None:
    await sign_up(other_client, "second@example.com")
    site, camera = victim["site"], victim["camera"]
    attempts = [
        ("GET", f"/api/v1/sites/{site}", None),
        ("PATCH", f"/api/v1/sites/{site}", {"name": "Mine now"}),
        ("DELETE", f"/api/v1/sites/{site}", None),
        ("POST", f"/api/v1/sites/{site}/cameras", CAMERA),
        ("GET", f"/api/v1/cameras/{camera}", None),
        ("PATCH", f"/api/v1/cameras/{camera}", {"name": "Mine now"}),
        ("POST", f"/api/v1/cameras/{camera}/pause", None),
        ("POST", f"/api/v1/cameras/{camera}/resume", None),
        ("DELETE", f"/api/v1/cameras/{camera}", None),
    ]
    for method, url, body in attempts:
        response = await other_client.send_json(method, url, body)
        assert response.status_code == 404, (method, url, response.status_code)
        assert SITE["name"] not in response.text and SITE["contact_phone"] not in response.text
    assert (await other_client.get("/api/v1/sites")).json() == []
    export = (await other_client.get("/api/v1/me/export")).json()
    assert export["sites"] == []

    mine = (await client.get(f"/api/v1/sites/{site}")).json()
    assert mine["name"] == SITE["name"]
    assert [(c["name"], c["paused"]) for c in mine["cameras"]] == [("Back door", False)]


async def test_pages_never_show_or_change_another_owners_objects(
    client: Client, other_client: Client, victim: dict[str, str]
) -> None:
    await sign_up(other_client, "second@example.com")
    site, camera = victim["site"], victim["camera"]
    for url in (f"/sites/{site}", f"/sites/{site}/edit", f"/sites/{site}/cameras/new", f"/cameras/{camera}/edit"):
        response = await other_client.get(url)
        assert response.status_code == 404, url
        assert SITE["name"] not in response.text
    posts = [
        (f"/sites/{site}/edit", {**SITE, "name": "Mine now"}),
        (f"/sites/{site}/delete", {}),
        (f"/sites/{site}/cameras/new", CAMERA),
        (f"/cameras/{camera}/edit", {**CAMERA, "name": "Mine now"}),
        (f"/cameras/{camera}/pause", {}),
        (f"/cameras/{camera}/delete", {}),
    ]
    for url, form in posts:
        assert (await other_client.submit(url, form)).status_code == 404, url
    overview = await other_client.get("/sites")
    assert SITE["name"] not in overview.text
    mine = (await client.get(f"/api/v1/sites/{site}")).json()
    assert mine["name"] == SITE["name"] and len(mine["cameras"]) == 1 and not mine["cameras"][0]["paused"]


async def test_agency_accounts_cannot_use_owner_endpoints(client: Client, other_client: Client, db, victim) -> None:
    from tests.requests.conftest import investigator

    await investigator(db, other_client, "det@example.com", "Test PD")
    assert (await other_client.get("/api/v1/sites")).status_code == 403
    assert (await other_client.get(f"/api/v1/sites/{victim['site']}")).status_code == 403
    assert (await other_client.get("/sites", follow_redirects=False)).status_code == 403
