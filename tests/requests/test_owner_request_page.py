"""The owner's request page as an owner reads it: each camera with its site, a decline that asks first, a closed
request in plain words, emergency and voluntary requests saying what they are, and a receipt to save for each clip
received (nobody else's). The owner's data export carries the request's conversation."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.requests import service
from backend.requests.models import FootageRequest
from push.fake_service import FakePushService
from push.models import Delivery
from tests.conftest import Client
from tests.helpers import add_camera, add_site, subscribed_browser
from tests.requests.conftest import as_owner, request_body, send
from tests.requests.test_evidence import upload


@pytest.fixture
async def owner(app: Litestar, area: dict) -> AsyncIterator[Client]:
    """The owner of the `area`'s Back door camera ("first@example.com"), signed in on a phone of their own."""
    async with Client(app) as phone:
        await as_owner(phone, "first@example.com")
        yield phone


async def back_door(client: Client, area: dict, **overrides: object) -> dict:
    """The `area` investigator's (on `client`) request to the Back door camera's owner."""
    return next(r for r in await send(client, area, **overrides) if r["cameras"][0]["name"] == "Back door")


async def state_of(db: AsyncSession, request_id: str) -> str:
    db.expire_all()
    return await db.scalar(select(FootageRequest.state).where(FootageRequest.id == uuid.UUID(request_id)))


async def test_each_camera_is_named_with_its_site_for_the_owner_only(client: Client, owner: Client, area: dict) -> None:
    """An owner with a "Garage" at two sites can tell which is asked for; the investigator is not told the sites."""
    await client.send_json("POST", f"/api/v1/cameras/{area['cameras'][1]}/resume")  # the bakery's Garage
    cottage = await add_site(owner, name="Lake cottage", latitude=43.0592, longitude=-87.9049)
    garage = await add_camera(owner, cottage["id"], name="Garage")
    sent = await client.send_json("POST", "/api/v1/agency/requests", request_body([area["back"]["id"], garage["id"]]))
    assert sent.status_code == 201, sent.text
    [request] = sent.json()
    assert {c["site_name"] for c in request["cameras"]} == {""}  # the agency learns sites from the contact card
    assert all(c["site_name"] == "" for r in (await client.get("/api/v1/agency/requests")).json() for c in r["cameras"])

    opened = (await owner.get(f"/api/v1/requests/{request['id']}")).json()
    sites = {"Back door": "Corner bakery", "Garage": "Lake cottage"}
    assert {c["name"]: c["site_name"] for c in opened["cameras"]} == sites
    listed = next(r for r in (await owner.get("/api/v1/requests")).json() if r["id"] == request["id"])
    assert {c["name"]: c["site_name"] for c in listed["cameras"]} == sites
    page = await owner.get(f"/requests/{request['id']}")
    assert '<span class="camera-name">Garage</span> <span class="site-name">at Lake cottage</span>' in page.text
    assert '<span class="camera-name">Back door</span> <span class="site-name">at Corner bakery</span>' in page.text
    inbox = await owner.get("/requests")
    assert "Back door at Corner bakery, Garage at Lake cottage" in inbox.text


async def test_decline_asks_first_and_declines_only_when_confirmed(
    client: Client, owner: Client, area: dict, db: AsyncSession
) -> None:
    request_id = (await back_door(client, area))["id"]
    page = await owner.get(f"/requests/{request_id}")
    assert 'data-testid="answer-bar"' in page.text
    assert f'href="/requests/{request_id}?decline=1#decline">Decline…</a>' in page.text
    assert 'value="decline"' not in page.text  # no one-tap decline button

    asked = await owner.get(f"/requests/{request_id}?decline=1")
    assert asked.status_code == 200 and "Decline this request?" in asked.text
    assert "Milwaukee PD is told only that you declined" in asked.text
    assert f'<a class="button secondary" href="/requests/{request_id}">Back</a>' in asked.text
    assert await state_of(db, request_id) == "seen"

    # A decline posted without its confirmation (an old page, a double tap) asks too, and changes nothing.
    unconfirmed = await owner.submit(f"/requests/{request_id}/answer", {"answer": "decline"})
    assert unconfirmed.status_code == 200 and "Decline this request?" in unconfirmed.text
    assert await state_of(db, request_id) == "seen"
    assert not [n for n in (await client.get("/api/v1/notifications")).json()["items"] if "answered" in n["title"]]

    confirmed = await owner.submit(f"/requests/{request_id}/answer", {"answer": "decline", "confirmed": "1"})
    assert confirmed.status_code == 200
    assert await state_of(db, request_id) == "declined"
    assert 'data-testid="outcome">You declined this request on ' in confirmed.text
    assert "declining carries no penalty. Nothing more to do." in confirmed.text
    assert "This request is declined" not in confirmed.text


async def test_another_owners_request_cannot_be_declined_or_asked_about(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    request_id = (await back_door(client, area))["id"]
    await as_owner(other_client, "second@example.com")
    assert (await other_client.get(f"/requests/{request_id}?decline=1")).status_code == 404
    answered = await other_client.submit(f"/requests/{request_id}/answer", {"answer": "decline", "confirmed": "1"})
    assert answered.status_code == 404
    assert await state_of(db, request_id) == "sent"


def day(value: dt.datetime) -> str:
    return value.astimezone(zoneinfo.ZoneInfo("America/Chicago")).strftime("%b %-d")


async def test_closed_requests_say_what_happened_in_plain_words(
    client: Client, owner: Client, area: dict, db: AsyncSession
) -> None:
    today = day(dt.datetime.now(dt.UTC))
    no_footage = (await back_door(client, area, case_number="MPD-1"))["id"]
    await owner.send_json("POST", f"/api/v1/requests/{no_footage}/answer", {"answer": "not_recording"})
    page = await owner.get(f"/requests/{no_footage}")
    assert f"On {today} you said your camera was not recording at that time. Nothing more to do." in page.text

    withdrawn = (await back_door(client, area, case_number="MPD-2"))["id"]
    assert (await client.send_json("POST", f"/api/v1/agency/requests/{withdrawn}/withdraw")).status_code == 200
    page = await owner.get(f"/requests/{withdrawn}")
    assert f"Withdrawn by Milwaukee PD on {today}; they no longer need footage. Nothing more to do." in page.text

    expired = await back_door(client, area, case_number="MPD-3")
    deadline = dt.datetime.fromisoformat(expired["deadline_at"])
    await service.sweep(db, deadline + dt.timedelta(minutes=1))
    page = await owner.get(f"/requests/{expired['id']}")
    assert f"This request expired on {day(deadline)} without an answer. Nothing more to do." in page.text
    for text in (page.text,):
        assert "This request is expired" not in text and "no_footage" not in text

    shared = (await back_door(client, area, case_number="MPD-4"))["id"]
    await owner.send_json("POST", f"/api/v1/requests/{shared}/answer", {"answer": "accept"})
    await upload(owner, shared)
    await upload(owner, shared)
    page = await owner.get(f"/requests/{shared}")
    assert f'data-testid="outcome">You shared 2 clips; the last on {today}. You can send more.' in page.text


async def test_an_emergency_stands_out_is_due_sooner_and_is_pushed_with_high_urgency(
    client: Client, owner: Client, area: dict, db: AsyncSession, push_service: FakePushService
) -> None:
    user = await accounts.get_user_by_email(db, "first@example.com")
    await subscribed_browser(db, push_service, user)
    already = await db.scalar(select(func.coalesce(func.max(Delivery.id), 0)))
    # The second owner's recorder keeps 30 days: the deadline is the default, not the recorder's overwrite.
    before = dt.datetime.now(dt.UTC)
    [emergency] = [r for r in await send(client, area, request_type="emergency") if r["cameras"][0]["name"] == "Alley"]
    deadline = dt.datetime.fromisoformat(emergency["deadline_at"])
    assert before + dt.timedelta(hours=12) <= deadline <= dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    [voluntary] = [r for r in await send(client, area, case_number="MPD-V") if r["cameras"][0]["name"] == "Alley"]
    assert dt.datetime.fromisoformat(voluntary["deadline_at"]) >= before + dt.timedelta(days=7)
    # A deadline the investigator gives is kept.
    given = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(microsecond=0)
    [kept] = [r for r in await send(client, area, request_type="emergency", deadline_at=given.isoformat())
              if r["cameras"][0]["name"] == "Alley"]  # fmt: skip
    assert dt.datetime.fromisoformat(kept["deadline_at"]) == given

    pushes = (await db.scalars(select(Delivery.urgency).where(Delivery.id > already))).all()
    assert pushes and set(pushes) == {"high"}  # RFC 8030: a phone asleep is woken at once
    told = (await owner.get("/api/v1/notifications")).json()["items"]
    assert "Emergency: police request footage now" in [n["title"] for n in told]

    request_id = next(r["id"] for r in (await owner.get("/api/v1/requests")).json() if r["request_type"] == "emergency")
    inbox = await owner.get("/requests")
    assert " emergency" in inbox.text and "<strong>Emergency:</strong> answer as soon as you can." in inbox.text
    page = await owner.get(f"/requests/{request_id}")
    assert '<span class="badge emergency" data-testid="request-type">Emergency</span>' in page.text
    assert "police say someone may be in danger now. Please answer as soon as you can." in page.text
    assert "Answering is voluntary" not in page.text


async def test_an_emergency_is_reminded_of_halfway_not_as_soon_as_it_is_sent(
    client: Client, area: dict, db: AsyncSession
) -> None:
    [emergency] = [r for r in await send(client, area, request_type="emergency") if r["cameras"][0]["name"] == "Alley"]
    deadline = dt.datetime.fromisoformat(emergency["deadline_at"])
    assert await service.sweep(db, deadline - dt.timedelta(hours=11)) == (0, 0)
    # Both owners were asked; each is reminded once, 6 hours before.
    assert await service.sweep(db, deadline - dt.timedelta(hours=5, minutes=59)) == (0, 2)
    assert await service.sweep(db, deadline - dt.timedelta(hours=5)) == (0, 0)


async def test_a_voluntary_request_says_answering_is_voluntary(client: Client, owner: Client, area: dict) -> None:
    voluntary = (await back_door(client, area))["id"]
    page = await owner.get(f"/requests/{voluntary}")
    assert "<strong>Answering is voluntary.</strong> You choose whether to share anything" in page.text
    warrant = (await back_door(client, area, request_type="warrant", case_number="MPD-W"))["id"]
    page = await owner.get(f"/requests/{warrant}")
    assert "Answering is voluntary" not in page.text and "Warrant or court order" in page.text


async def test_a_received_clip_has_a_receipt_to_save_that_only_its_owner_reaches(
    client: Client, owner: Client, other_client: Client, area: dict
) -> None:
    request_id = (await back_door(client, area))["id"]
    await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    clip = await upload(owner, request_id)
    page = await owner.get(f"/requests/{request_id}")
    url = f"/requests/{request_id}/clips/{clip['id']}/receipt"
    assert f'<a class="button secondary small" href="{url}" download>Save receipt</a>' in page.text
    assert f'data-share-receipt="{url}" hidden>Share</button>' in page.text  # shown by the script where it can

    receipt = await owner.get(url)
    assert receipt.status_code == 200
    assert receipt.headers["content-type"].startswith("text/plain")
    assert receipt.headers["content-disposition"] == f'attachment; filename="receipt-{clip["sha256"][:12]}.txt"'
    assert receipt.headers["cache-control"] == "no-store"
    received = dt.datetime.fromisoformat(clip["received_at"]).astimezone(zoneinfo.ZoneInfo("America/Chicago"))
    for line in (
        "Request:  Milwaukee PD, case MPD-26-1234",
        "File:     back-door.mp4",
        f"SHA-256:  {clip['sha256']}",
        f"Received: {received.strftime('%b %-d, %Y %-I:%M %p %Z')}",
        f"Clip id:  {clip['id']}",
    ):
        assert line in receipt.text

    # Another owner: 404 (an investigator is not let into owners' pages); a clip under another request: 404.
    await as_owner(other_client, "second@example.com")
    refused = await other_client.get(url)
    assert refused.status_code == 404 and clip["sha256"] not in refused.text
    investigator = await client.get(url)
    assert investigator.status_code in (403, 404) and clip["sha256"] not in investigator.text
    other_id = next(r["id"] for r in (await other_client.get("/api/v1/requests")).json())
    assert (await owner.get(f"/requests/{other_id}/clips/{clip['id']}/receipt")).status_code == 404


async def test_the_export_carries_the_request_conversations(client: Client, owner: Client, area: dict) -> None:
    request_id = (await back_door(client, area))["id"]
    asked = await owner.send_json(
        "POST", f"/api/v1/requests/{request_id}/answer", {"answer": "need_more_info", "message": "Which evening?"}
    )
    assert asked.status_code == 200
    replied = await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/messages", {"text": "Friday."})
    assert replied.status_code == 201
    export = (await owner.get("/api/v1/me/export")).json()
    messages = [(m["author"], m["text"], m["case_number"], m["request_id"]) for m in export["request_messages"]]
    assert messages == [
        ("owner", "Which evening?", "MPD-26-1234", request_id),
        ("investigator", "Friday.", "MPD-26-1234", request_id),
    ]
    # Another owner's export has none of them.
    async with Client(owner.app) as second:
        await as_owner(second, "second@example.com")
        assert (await second.get("/api/v1/me/export")).json()["request_messages"] == []
