"""Shares through the API: start, the desired state, extend, the desk's acknowledgement and request for more time,
stop, the sweeper, the panic button, and every refusal with its message."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Conflict
from backend.notifications.models import Notification
from backend.requests.models import CustodyEvent
from backend.sharing import service
from backend.sharing.models import TRANSITIONS, ShareSession, ShareState
from tests.conftest import Client
from tests.devices.conftest import owner_with_site
from tests.sharing.conftest import Sharing, live_desk, online_device


async def start(owner: Client, site_id: str, **overrides: Any) -> Any:
    return await owner.send_json("POST", "/api/v1/shares", {"site_id": site_id, "minutes": 30, **overrides})


async def desired(sharing: Sharing) -> dict[str, Any]:
    response = await sharing.owner.get(
        "/device/v1/desired", params={"version": 0, "wait": 0}, headers=sharing.device.auth
    )
    assert response.status_code == 200, response.text
    return response.json()


async def shares_in(db: AsyncSession) -> int:
    return await db.scalar(select(func.count()).select_from(ShareSession)) or 0


async def titles(db: AsyncSession) -> list[str]:
    return list(await db.scalars(select(Notification.title).order_by(Notification.created_at)))


async def test_owner_starts_a_share_and_the_device_is_told_what_to_publish(sharing: Sharing) -> None:
    response = await start(sharing.owner, sharing.site_id, note="someone is trying the back door")
    assert response.status_code == 201, response.text
    share = response.json()
    assert share["state"] == "requested" and share["trigger"] == "app"
    assert sorted(c["name"] for c in share["cameras"]) == ["Back door", "Front"]
    assert 29 * 60 < share["seconds_left"] <= 30 * 60
    assert share["watching"] == [] and share["note"] == "someone is trying the back door"

    document = await desired(sharing)
    assert document["share"]["share_id"] == share["id"]
    assert {c["key"] for c in document["share"]["cameras"]} == {"front", "back-door"}
    assert all(c["whip_url"].startswith("/live/v1/whip/") for c in document["share"]["cameras"])

    stopped = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["state"] == "ended" and stopped.json()["ended_how"] == "ended by the owner"
    assert (await desired(sharing))["share"] is None
    again = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/stop")
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


async def test_a_second_start_while_sharing_is_refused_and_names_the_share(sharing: Sharing, db: AsyncSession) -> None:
    first = (await start(sharing.owner, sharing.site_id)).json()
    second = await start(sharing.owner, sharing.site_id, minutes=60)
    assert second.status_code == 409
    assert "already sharing" in second.json()["detail"] and first["id"] in second.json()["detail"]
    assert await shares_in(db) == 1


async def test_bad_starts_are_refused_with_a_message_and_save_nothing(sharing: Sharing, db: AsyncSession) -> None:
    over = await start(sharing.owner, sharing.site_id, minutes=241)
    assert over.status_code == 400
    assert over.json()["errors"] == [{"field": "minutes", "message": "A share lasts at most 4 h in this program"}]

    camera = (await sharing.owner.send_json(
        "POST", f"/api/v1/sites/{sharing.site_id}/cameras",
        {"name": "Garage", "latitude": 43.0595, "longitude": -87.9051, "bearing_deg": 90, "placement": "outdoor",
         "recorder": "nvr_dvr", "retention_days": 14},
    )).json()  # fmt: skip
    unlinked = await start(sharing.owner, sharing.site_id, camera_ids=[camera["id"]])
    assert unlinked.status_code == 400
    assert "Garage has no edge device sending its video" in unlinked.json()["detail"]
    assert await shares_in(db) == 0


async def test_another_owners_site_camera_and_share_are_not_found(sharing: Sharing, app: Any, db: AsyncSession) -> None:
    async with Client(app) as stranger:
        stranger_site = await owner_with_site(stranger, email="stranger@example.com")
        share = (await start(sharing.owner, sharing.site_id)).json()
        assert (await start(stranger, sharing.site_id)).status_code == 404
        assert (await stranger.get(f"/api/v1/shares/{share['id']}")).status_code == 404
        assert (await stranger.send_json("POST", f"/api/v1/shares/{share['id']}/stop")).status_code == 404
        # A site with no device: a clear message.
        empty = await start(stranger, stranger_site)
        assert empty.status_code == 400 and "No camera at this site is sending video" in empty.json()["detail"]
    assert (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()["state"] == "requested"


async def test_only_the_owner_extends_and_never_past_the_cap(sharing: Sharing) -> None:
    share = (await start(sharing.owner, sharing.site_id, minutes=120)).json()
    # The desk cannot extend a share, only ask.
    refused = await sharing.desk.send_json("POST", f"/api/v1/shares/{share['id']}/extend", {"minutes": 30})
    assert refused.status_code == 403
    answer = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/answer", {"approve": True})
    assert answer.status_code == 409 and "has not asked" in answer.json()["detail"]

    extended = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/extend", {"minutes": 90})
    assert extended.status_code == 200
    capped = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/extend", {"minutes": 120})
    assert capped.status_code == 200
    started = dt.datetime.fromisoformat(capped.json()["started_at"])
    assert dt.datetime.fromisoformat(capped.json()["ends_at"]) - started == dt.timedelta(hours=4)
    full = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/extend", {"minutes": 15})
    assert full.status_code == 400 and "longest allowed (4 h)" in full.json()["detail"]


async def test_the_desk_acknowledges_and_asks_for_more_time_and_the_owner_hears_of_both(
    sharing: Sharing, db: AsyncSession
) -> None:
    share = (await start(sharing.owner, sharing.site_id)).json()
    listed = (await sharing.desk.get("/api/v1/live-desk/shares")).json()
    assert [s["id"] for s in listed] == [share["id"]]
    assert "owner@example.com" not in str(listed)  # no owner contact details at the desk

    ack = await sharing.desk.send_json("POST", f"/api/v1/live-desk/shares/{share['id']}/acknowledge")
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "J. Ortiz"
    assert "Milwaukee PD live desk (J. Ortiz) is watching" in await titles(db)

    asked = await sharing.desk.send_json("POST", f"/api/v1/live-desk/shares/{share['id']}/more-time", {"minutes": 60})
    assert asked.status_code == 200
    mine = (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()
    assert mine["extension_asked_minutes"] == 60 and mine["acknowledged_by"] == "J. Ortiz"
    assert "Milwaukee PD live desk asks for 1 h more" in await titles(db)
    yes = await sharing.owner.send_json("POST", f"/api/v1/shares/{share['id']}/answer", {"approve": True})
    assert yes.status_code == 200 and 89 * 60 < yes.json()["seconds_left"] <= 90 * 60
    assert yes.json()["extension_asked_minutes"] is None

    actions = list(await db.scalars(select(CustodyEvent.action).where(CustodyEvent.share_id.is_not(None))))
    assert sorted(actions) == ["live_acknowledged", "live_more_time"]
    log = (await sharing.owner.get("/api/v1/requests/access-log")).json()
    assert {entry["action"] for entry in log} >= {"live_acknowledged", "live_more_time"}


async def test_an_investigator_or_another_agency_cannot_see_the_share(
    sharing: Sharing, app: Any, db: AsyncSession
) -> None:
    share = (await start(sharing.owner, sharing.site_id)).json()
    async with Client(app) as detective, Client(app) as elsewhere:
        from tests.requests.conftest import investigator

        await investigator(db, detective, "det@mpd.example", "Milwaukee PD")
        assert (await detective.get("/api/v1/live-desk/shares")).status_code == 403
        await live_desk(db, elsewhere, email="desk@county.example", agency="County Sheriff")
        assert (await elsewhere.get("/api/v1/live-desk/shares")).json() == []
        assert (await elsewhere.get(f"/api/v1/live-desk/shares/{share['id']}")).status_code == 404
        refused = await elsewhere.send_json("POST", f"/api/v1/live-desk/shares/{share['id']}/acknowledge")
        assert refused.status_code == 404


async def test_the_sweeper_tells_the_owner_nobody_answered_then_ends_the_share_on_time(
    sharing: Sharing, db: AsyncSession
) -> None:
    share = (await start(sharing.owner, sharing.site_id, minutes=15)).json()
    started = dt.datetime.fromisoformat(share["started_at"])
    assert await service.sweep(db, now=started + dt.timedelta(seconds=90)) == (0, 0)
    assert await service.sweep(db, now=started + dt.timedelta(minutes=2, seconds=5)) == (0, 1)
    assert "Nobody at the live desk has answered yet" in await titles(db)
    assert (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()["nobody_answered"] is True
    assert await service.sweep(db, now=started + dt.timedelta(minutes=3)) == (0, 0)  # told once

    assert await service.sweep(db, now=started + dt.timedelta(minutes=15, seconds=1)) == (1, 0)
    ended = (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()
    assert ended["state"] == "ended" and ended["ended_how"] == "the time ran out"
    assert (await desired(sharing))["share"] is None


async def test_the_panic_button_notifies_only_until_share_on_alert_is_allowed(
    sharing: Sharing, db: AsyncSession
) -> None:
    press = {"kind": "button_press", "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "detail": "back door"}
    response = await sharing.owner.post("/device/v1/events", json=press, headers=sharing.device.auth)
    assert response.status_code == 202, response.text
    assert await shares_in(db) == 0
    assert any(t.startswith("Panic button pressed at") for t in await titles(db))

    patched = await sharing.owner.send_json(
        "PATCH", f"/api/v1/devices/{sharing.device.id}", {"share_on_alert": True, "alert_share_minutes": 15}
    )
    assert patched.status_code == 200, patched.text
    response = await sharing.owner.post("/device/v1/events", json=press, headers=sharing.device.auth)
    assert response.status_code == 202
    share = (await sharing.desk.get("/api/v1/live-desk/shares")).json()[0]
    assert share["trigger"] == "button" and 14 * 60 < share["seconds_left"] <= 15 * 60
    assert any(t.startswith("Sharing started by the panic button at") for t in await titles(db))
    assert (await desired(sharing))["share"]["share_id"] == share["id"]


async def test_removing_the_device_ends_its_share(sharing: Sharing) -> None:
    share = (await start(sharing.owner, sharing.site_id)).json()
    removed = await sharing.owner.send_json("DELETE", f"/api/v1/devices/{sharing.device.id}")
    assert removed.status_code in (200, 204), removed.text
    ended = (await sharing.owner.get(f"/api/v1/shares/{share['id']}")).json()
    assert ended["state"] == "ended" and ended["ended_how"] == "the owner removed the device"


async def test_single_cameras_can_be_shared(sharing: Sharing, app: Any) -> None:
    camera = (await sharing.owner.send_json(
        "POST", f"/api/v1/sites/{sharing.site_id}/cameras",
        {"name": "Front door", "latitude": 43.0595, "longitude": -87.9051, "bearing_deg": 90, "placement": "outdoor",
         "recorder": "nvr_dvr", "retention_days": 14},
    )).json()  # fmt: skip
    detail = (await sharing.owner.get(f"/api/v1/devices/{sharing.device.id}")).json()
    front = next(c for c in detail["cameras"] if c["key"] == "front")
    linked = await sharing.owner.send_json(
        "POST", f"/api/v1/devices/cameras/{front['id']}/link", {"camera_id": camera["id"]}
    )
    assert linked.status_code == 200, linked.text
    share = (await start(sharing.owner, sharing.site_id, camera_ids=[camera["id"]])).json()
    assert [c["name"] for c in share["cameras"]] == ["Front"]
    assert [c["key"] for c in (await desired(sharing))["share"]["cameras"]] == ["front"]


@given(st.lists(st.sampled_from(list(ShareState)), max_size=10))
def test_the_state_machine_never_reopens_an_ended_share(moves: list[ShareState]) -> None:
    share = ShareSession(state=ShareState.REQUESTED)
    history = [ShareState.REQUESTED]
    for wanted in moves:
        try:
            service._move(share, wanted)
        except Conflict as refused:
            assert wanted not in TRANSITIONS[history[-1]]
            assert "cannot become" in refused.detail
            continue
        history.append(ShareState(share.state))
    assert ShareState.ENDED not in history[:-1]  # nothing follows ended
    assert history.count(ShareState.LIVE) <= 1


async def test_a_second_owner_device_is_not_shared(sharing: Sharing, app: Any) -> None:
    """A share covers the owner's own site only: another owner's online device at another site is untouched."""
    async with Client(app) as stranger, Client(app) as box:
        site = await owner_with_site(stranger, email="stranger@example.com")
        other = await online_device(stranger, box, site, "gate")
        await start(sharing.owner, sharing.site_id)
        response = await box.get("/device/v1/desired", params={"version": 0, "wait": 0}, headers=other.auth)
        assert response.json()["share"] is None
