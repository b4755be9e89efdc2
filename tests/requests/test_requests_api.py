"""Footage requests end to end through the API: sending, answering, withdrawing, expiry, custody."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.notifications.models import Notification
from backend.requests import service
from backend.requests.models import CustodyEvent, FootageRequest
from tests.conftest import Client
from tests.requests.conftest import NOW, as_owner, investigator, request_body, send


async def test_one_request_per_owner_naming_their_unpaused_cameras(
    client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    assert len(sent) == 2
    by_camera = {c["name"]: r for r in sent for c in r["cameras"]}
    assert set(by_camera) == {"Back door", "Alley"}  # the paused Garage is not asked
    first = by_camera["Back door"]
    assert first["state"] == "sent" and first["request_type_label"] == "Voluntary request"
    assert first["agency"] == "Milwaukee PD" and first["case_number"] == "MPD-26-1234"
    # Retention 3 days: the deadline is when that recorder overwrites the window, before the 7-day default.
    window_start = dt.datetime.fromisoformat(first["window_start"])
    assert dt.datetime.fromisoformat(first["deadline_at"]) == window_start + dt.timedelta(days=3)
    assert dt.datetime.fromisoformat(first["cameras"][0]["overwritten_at"]) == window_start + dt.timedelta(days=3)
    assert 0 < first["cameras"][0]["distance_m"] < 200
    second = by_camera["Alley"]
    assert dt.datetime.fromisoformat(second["deadline_at"]) > NOW + dt.timedelta(days=6, hours=23)
    assert await db.scalar(select(func.count()).select_from(Notification)) == 2
    assert (
        await db.scalar(select(func.count()).select_from(CustodyEvent).where(CustodyEvent.action == "request_sent"))
        == 2
    )
    assert "first@example.com" not in str(sent) and "555-0100" not in str(sent)  # no contact details in the list


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"window_end": (NOW - dt.timedelta(days=2)).isoformat()}, "window_end", "must end after it starts"),
        ({"window_end": (NOW + dt.timedelta(days=7)).isoformat()}, "window_end", "at most 7 days"),
        ({"deadline_at": (NOW - dt.timedelta(hours=1)).isoformat()}, "deadline_at", "must be in the future"),
        ({"case_number": ""}, "case_number", "is required"),
        ({"request_type": "subpoena"}, "request_type", "is not one of the allowed choices"),
    ],
)
async def test_bad_requests_name_the_field_and_save_nothing(
    client: Client, area: dict, db: AsyncSession, overrides: dict, field: str, message: str
) -> None:
    response = await client.send_json("POST", "/api/v1/agency/requests", request_body(area["cameras"], **overrides))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field and message in response.json()["errors"][0]["message"]
    assert await db.scalar(select(func.count()).select_from(FootageRequest)) == 0
    assert await db.scalar(select(func.count()).select_from(Notification)) == 0


async def test_owner_sees_marks_seen_and_accepts_then_cannot_answer_again(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    assert [r["id"] for r in (await client.get("/api/v1/requests")).json()] == [request_id]
    opened = (await client.get(f"/api/v1/requests/{request_id}")).json()
    assert opened["state"] == "seen" and opened["message"] == "Hit and run at the corner."
    accepted = await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    assert accepted.json()["state"] == "accepted"
    again = await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "no_footage"})
    assert again.status_code == 409
    assert again.json()["detail"] == "This request is accepted; it cannot become no footage"


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ("no_footage", "no_footage"),
        ("not_recording", "no_footage"),
        ("not_covered", "no_footage"),
        ("decline", "declined"),
    ],
)
async def test_quick_replies_close_the_request(client: Client, area: dict, answer: str, state: str) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    response = await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": answer})
    assert response.status_code == 200 and response.json()["state"] == state and response.json()["reply"] == answer


async def test_need_more_information_needs_a_message_and_keeps_the_request_open(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    url = f"/api/v1/requests/{request_id}/answer"
    empty = await client.send_json("POST", url, {"answer": "need_more_info"})
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "message"
    asked = await client.send_json("POST", url, {"answer": "need_more_info", "message": "Which camera angle?"})
    assert asked.json()["state"] == "seen" and asked.json()["reply_message"] == "Which camera angle?"
    assert (await client.send_json("POST", url, {"answer": "accept"})).json()["state"] == "accepted"


async def test_withdrawn_requests_cannot_be_answered_and_other_agencies_and_owners_get_404(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    # Another agency's investigator sees nothing of it.
    await other_client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, other_client, "det@other.example", "Other County SO")
    assert (await other_client.send_json("POST", f"/api/v1/agency/requests/{request_id}/withdraw")).status_code == 404
    assert (await other_client.get(f"/api/v1/agency/requests/{request_id}/contact")).status_code == 404
    assert (await other_client.get("/api/v1/agency/requests")).json() == []
    withdrawn = await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/withdraw")
    assert withdrawn.json()["state"] == "withdrawn"
    await as_owner(client, "first@example.com")
    answer = await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    assert answer.status_code == 409 and "withdrawn" in answer.json()["detail"]
    # The other owner cannot open this owner's request.
    await as_owner(other_client, "second@example.com")
    assert (await other_client.get(f"/api/v1/requests/{request_id}")).status_code == 404
    assert (
        await other_client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "decline"})
    ).status_code == 404


async def test_contact_card_is_a_recorded_access_the_owner_sees(client: Client, area: dict, db: AsyncSession) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    card = (await client.get(f"/api/v1/agency/requests/{request_id}/contact")).json()
    assert card["owner_name"] == "Pat Owner" and card["sites"][0]["phone"] == "(414) 555-0100"
    await as_owner(client, "first@example.com")
    log = (await client.get("/api/v1/requests/access-log")).json()
    assert [(e["action"], e["agency"], e["case_number"]) for e in log] == [
        ("contact_viewed", "Milwaukee PD", "MPD-26-1234"),
        ("request_sent", "Milwaukee PD", "MPD-26-1234"),
    ]
    assert await db.scalar(select(func.count()).select_from(CustodyEvent)) == 3  # two owners sent to, one card


async def test_owners_cannot_use_the_agency_side(client: Client, area: dict) -> None:
    await as_owner(client, "first@example.com")
    assert (await client.send_json("POST", "/api/v1/agency/requests", request_body(area["cameras"]))).status_code == 403


async def test_sweeper_reminds_a_day_before_and_expires_at_the_deadline(
    client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    first = next(r for r in sent if r["cameras"][0]["name"] == "Back door")
    deadline = dt.datetime.fromisoformat(first["deadline_at"])
    assert await service.sweep(db, deadline - dt.timedelta(hours=25)) == (0, 0)
    assert await service.sweep(db, deadline - dt.timedelta(hours=23)) == (0, 1)
    assert await service.sweep(db, deadline - dt.timedelta(hours=22)) == (0, 0)  # reminded once
    assert await service.sweep(db, deadline + dt.timedelta(seconds=1)) == (1, 0)
    await as_owner(client, "first@example.com")
    answer = await client.send_json("POST", f"/api/v1/requests/{first['id']}/answer", {"answer": "accept"})
    assert answer.status_code == 409 and "expired" in answer.json()["detail"]
    titles = [n["title"] for n in (await client.get("/api/v1/notifications")).json()["items"]]
    assert titles == ["Footage request expired", "A footage request ends in 24 hours", "Police request footage"]


async def test_personal_data_is_never_cached(client: Client, area: dict) -> None:
    """Contact card, custody CSV, exports and the owner's sites: `Cache-Control: no-store` (issue 14, defect 7)."""
    sent = await send(client, area)
    request_id = sent[0]["id"]
    for url in (
        f"/api/v1/agency/requests/{request_id}/contact",
        "/api/v1/agency/custody-report?case_number=MPD-26-1234&format=csv",
        f"/console/requests/{request_id}",
    ):
        response = await client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["cache-control"] == "no-store", url
    card = await client.submit(f"/console/requests/{request_id}/contact", {})
    assert card.headers["cache-control"] == "no-store"
    await as_owner(client, "first@example.com")
    site_id = (await client.get("/api/v1/sites")).json()[0]["id"]
    for url in ("/api/v1/sites", f"/sites/{site_id}", "/api/v1/me/export", "/account/export", "/sites"):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "no-store", url
    # Shared files keep their long cache; an anonymous page is not personal.
    await client.send_json("POST", "/api/v1/auth/logout")
    assert "no-store" not in (await client.get("/login")).headers.get("cache-control", "")
