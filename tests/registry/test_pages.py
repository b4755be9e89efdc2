"""The owner's pages: forms come back with what was typed and the message beside the field."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.registry.models import Camera, Site
from tests.conftest import Client
from tests.helpers import CAMERA, SITE, add_camera, add_site, sign_up


async def test_add_a_site_and_a_camera_with_forms_then_see_them_on_one_screen(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    empty = await client.get("/sites")
    assert "No sites yet" in empty.text
    site_page = await client.submit("/sites/new", {k: str(v) for k, v in SITE.items()})
    assert site_page.status_code == 200 and "Site saved." in site_page.text
    assert "<dt>Kind</dt><dd>Business</dd>" in site_page.text
    site_url = site_page.url.path
    camera_page = await client.submit(
        f"{site_url}/cameras/new", {**{k: str(v) for k, v in CAMERA.items()}, "latitude": "", "longitude": ""}
    )
    assert "Camera saved." in camera_page.text and "Back door" in camera_page.text
    overview = await client.get("/sites")
    assert SITE["name"] in overview.text and "Back door" in overview.text
    assert '<span class="badge">business</span>' in overview.text and "outdoor" in overview.text
    assert "faces 270°" in overview.text and "keeps 14 days" in overview.text and "NVR / DVR" in overview.text
    assert "Paused" not in overview.text


async def test_paused_cameras_are_marked_on_the_overview(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    await add_camera(client, site["id"], name="Garage")
    paused = await client.submit(f"/cameras/{camera['id']}/pause", {})
    assert "Camera paused" in paused.text
    overview = await client.get("/sites")
    back_door = overview.text.split("Back door", 1)[1].split("</li>", 1)[0]
    garage = overview.text.split("Garage", 1)[1].split("</li>", 1)[0]
    assert "Paused" in back_door and "Paused" not in garage
    resumed = await client.submit(f"/cameras/{camera['id']}/resume", {})
    assert "Camera resumed" in resumed.text
    assert "badge paused" not in (await client.get("/sites")).text


async def test_site_form_errors_are_beside_their_fields_with_the_typed_values_kept(
    client: Client, db: AsyncSession
) -> None:
    await sign_up(client, "owner@example.com")
    form = {**{k: str(v) for k, v in SITE.items()}, "latitude": "123", "longitude": "east", "name": "Typed name"}
    response = await client.submit("/sites/new", form)
    assert response.status_code == 400
    assert 'id="f-latitude-error">Latitude must be at most 90<' in response.text
    assert 'id="f-longitude-error">Longitude must be a number<' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Typed name"' in response.text and 'value="123"' in response.text
    assert 'value="2401 N Holton St, Milwaukee, WI"' in response.text
    assert await db.scalar(select(func.count()).select_from(Site)) == 0


async def test_camera_form_errors_keep_values_and_save_nothing(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    form = {**{k: str(v) for k, v in CAMERA.items()}, "retention_days": "400", "bearing_deg": "", "name": "Porch"}
    response = await client.submit(f"/sites/{site['id']}/cameras/new", form)
    assert response.status_code == 400
    assert "Keeps video for (days) must be at most 365" in response.text
    assert "Faces (degrees) is required" in response.text
    assert 'value="Porch"' in response.text and 'value="400"' in response.text
    assert await db.scalar(select(func.count()).select_from(Camera)) == 0


async def test_editing_a_camera_with_bad_input_changes_nothing(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    form = {**{k: str(v) for k, v in CAMERA.items()}, "name": "Renamed", "field_of_view_deg": "0"}
    response = await client.submit(f"/cameras/{camera['id']}/edit", form)
    assert response.status_code == 400 and "Field of view (degrees) must be at least 1" in response.text
    assert (await client.get(f"/api/v1/cameras/{camera['id']}")).json()["name"] == "Back door"
    ok = await client.submit(f"/cameras/{camera['id']}/edit", {**form, "field_of_view_deg": "120"})
    assert "Camera saved." in ok.text
    assert (await client.get(f"/api/v1/cameras/{camera['id']}")).json()["name"] == "Renamed"


async def test_signed_out_visitor_is_sent_to_sign_in_and_comes_back(client: Client) -> None:
    response = await client.get("/sites/new", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=%2Fsites%2Fnew"


async def test_page_forms_without_csrf_token_are_refused(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "owner@example.com")
    response = await client.post("/sites/new", data={k: str(v) for k, v in SITE.items()})
    assert response.status_code == 403
    assert await db.scalar(select(func.count()).select_from(Site)) == 0


async def test_every_owner_page_needs_a_signed_in_owner(client: Client) -> None:
    await sign_up(client, "owner@example.com")
    site = await add_site(client)
    camera = await add_camera(client, site["id"])
    await client.submit("/logout", {})
    pages = ["/sites", "/sites/new", f"/sites/{site['id']}", f"/sites/{site['id']}/edit"]
    pages += [
        f"/sites/{site['id']}/cameras/new",
        f"/cameras/{camera['id']}/edit",
        "/account",
        "/account/export",
        "/console",
    ]
    for url in pages:
        response = await client.get(url, follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/login?next="), url
