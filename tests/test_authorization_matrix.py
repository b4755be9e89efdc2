"""Authorization, checked by construction: every route of the application's own route table is called as
anonymous and as each kind of user of another party, with the first party's ids in its path. Nothing answers
2xx with the first party's data, and the first party's objects are untouched afterwards. A new route is covered
without anyone remembering to add it; the routes that are public on purpose are listed here, in one place."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.accounts.models import Role
from backend.db import utcnow
from backend.districts.models import DistrictMember
from backend.registry.models import Site
from tests.conftest import Client
from tests.districts.conftest import add_member
from tests.helpers import PASSWORD, add_camera, add_site, sign_up
from tests.requests.conftest import investigator, request_body
from tests.requests.test_evidence import upload
from tests.sharing.conftest import live_desk, online_device

# Public on purpose: the app shell, sign-up and sign-in, a forgotten password, an emailed confirmation link,
# pairing a box, push-key and subscription renewal (proved by the old subscription's secret), the API description,
# and in development without SMTP the mailbox page (someone who forgot their password reads the email there; it
# does not exist in production).
PUBLIC = re.compile(
    r"^/(health|manifest\.webmanifest|offline|sw\.js|static/.*|login.*|signup|logout|account/deleted|dev/mailbox|"
    r"password/(forgot|reset/.*)|account/email/confirm/.*|"
    r"api/v1/auth/.*|api/v1/push/key|api/v1/push/subscription-change|device/v1/(device_authorization|token)|"
    r"schema.*)?$"
)
# Calls that would end the caller's own session or account (they are tested where they belong).
ENDS_OWN_SESSION = {("POST", "/logout"), ("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me"),
                    ("POST", "/account/delete")}  # fmt: skip
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# What an account whose first password an administrator gave may reach before it has chosen its own.
BEFORE_PASSWORD_CHOSEN = {("GET", "/password/choose"), ("POST", "/password/choose"), ("POST", "/api/v1/me/password")}


def routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            found += [(method, route.path) for method in route.route_handler_map if method not in ("OPTIONS", "HEAD")]
    return sorted(found)


def fill(path: str, ids: dict[str, str]) -> str:
    """The path with the first party's ids (an unknown parameter gets a random value)."""
    return re.sub(r"\{(\w+):\w+\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


async def call(client: httpx.AsyncClient, method: str, url: str) -> httpx.Response:
    headers = {}
    if method in UNSAFE:
        if "csrftoken" not in client.cookies:
            await client.get("/health")
        headers["x-csrftoken"] = client.cookies["csrftoken"]  # past CSRF: it is authorization that is tested
    return await client.request(method, url, json={} if method in UNSAFE else None, headers=headers)


async def first_party(owner: Client, detective: Client, app: Litestar, db: AsyncSession) -> dict[str, Any]:
    """An owner with a site, a camera, a device sending video, a share on, and a footage request from their
    agency's investigator answered with a clip."""
    await sign_up(owner, "first-party@example.com", name="Fiona Firstparty")
    site = await add_site(owner, name="Firstparty Bakery")
    camera = await add_camera(owner, site["id"], name="Firstparty door")
    async with Client(app) as box:
        device = await online_device(owner, box, site["id"], "front")
    await investigator(db, detective, "first-det@mpd.example", "Milwaukee PD")
    share = await owner.send_json("POST", "/api/v1/shares", {"site_id": site["id"], "minutes": 30})
    assert share.status_code == 201, share.text
    sent = await detective.send_json("POST", "/api/v1/agency/requests", request_body([camera["id"]]))
    assert sent.status_code == 201, sent.text
    request_id = sent.json()[0]["id"]
    assert (await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})).is_success
    clip = await upload(owner, request_id)
    # A message in the request's conversation: nobody else reads it (its text is one of the secrets).
    written = await owner.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": "Firstparty question"})
    assert written.status_code == 201, written.text
    detail = (await owner.get(f"/api/v1/devices/{device.id}")).json()
    me = (await owner.get("/api/v1/me")).json()
    # The owner is a member of their district (its coordinator is not one of the callers): its roster row and funnel.
    coordinator = await accounts.create_user(
        db, email="first-coord@example.com", password=PASSWORD, display_name="Fay", roles=[Role.COORDINATOR],
        district_name="Firstparty BID",
    )  # fmt: skip
    member = await add_member(
        db, coordinator.district_id, "Firstparty Bakery", email="first-party@example.com", status="joined",
        user_id=uuid.UUID(me["id"]), joined_at=utcnow(),
    )  # fmt: skip
    await db.execute(update(Site).where(Site.id == uuid.UUID(site["id"])).values(district_id=coordinator.district_id))
    await db.commit()
    # The district's coordinator wrote to its members: the announcement is the first party's to read.
    async with Client(app) as district_coordinator:
        credentials = {"email": "first-coord@example.com", "password": PASSWORD}
        assert (await district_coordinator.send_json("POST", "/api/v1/auth/login", credentials)).is_success
        announced = await district_coordinator.send_json(
            "POST", "/api/v1/district/announcements",
            {"title": "Firstparty announcement", "body": "For Firstparty members", "audience": "all"},
        )  # fmt: skip
        assert announced.status_code == 201, announced.text
    ids = {
        "site_id": site["id"], "camera_id": camera["id"], "device_id": device.id, "request_id": request_id,
        "clip_id": clip["id"], "share_id": share.json()["id"], "share_camera_id": share.json()["cameras"][0]["id"],
        "device_camera_id": detail["cameras"][0]["id"], "user_id": me["id"], "member_id": str(member.id),
        "announcement_id": announced.json()["id"], "district_id": str(coordinator.district_id),
    }  # fmt: skip
    secrets = ["first-party@example.com", "Fiona Firstparty", "Firstparty Bakery", "Firstparty door", "555-0100",
               "Firstparty question", "Firstparty announcement", *ids.values()]  # fmt: skip
    return {"ids": ids, "secrets": secrets}


async def test_no_route_gives_one_party_another_partys_data(
    client: Client, other_client: Client, app: Litestar, db: AsyncSession
) -> None:
    party = await first_party(client, other_client, app, db)
    ids, secrets = party["ids"], party["secrets"]
    all_routes = routes(app)
    assert len(all_routes) > 100  # the whole table, not a hand-picked list

    others: dict[str, Client] = {}
    for name in ("owner", "investigator", "live_desk", "coordinator", "first_password"):
        others[name] = Client(app)
    await sign_up(others["owner"], "second-party@example.com")
    await investigator(db, others["investigator"], "det@county.example", "County Sheriff")
    await live_desk(db, others["live_desk"], email="desk@county.example", agency="County Sheriff")
    await accounts.create_user(
        db,
        email="coord@example.com",
        password=PASSWORD,
        display_name="Chris",
        roles=[Role.COORDINATOR],
        district_name="Third Ward BID",
    )
    await others["coordinator"].send_json(
        "POST", "/api/v1/auth/login", {"email": "coord@example.com", "password": PASSWORD}
    )
    await accounts.create_user(
        db, email="new-admin@example.com", password=PASSWORD, display_name="Nell", roles=[Role.ADMIN],
        must_change_password=True,
    )  # fmt: skip
    await others["first_password"].send_json(
        "POST", "/api/v1/auth/login", {"email": "new-admin@example.com", "password": PASSWORD}
    )

    leaks: list[str] = []
    checked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as anon:
        callers: dict[str, httpx.AsyncClient] = {"anonymous": anon, **others}
        for method, path in all_routes:
            if PUBLIC.match(path) or (method, path) in ENDS_OWN_SESSION:
                continue
            url = fill(path, ids)
            for who, caller in callers.items():
                response = await call(caller, method, url)
                checked += 1
                if who == "anonymous" and response.is_success:
                    leaks.append(f"anonymous {method} {path}: {response.status_code}")
                elif (
                    who == "first_password" and response.is_success and response.url.path != "/password/choose"
                    and (method, path) not in BEFORE_PASSWORD_CHOSEN
                ):  # fmt: skip
                    leaks.append(f"first password not yet replaced {method} {path}: {response.status_code}")
                elif response.is_success and any(secret in response.text for secret in secrets):
                    leaks.append(f"{who} {method} {path}: {response.status_code} with the first party's data")
    for caller in others.values():
        await caller.aclose()
    print(f"\nauthorization matrix: {len(all_routes)} routes x methods, {checked // len(callers)} checked as "
          f"{len(callers)} callers ({', '.join(callers)}) = {checked} calls, {len(leaks)} leaks")  # fmt: skip
    assert leaks == []
    assert checked > 500

    # The first party's objects are as they were: nobody else changed or removed them.
    assert (await client.get(f"/api/v1/sites/{ids['site_id']}")).status_code == 200
    assert (await client.get(f"/api/v1/cameras/{ids['camera_id']}")).json()["name"] == "Firstparty door"
    assert (await client.get(f"/api/v1/shares/{ids['share_id']}")).json()["state"] != "ended"
    assert (await client.get(f"/api/v1/requests/{ids['request_id']}")).json()["state"] == "uploaded"
    conversation = (await client.get(f"/api/v1/requests/{ids['request_id']}/messages")).json()
    assert [m["text"] for m in conversation] == ["Firstparty question"]
    assert (await client.get(f"/api/v1/devices/{ids['device_id']}")).status_code == 200
    member = await db.get(DistrictMember, uuid.UUID(ids["member_id"]), populate_existing=True)
    assert member is not None and member.business_name == "Firstparty Bakery" and member.status == "joined"
    assert [d["district"] for d in (await client.get("/api/v1/me/districts")).json()] == ["Firstparty BID"]
    assert (await client.get(f"/announcements/{ids['announcement_id']}")).status_code == 200
