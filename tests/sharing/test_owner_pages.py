"""The owner's share-now pages: start from the form, the live share screen, extend, answer, stop, the summary; every
refusal comes back on the page with its message and saves nothing. Also the device's "share on alert" setting, the
access log's live-video entries and the data export."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import User
from backend.app import create_app
from backend.settings import Settings
from backend.sharing import service
from backend.sharing.models import ShareCamera, ShareSession
from tests.conftest import Client
from tests.devices.conftest import owner_with_site
from tests.helpers import add_site
from tests.sharing.conftest import Sharing

PLAIN = "Police can watch these cameras live until the time runs out or you stop. Nothing is recorded by Porchlight."


async def shares_in(db: AsyncSession) -> int:
    return await db.scalar(select(func.count()).select_from(ShareSession)) or 0


async def start(owner: Client, site_id: str, **fields: Any) -> httpx.Response:
    return await owner.submit("/share", {"site_id": site_id, "minutes": "30", "note": "", **fields})


def share_id_of(response: httpx.Response) -> str:
    match = re.fullmatch(r"/share/([0-9a-f-]{36})", response.url.path)
    assert match, f"not on a share page: {response.url}"
    return match.group(1)


def countdown(html: str) -> str:
    match = re.search(r'data-testid="share-countdown">([^<]+)<', html)
    assert match, "no countdown on the page"
    return match.group(1)


async def test_the_owner_starts_sharing_from_the_form_and_sees_the_countdown_and_cameras(
    sharing: Sharing, db: AsyncSession
) -> None:
    form = await sharing.owner.get("/share")
    assert form.status_code == 200
    assert PLAIN in form.text and "In an emergency call 911." in form.text
    assert f'value="{sharing.site_id}" aria-describedby="site-{sharing.site_id}-hint" checked' in form.text  # one site
    assert 'name="minutes" value="30" checked' in form.text
    assert "2 cameras sending video now: Back door, Front." in form.text

    page = await start(sharing.owner, sharing.site_id, note="someone is trying the back door")
    assert page.status_code == 200
    share_id = share_id_of(page)
    assert "Sharing started. The live desk can see your cameras now." in page.text
    assert countdown(page.text) in ("30:00", "29:59", "29:58")
    assert 'data-seconds-left="' in page.text and "share.js" in page.text
    assert "Back door" in page.text and "Front" in page.text and "Waiting for video" in page.text
    assert "Nobody has said they are watching yet." in page.text
    assert "Your note for the desk: someone is trying the back door" in page.text
    assert "Stop sharing" in page.text
    assert await shares_in(db) == 1

    # While it is on, "Share now" leads to it.
    again = await sharing.owner.get("/share")
    assert again.url.path == f"/share/{share_id}"
    assert (await sharing.owner.get("/sites")).text.count('href="/share"') >= 1  # the "Share now" link in the nav


async def test_refused_starts_come_back_on_the_form_with_a_message_and_save_nothing(
    sharing: Sharing, app: Any, db: AsyncSession
) -> None:
    over = await start(sharing.owner, sharing.site_id, minutes="300")
    assert over.status_code == 400
    assert "A share lasts at most 4 h in this program" in over.text
    assert 'id="f-minutes-error"' in over.text

    empty_site = (await add_site(sharing.owner, name="Garage lot"))["id"]
    no_camera = await start(sharing.owner, empty_site, note="kept")
    assert no_camera.status_code == 400
    assert "No camera at this site is sending video through an edge device right now" in no_camera.text
    assert "Garage lot" in no_camera.text and 'href="/devices"' in no_camera.text
    assert ">kept</textarea>" in no_camera.text  # the values are kept

    async with Client(app) as stranger:
        stranger_site = await owner_with_site(stranger, email="stranger@example.com")
        theirs = await start(sharing.owner, stranger_site)
        assert theirs.status_code == 404 and "That site is not one of yours." in theirs.text

    missing = await sharing.owner.submit("/share", {"minutes": "30"})
    assert missing.status_code == 400 and "Site is required" in missing.text
    assert await shares_in(db) == 0

    first = await start(sharing.owner, sharing.site_id)
    share_id = share_id_of(first)
    twice = await start(sharing.owner, sharing.site_id)
    assert twice.status_code == 409 and "You are already sharing" in twice.text
    assert f'href="/share/{share_id}"' in twice.text
    assert await shares_in(db) == 1


async def test_no_duration_above_the_programs_cap_is_offered(sharing: Sharing, settings: Settings) -> None:
    capped = create_app(replace(settings, share_max_minutes=60))
    async with capped.lifespan(), Client(capped) as owner:
        owner.cookies = sharing.owner.cookies
        form = await owner.get("/share")
        assert 'name="minutes" value="60"' in form.text and 'name="minutes" value="120"' not in form.text
        page = await start(owner, sharing.site_id, minutes="60")
        assert "disabled>+15 min" in page.text and "already lasts the longest allowed (1 h)" in page.text
        refused = await owner.submit(f"/share/{share_id_of(page)}/extend", {"minutes": "15"})
        assert refused.status_code == 400 and "This share already lasts the longest allowed (1 h)" in refused.text


async def test_the_owner_extends_answers_the_desk_and_stops_and_then_sees_a_summary(
    sharing: Sharing, db: AsyncSession
) -> None:
    share_id = share_id_of(await start(sharing.owner, sharing.site_id))
    extended = await sharing.owner.submit(f"/share/{share_id}/extend", {"minutes": "15"})
    assert "More time given." in extended.text and countdown(extended.text).startswith("44:")

    ask = await sharing.desk.send_json("POST", f"/api/v1/live-desk/shares/{share_id}/more-time", {"minutes": 30})
    assert ask.status_code == 200
    page = (await sharing.owner.get(f"/share/{share_id}")).text
    assert (
        "<span data-share-ask-who>J. Ortiz</span> asks to keep watching for <span data-share-ask-minutes>30 min" in page
    )
    assert "data-share-ask hidden" not in page
    yes = await sharing.owner.submit(f"/share/{share_id}/answer", {"approve": "yes"})
    assert "You gave the live desk more time." in yes.text and countdown(yes.text).startswith("1:14:")
    no_question = await sharing.owner.submit(f"/share/{share_id}/answer", {"approve": "no"})
    assert no_question.status_code == 409 and "has not asked for more time" in no_question.text

    stopped = await sharing.owner.submit(f"/share/{share_id}/stop", {})
    assert stopped.url.path == f"/share/{share_id}"
    assert "Sharing stopped. Nobody can see your cameras any more." in stopped.text
    assert "Share of Corner bakery ended" in stopped.text or "ended</h1>" in stopped.text
    assert "Ended by the owner" in stopped.text and "Stop sharing" not in stopped.text
    assert "Nobody at the live desk opened your video." in stopped.text
    assert "share.js" not in stopped.text
    again = await sharing.owner.submit(f"/share/{share_id}/stop", {})
    assert again.status_code == 409 and "already ended" in again.text

    history = await sharing.owner.get("/share/history")
    assert f'href="/share/{share_id}"' in history.text and "ended by the owner" in history.text
    form = await sharing.owner.get("/share")
    assert form.url.path == "/share" and f'href="/share/{share_id}"' in form.text  # past shares under the form


async def test_another_owners_share_is_not_found(sharing: Sharing, app: Any, db: AsyncSession) -> None:
    share_id = share_id_of(await start(sharing.owner, sharing.site_id))
    async with Client(app) as stranger:
        await owner_with_site(stranger, email="stranger@example.com")
        assert (await stranger.get(f"/share/{share_id}")).status_code == 404
        assert (await stranger.submit(f"/share/{share_id}/stop", {})).status_code == 404
        assert (await stranger.get(f"/share/{uuid.uuid4()}")).status_code == 404
    assert "Stop sharing" in (await sharing.owner.get(f"/share/{share_id}")).text  # still on


async def test_the_owner_sees_who_watches_and_the_access_log_lists_the_live_view(
    sharing: Sharing, db: AsyncSession
) -> None:
    share_id = share_id_of(await start(sharing.owner, sharing.site_id))
    watching = (await sharing.owner.get(f"/share/{share_id}")).text
    assert "Nobody has said they are watching yet." in watching

    desk_user = await db.scalar(select(User).where(User.email == "ortiz@mpd.example"))
    front = await db.scalar(
        select(ShareCamera.id).where(ShareCamera.share_id == uuid.UUID(share_id), ShareCamera.name == "Front")
    )
    assert desk_user is not None and front is not None
    await service.authorize_view(db, desk_user, front, "203.0.113.9")
    await sharing.desk.send_json("POST", f"/api/v1/live-desk/shares/{share_id}/acknowledge")

    page = (await sharing.owner.get(f"/share/{share_id}")).text
    assert "Milwaukee PD — J. Ortiz, since" in page
    assert "<span data-share-ack-who>J. Ortiz</span> said they are watching." in page
    assert "Nobody has said they are watching yet." in page  # kept for the script, but hidden:
    assert "data-share-nobody hidden" in page

    log = await sharing.owner.get("/account/access")
    assert log.status_code == 200
    assert (
        f'<strong>Milwaukee PD</strong> — J. Ortiz <a href="/share/{share_id}">opened live video of Front</a>'
        in log.text
    )
    assert "J. Ortiz <a" in log.text and "said they are watching your live video of Corner bakery" in log.text
    assert 'href="/share/history"' in log.text

    await sharing.owner.submit(f"/share/{share_id}/stop", {})
    summary = (await sharing.owner.get(f"/share/{share_id}")).text
    assert "Milwaukee PD — J. Ortiz, from" in summary
    assert "J. Ortiz said they were watching at" in summary


async def test_the_owner_is_told_plainly_when_nobody_at_the_desk_answered(sharing: Sharing, db: AsyncSession) -> None:
    share_id = share_id_of(await start(sharing.owner, sharing.site_id))
    warning = "Nobody at the live desk has answered yet. If you need help now, call 911."
    assert "data-share-unanswered hidden" in (await sharing.owner.get(f"/share/{share_id}")).text
    share = await db.get_one(ShareSession, uuid.UUID(share_id))
    await service.sweep(db, now=share.started_at + service.ACKNOWLEDGE_WITHIN + service.dt.timedelta(seconds=5))
    page = (await sharing.owner.get(f"/share/{share_id}")).text
    assert warning in page and "data-share-unanswered hidden" not in page


async def test_the_export_holds_the_owners_shares(sharing: Sharing) -> None:
    share_id = share_id_of(await start(sharing.owner, sharing.site_id, note="back door"))
    exported = (await sharing.owner.get("/account/export")).json()
    assert [(s["id"], s["note"], s["site_name"]) for s in exported["shares"]] == [
        (share_id, "back door", "Corner bakery")
    ]


async def test_the_device_page_saves_share_on_alert(sharing: Sharing) -> None:
    device_url = f"/devices/{sharing.device.id}"
    page = (await sharing.owner.get(device_url)).text
    assert "Start sharing when the panic button is pressed" in page and "When off, a press only notifies you." in page
    assert 'name="share_on_alert" value="on" aria-describedby="f-share_on_alert-hint">' in page  # off by default

    saved = await sharing.owner.submit(
        f"{device_url}/share-on-alert", {"share_on_alert": "on", "alert_share_minutes": "60"}
    )
    assert "The panic button now starts sharing your cameras" in saved.text
    assert 'aria-describedby="f-share_on_alert-hint" checked>' in saved.text
    assert 'name="alert_share_minutes" value="60" checked' in saved.text
    device = (await sharing.owner.get(f"/api/v1/devices/{sharing.device.id}")).json()
    assert device["share_on_alert"] is True and device["alert_share_minutes"] == 60

    off = await sharing.owner.submit(f"{device_url}/share-on-alert", {"alert_share_minutes": "60"})
    assert "a press of the panic button only notifies you" in off.text
    assert (await sharing.owner.get(f"/api/v1/devices/{sharing.device.id}")).json()["share_on_alert"] is False

    odd = await sharing.owner.submit(
        f"{device_url}/share-on-alert", {"share_on_alert": "on", "alert_share_minutes": "45"}
    )
    assert odd.status_code == 400 and "Choose how long to share: 15 min, 30 min, 1 h or 2 h" in odd.text
    assert (await sharing.owner.get(f"/api/v1/devices/{sharing.device.id}")).json()["share_on_alert"] is False

    patched = await sharing.owner.send_json(
        "PATCH", f"/api/v1/devices/{sharing.device.id}", {"alert_share_minutes": 45}
    )
    assert patched.status_code == 400 and "alert_share_minutes" in patched.text
