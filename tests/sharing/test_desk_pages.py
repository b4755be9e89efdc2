"""The live desk's pages (no browser): the shares on now without the owner's contact details, one share's page and
its buttons without scripts, the agency's audit, and who gets a 403 or a 404."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.requests.models import CustodyAction, CustodyEvent
from tests.conftest import Client
from tests.helpers import SITE
from tests.requests.conftest import investigator
from tests.sharing.conftest import Sharing, live_desk

OWNER_EMAIL = "owner@example.com"  # tests.devices.conftest.owner_with_site
OWNER_NAME = "Pat Owner"  # tests.helpers.sign_up


async def start(sharing: Sharing, **overrides: Any) -> dict[str, Any]:
    body = {"site_id": sharing.site_id, "minutes": 30, "note": "Someone is trying the back door", **overrides}
    response = await sharing.owner.send_json("POST", "/api/v1/shares", body)
    assert response.status_code == 201, response.text
    return response.json()


async def owner_notifications(owner: Client) -> list[dict[str, Any]]:
    response = await owner.get("/api/v1/notifications")
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_the_desk_lists_a_share_on_now_without_the_owners_contact_details(sharing: Sharing) -> None:
    share = await start(sharing)
    page = await sharing.desk.get("/live")
    assert page.status_code == 200, page.text
    html = page.text
    assert SITE["name"] in html and SITE["address"] in html
    assert "Front" in html and "Back door" in html  # the cameras
    assert "Someone is trying the back door" in html
    assert "Started by the owner in the app" in html
    assert "Nobody has told the owner they are watching yet" in html
    assert f'href="/live/{share["id"]}"' in html
    assert "29 min" in html or "30 min" in html  # the time left
    for private in (OWNER_EMAIL, SITE["contact_phone"], OWNER_NAME, SITE["contact_hours"]):
        assert private not in html, f"{private!r} is on the live desk's page"
    one = await sharing.desk.get(f"/live/{share['id']}")
    assert one.status_code == 200
    for private in (OWNER_EMAIL, SITE["contact_phone"], OWNER_NAME):
        assert private not in one.text
    assert one.text.count("<video") == 2
    assert f'data-whep="/live/v1/whep/{share["cameras"][0]["id"]}"' in one.text
    # The navigation leads a live desk operator to the desk and the audit.
    assert 'href="/live/audit"' in html


async def test_with_no_share_on_the_desk_says_so(sharing: Sharing) -> None:
    page = await sharing.desk.get("/live")
    assert page.status_code == 200
    assert "No one is sharing live video right now." in page.text
    assert 'data-testid="live-share"' not in page.text.split("<template")[0]


async def test_an_investigator_who_is_not_the_live_desk_gets_403(
    sharing: Sharing, app: Litestar, db: AsyncSession
) -> None:
    share = await start(sharing)
    async with Client(app) as detective:
        await investigator(db, detective, "ivy@mpd.example", "Milwaukee PD")
        for path in ("/live", f"/live/{share['id']}", "/live/audit"):
            page = await detective.get(path)
            assert page.status_code == 403, path
            assert "Only live desk operators" in page.text and "<html" in page.text  # the page, not JSON
        acknowledged = await detective.submit(f"/live/{share['id']}/acknowledge", {})
        assert acknowledged.status_code == 403
    # The owner is a camera owner, not the desk.
    assert (await sharing.owner.get("/live")).status_code == 403


async def test_signed_out_the_desk_pages_ask_to_sign_in(app: Litestar) -> None:
    async with Client(app) as anonymous:
        page = await anonymous.get("/live/audit", follow_redirects=False)
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/login?next=")


async def test_another_agencys_live_desk_gets_404_on_the_share(
    sharing: Sharing, app: Litestar, db: AsyncSession
) -> None:
    share = await start(sharing)  # before the second agency exists: the program's agency is the only one
    async with Client(app) as elsewhere:
        await live_desk(db, elsewhere, email="desk@county.example", agency="County Sheriff")
        assert (await elsewhere.get(f"/live/{share['id']}")).status_code == 404
        assert SITE["name"] not in (await elsewhere.get("/live")).text
        assert (await elsewhere.submit(f"/live/{share['id']}/acknowledge", {})).status_code == 404


async def test_im_watching_tells_the_owner_and_is_recorded(sharing: Sharing, db: AsyncSession) -> None:
    share = await start(sharing)
    before = len(await owner_notifications(sharing.owner))
    response = await sharing.desk.send_json("POST", f"/api/v1/live-desk/shares/{share['id']}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "J. Ortiz"

    items = await owner_notifications(sharing.owner)
    assert len(items) == before + 1
    assert items[0]["title"] == "Milwaukee PD live desk (J. Ortiz) is watching"
    assert items[0]["navigate"] == f"/share/{share['id']}"
    custody = (await db.scalars(select(CustodyEvent).where(CustodyEvent.share_id == uuid.UUID(share["id"])))).all()
    assert [(e.action, e.actor_name) for e in custody] == [(CustodyAction.LIVE_ACKNOWLEDGED, "J. Ortiz")]

    page = await sharing.desk.get(f"/live/{share['id']}")
    assert "J. Ortiz told the owner they are watching" in page.text
    assert "J. Ortiz told the owner they are watching" in (await sharing.desk.get("/live")).text
    audit = await sharing.desk.get("/live/audit")
    assert audit.status_code == 200
    assert "Told the owner they are watching" in audit.text and SITE["name"] in audit.text and "J. Ortiz" in audit.text


async def test_the_buttons_work_without_scripts(sharing: Sharing, db: AsyncSession) -> None:
    share = await start(sharing)
    watching = await sharing.desk.submit(f"/live/{share['id']}/acknowledge", {})
    assert watching.status_code == 200 and str(watching.url).endswith("?said=watching")
    assert "You told the owner you are watching" in watching.text
    more = await sharing.desk.submit(f"/live/{share['id']}/more-time", {"minutes": "60"})
    assert more.status_code == 200
    assert "Asked the owner; waiting for their answer" in more.text
    owner_view = (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()
    assert owner_view["extension_asked_minutes"] == 60 and owner_view["extension_asked_by"] == "J. Ortiz"
    titles = [item["title"] for item in await owner_notifications(sharing.owner)]
    assert "Milwaukee PD live desk asks for 1 h more" in titles
    audit = (await sharing.desk.get("/live/audit")).text
    assert "Asked for more time" in audit and "asked for 1 h more" in audit


async def test_an_ended_shares_page_says_it_ended(sharing: Sharing) -> None:
    share = await start(sharing)
    stopped = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/stop")
    assert stopped.status_code == 200
    page = await sharing.desk.get(f"/live/{share['id']}")
    assert page.status_code == 200
    assert "This share has ended — ended by the owner" in page.text
    assert "data-ended" in page.text
    assert SITE["name"] not in (await sharing.desk.get("/live")).text.split("<template")[0]
    late = await sharing.desk.submit(f"/live/{share['id']}/acknowledge", {})
    assert late.status_code == 410 and "ended by the owner" in late.text


async def test_the_demo_live_desk_signs_in_with_the_printed_key_and_sees_the_desk(
    client: Client, db: AsyncSession
) -> None:
    from backend import demo

    await demo.seed(db)
    login = next(login for login in demo.DEMO_LOGINS if login.role == "live_desk")
    await client.submit("/login", {"email": login.email, "password": login.password, "next": "/live"})
    page = await client.submit("/login/code", {"code": pyotp.TOTP(login.totp_secret).now(), "next": "/live"})
    assert str(page.url).endswith("/live") and "<h1>Live desk</h1>" in page.text
    audit = await client.get("/live/audit")
    assert audit.status_code == 200 and "Nobody at your agency has opened live video yet." in audit.text
