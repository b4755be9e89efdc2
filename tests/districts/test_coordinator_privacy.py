"""A district's coordinator never sees a member's footage, footage requests, clips, police access, share sessions,
the contact details the member gave the police, or the member's account email: every coordinator page and API of
the app's own route table (so routes added later are walked too) is read with a member who has all of these."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import utcnow
from backend.districts.models import MemberStatus
from backend.registry.models import Site
from tests.conftest import Client
from tests.districts.conftest import Coordinator, add_member
from tests.districts.test_announcements import send
from tests.helpers import add_camera, add_site, sign_up
from tests.requests.conftest import investigator, request_body
from tests.requests.test_evidence import upload
from tests.sharing.conftest import online_device

COORDINATOR_PREFIXES = ("/district", "/api/v1/district")
MIN_ROUTES_WALKED = 15  # the home, the roster, coverage and announcements (pages and API); invites add more
ACCOUNT_EMAIL = "owner-account@private.example"
POLICE_CONTACT = {
    "contact_phone": "(414) 555-0142",
    "contact_email": "police-contact@private.example",
    "contact_hours": "Nights only, 22-06",
    "investigator_note": "Gate code 4471, ring twice",
}


def coordinator_reads(app: Litestar) -> list[str]:
    """Every GET path of the coordinator's pages and API, from the app's route table."""
    return sorted(
        {
            route.path
            for route in app.routes
            if isinstance(route, HTTPRoute) and route.path.startswith(COORDINATOR_PREFIXES)
            and "GET" in route.route_handler_map
        }
    )  # fmt: skip


def fill(path: str, ids: dict[str, str]) -> str:
    """The path with the member's ids; a parameter the member has no object for gets a value nobody has."""
    other = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1"}
    return re.sub(
        r"\{(\w+):(\w+)\}", lambda m: ids.get(m.group(1)) or other.get(m.group(2), lambda: "nothing-here")(), path
    )


async def test_a_coordinator_sees_nothing_of_a_members_footage_police_or_account(
    app: Litestar, db: AsyncSession, client: Client, other_client: Client, coordinator: Coordinator
) -> None:
    owner, detective = client, other_client
    account = await sign_up(owner, ACCOUNT_EMAIL, name="Priya Private")
    site = await add_site(owner, name="Privacy Bakery", kind="business", **POLICE_CONTACT)
    camera = await add_camera(owner, site["id"], name="Front door")
    await db.execute(update(Site).where(Site.id == uuid.UUID(site["id"])).values(district_id=coordinator.district_id))
    await db.commit()
    # On the district's roster with details given to the district (another email than the account's).
    member = await add_member(
        db, coordinator.district_id, "Privacy Bakery", email="roster@bakery.example", contact_name="Pat Roster",
        phone="(414) 555-0188", address="2401 N Holton St, Milwaukee", status=MemberStatus.JOINED.value,
        user_id=uuid.UUID(account["id"]), invited_at=utcnow(), joined_at=utcnow(),
    )  # fmt: skip
    async with Client(app) as box:
        device = await online_device(owner, box, site["id"], "front")

    # A footage request answered with a clip, and the investigator opening the owner's contact card.
    await investigator(db, detective, "det@mpd.example", "Milwaukee PD")
    asked = await detective.send_json(
        "POST", "/api/v1/agency/requests",
        request_body([camera["id"]], case_number="PRIV-26-4242", message="Burglary seen from the bakery door"),
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    request_id = asked.json()[0]["id"]
    accepted = await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    assert accepted.status_code == 200, accepted.text
    clip = await upload(owner, request_id)
    assert clip["complete"] and clip["sha256"]
    card = await detective.get(f"/api/v1/agency/requests/{request_id}/contact")
    assert card.status_code == 200 and "555-0142" in card.text
    access = await owner.get("/account/access")
    assert access.status_code == 200 and "contact" in access.text.lower()  # the owner's receipt of police access
    share = await owner.send_json(
        "POST", "/api/v1/shares", {"site_id": site["id"], "minutes": 30, "note": "Side gate share note"}
    )
    assert share.status_code == 201, share.text
    announcement = await send(coordinator, title="Privacy walk notice")

    secrets = {
        "the request's text": "Burglary seen from the bakery door",
        "the case number": "PRIV-26-4242",
        "the clip's file name": clip["file_name"],
        "the clip's SHA-256": clip["sha256"],
        "the investigator's name": "Det. Milwaukee PD",
        "the police contact phone": "555-0142",
        "the police contact email": POLICE_CONTACT["contact_email"],
        "the police contact hours": POLICE_CONTACT["contact_hours"],
        "the note for investigators": "Gate code 4471",
        "the account's email": ACCOUNT_EMAIL,
        "the share's note": "Side gate share note",
        "the share's id": share.json()["id"],
        "the request's id": request_id,
        "the clip's id": clip["id"],
    }
    ids = {
        "member_id": str(member.id), "announcement_id": announcement["id"], "district_id": str(coordinator.district_id),
        "site_id": site["id"], "camera_id": camera["id"], "device_id": device.id, "user_id": account["id"],
        "owner_id": account["id"], "request_id": request_id, "clip_id": clip["id"], "share_id": share.json()["id"],
    }  # fmt: skip

    leaks, statuses = [], {}
    paths = coordinator_reads(app)
    for path in paths:
        response = await coordinator.client.get(fill(path, ids))
        statuses[path] = response.status_code
        leaks += [
            f"GET {path} ({response.status_code}) shows {what}" for what, s in secrets.items() if s in response.text
        ]
    print(f"\ncoordinator privacy walk: {len(paths)} coordinator routes read: {statuses}")
    assert leaks == []
    assert len(paths) >= MIN_ROUTES_WALKED
    assert [path for path, status in statuses.items() if status >= 500] == []
    assert statuses["/district/announcements"] == statuses["/api/v1/district/announcements"] == 200

    # The owner's and the agencies' routes for these objects are closed to the coordinator.
    closed = [
        f"/api/v1/requests/{request_id}", f"/requests/{request_id}", f"/api/v1/requests/{request_id}/clips",
        f"/api/v1/agency/clips/{clip['id']}", f"/api/v1/agency/requests/{request_id}/contact", "/account/access",
        f"/api/v1/sites/{site['id']}", f"/api/v1/shares/{share.json()['id']}", f"/api/v1/devices/{device.id}",
    ]  # fmt: skip
    for path in closed:
        response = await coordinator.client.get(path)
        assert response.status_code in (403, 404), f"{path}: {response.status_code}"
        assert not [what for what, s in secrets.items() if s in response.text], path
