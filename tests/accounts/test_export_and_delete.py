"""Owners can take everything Porchlight holds about them, and delete it all."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import LoginAttempt, User, UserRole, UserSession
from backend.registry.models import Camera, Site
from tests.conftest import Client
from tests.helpers import PASSWORD, SITE, add_camera, add_site, sign_up


async def _count(db: AsyncSession, model) -> int:
    return await db.scalar(select(func.count()).select_from(model))


async def test_export_holds_the_account_sites_cameras_and_sign_ins(client: Client) -> None:
    await sign_up(client, "me@example.com", name="Me Myself")
    await client.send_json("POST", "/api/v1/auth/login", {"email": "me@example.com", "password": PASSWORD})
    site = await add_site(client)
    await add_camera(client, site["id"])
    response = await client.get("/account/export")
    assert response.headers["content-disposition"] == 'attachment; filename="porchlight-my-data.json"'
    data = response.json()
    assert data["account"]["email"] == "me@example.com" and data["account"]["display_name"] == "Me Myself"
    assert data["sites"][0]["name"] == SITE["name"] and data["sites"][0]["contact_phone"] == SITE["contact_phone"]
    assert data["sites"][0]["cameras"][0]["name"] == "Back door"
    assert [a["outcome"] for a in data["sign_in_attempts"]] == ["succeeded"]
    assert len(data["sessions"]) == 1
    assert (await client.get("/api/v1/me/export")).json()["sites"] == data["sites"]


async def test_deleting_the_account_removes_everything_and_signs_out(
    client: Client, other_client: Client, db: AsyncSession
) -> None:
    await sign_up(other_client, "stays@example.com")
    await add_site(other_client)
    await sign_up(client, "leaves@example.com")
    site = await add_site(client)
    await add_camera(client, site["id"])
    response = await client.submit("/account/delete", {"password": PASSWORD})
    assert response.url.path == "/account/deleted"
    assert "Your account has been deleted" in response.text
    assert (await client.get("/api/v1/me")).status_code == 401
    assert await _count(db, User) == 1
    assert await _count(db, Site) == 1  # the other owner's
    assert await _count(db, Camera) == 0
    assert await _count(db, UserRole) == 1
    assert await _count(db, UserSession) == 1
    assert (
        await db.scalar(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == "leaves@example.com")
        )
        == 0
    )
    login = await client.send_json("POST", "/api/v1/auth/login", {"email": "leaves@example.com", "password": PASSWORD})
    assert login.status_code == 400


async def test_deleting_needs_the_right_password(client: Client, db: AsyncSession) -> None:
    await sign_up(client, "careful@example.com")
    await add_site(client)
    page = await client.submit("/account/delete", {"password": "not-my-password"})
    assert page.status_code == 400 and "Wrong password; the account was not deleted" in page.text
    api = await client.send_json("DELETE", "/api/v1/me", {"password": "not-my-password"})
    assert api.status_code == 400
    assert await _count(db, User) == 1 and await _count(db, Site) == 1
    assert (await client.send_json("DELETE", "/api/v1/me", {"password": PASSWORD})).status_code == 204
    assert await _count(db, User) == 0 and await _count(db, Site) == 0
