"""A conversation per footage request: the owner asks ("Need more information" is the first message), the
investigator sees it and replies, the owner reads the reply; each message tells the other side (the owner in-app and
on their phones, the investigator in-app), opening the request reads them, and the request shows whose turn it is.
Nobody else reads or writes in it; a message that is empty or too long is refused beside its field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts import service as accounts
from backend.requests.models import RequestMessage
from push.fake_service import FakePushService
from push.worker import DeliveryWorker
from tests.conftest import Client
from tests.helpers import subscribed_browser
from tests.requests.conftest import as_owner, investigator, send

QUESTION = "Which camera angle do you need, the driveway or the alley?"
REPLY = "The driveway, 21:30 to 22:00 please."


@pytest.fixture
async def owner(app: Litestar, area: dict) -> AsyncIterator[Client]:
    """The owner of the `area`'s Back door camera ("first@example.com"), signed in on a browser of their own."""
    async with Client(app) as browser:
        await as_owner(browser, "first@example.com")
        yield browser


async def back_door_request(client: Client, area: dict) -> str:
    """A request from the `area` investigator (on `client`) to the Back door camera's owner."""
    return next(r["id"] for r in await send(client, area) if r["cameras"][0]["name"] == "Back door")


async def notifications_of(client: Client) -> dict:
    return (await client.get("/api/v1/notifications")).json()


async def agency_view(client: Client, request_id: str) -> dict:
    return next(r for r in (await client.get("/api/v1/agency/requests")).json() if r["id"] == request_id)


async def saved_messages(db: AsyncSession) -> int:
    return await db.scalar(select(func.count()).select_from(RequestMessage))


async def test_owner_asks_investigator_replies_and_each_side_is_told_and_sees_whose_turn_it_is(
    client: Client, owner: Client, area: dict, db: AsyncSession, push_service: FakePushService,
    worker: DeliveryWorker,
) -> None:  # fmt: skip
    browser = await subscribed_browser(db, push_service, await accounts.get_user_by_email(db, "first@example.com"))
    request_id = await back_door_request(client, area)

    asked = await owner.send_json(
        "POST", f"/api/v1/requests/{request_id}/answer", {"answer": "need_more_info", "message": QUESTION}
    )
    assert asked.status_code == 200
    assert asked.json()["state"] == "seen" and asked.json()["waiting_on"] == "investigator"
    assert asked.json()["state_label"] == "Waiting for the investigator"
    [question] = (await owner.get(f"/api/v1/requests/{request_id}/messages")).json()
    assert (question["author"], question["author_name"], question["text"]) == ("owner", "", QUESTION)
    assert question["read_at"] is None

    # The investigator is told in-app, and the request says it is their turn.
    told = await notifications_of(client)
    assert told["unread"] == 1
    assert told["items"][0]["title"] == "An owner wrote to you"
    assert told["items"][0]["navigate"] == f"/console/requests/{request_id}"
    assert QUESTION not in told["items"][0]["body"]  # the text stays behind the request page
    assert (await agency_view(client, request_id))["state_label"] == "Waiting for you"

    # Reading the conversation reads the owner's message and its notification; no owner's name or email in it.
    read = await client.get(f"/api/v1/agency/requests/{request_id}/messages")
    assert [m["text"] for m in read.json()] == [QUESTION]
    assert "first@example.com" not in read.text and "Pat" not in read.text
    assert (await notifications_of(client))["unread"] == 0
    [question] = (await owner.get(f"/api/v1/requests/{request_id}/messages")).json()
    assert question["read_at"] is not None  # the owner sees the investigator read it

    replied = await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/messages", {"text": REPLY})
    assert replied.status_code == 201
    assert (replied.json()["author"], replied.json()["author_name"]) == ("investigator", "Det. Milwaukee PD")
    assert (await agency_view(client, request_id))["state_label"] == "Waiting for the owner"

    # The owner is told in-app and on their phone (without the text), and it is their turn.
    told = await notifications_of(owner)
    assert told["unread"] == 1
    assert (told["items"][0]["title"], told["items"][0]["navigate"]) == (
        "Milwaukee PD wrote to you",
        f"/requests/{request_id}",
    )
    await worker.run_once()
    pushed = {m.json()["notification"]["title"]: m.json()["notification"] for m in push_service.messages(browser)}
    assert set(pushed) == {"Police request footage", "Milwaukee PD wrote to you"}  # sent at once: in any order
    assert pushed["Milwaukee PD wrote to you"]["navigate"] == f"/requests/{request_id}"
    assert REPLY not in str(pushed)
    opened = await owner.get(f"/api/v1/requests/{request_id}")
    assert opened.json()["waiting_on"] == "owner" and opened.json()["state_label"] == "Waiting for you"
    assert (await notifications_of(owner))["unread"] == 0  # opening the request read it
    conversation = (await owner.get(f"/api/v1/requests/{request_id}/messages")).json()
    assert [(m["author"], m["text"]) for m in conversation] == [("owner", QUESTION), ("investigator", REPLY)]
    assert conversation[1]["read_at"] is not None

    # The owner answers: nobody's turn any more, the state speaks, and the investigator is told.
    accepted = await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    assert accepted.json()["state_label"] == "Accepted" and accepted.json()["waiting_on"] is None
    assert (await agency_view(client, request_id))["state_label"] == "Accepted"
    told = await notifications_of(client)
    assert told["items"][0]["title"] == "An owner answered" and "Accepted" in told["items"][0]["body"]

    # The conversation goes on while clips may follow: the owner can write again.
    again = await owner.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": "Uploading tonight."})
    assert again.status_code == 201
    assert (await agency_view(client, request_id))["state_label"] == "Waiting for you"


@pytest.mark.parametrize(
    ("answer", "news"),
    [
        ("accept", "Accepted: clips will follow"),
        ("no_footage", "No footage of that time"),
        ("not_recording", "Camera was not recording"),
        ("not_covered", "Doesn't cover that area"),
        ("decline", "Decline"),
    ],
)
async def test_the_investigator_is_told_of_every_answer(
    client: Client, owner: Client, area: dict, answer: str, news: str
) -> None:
    request_id = await back_door_request(client, area)
    assert (await notifications_of(client))["unread"] == 0
    answered = await owner.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": answer})
    assert answered.status_code == 200
    told = await notifications_of(client)
    assert told["unread"] == 1
    [item] = told["items"]
    assert item["title"] == "An owner answered" and item["navigate"] == f"/console/requests/{request_id}"
    assert item["body"] == f"Case MPD-26-1234 (Back door): {news}."
    page = await client.get(f"/console/requests/{request_id}")  # opening the request reads it
    assert page.status_code == 200 and (await notifications_of(client))["unread"] == 0


async def test_another_owner_and_another_agency_cannot_read_or_write_in_the_conversation(
    client: Client, other_client: Client, owner: Client, area: dict, db: AsyncSession, app: Litestar
) -> None:
    request_id = await back_door_request(client, area)
    await owner.send_json(
        "POST", f"/api/v1/requests/{request_id}/answer", {"answer": "need_more_info", "message": QUESTION}
    )
    # other_client is the second owner of the area.
    assert (await other_client.get(f"/api/v1/requests/{request_id}/messages")).status_code == 404
    written = await other_client.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": "Hi"})
    assert written.status_code == 404
    assert (await other_client.submit(f"/requests/{request_id}/messages", {"text": "Hi"})).status_code == 404
    async with Client(app) as county:
        await investigator(db, county, "det@county.example", "County Sheriff")
        assert (await county.get(f"/api/v1/agency/requests/{request_id}/messages")).status_code == 404
        written = await county.send_json("POST", f"/api/v1/agency/requests/{request_id}/messages", {"text": "Hi"})
        assert written.status_code == 404
        assert (await county.submit(f"/console/requests/{request_id}/messages", {"text": "Hi"})).status_code == 404
        page = await county.get(f"/console/requests/{request_id}")
        assert page.status_code == 404 and QUESTION not in page.text
    # An owner is not an investigator, even of their own request.
    assert (await owner.get(f"/api/v1/agency/requests/{request_id}/messages")).status_code == 403
    assert await saved_messages(db) == 1  # the question only
    conversation = (await owner.get(f"/api/v1/requests/{request_id}/messages")).json()
    assert [m["text"] for m in conversation] == [QUESTION]


async def test_a_closed_request_takes_no_more_messages(client: Client, owner: Client, area: dict) -> None:
    request_id = await back_door_request(client, area)
    await owner.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": QUESTION})
    assert (await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/withdraw")).status_code == 200
    late = await owner.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": "Still needed?"})
    assert late.status_code == 409 and "withdrawn" in late.json()["detail"]
    reply = await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/messages", {"text": REPLY})
    assert reply.status_code == 409
    opened = (await owner.get(f"/api/v1/requests/{request_id}")).json()
    assert opened["state_label"] == "Withdrawn" and opened["waiting_on"] is None
    page = await owner.get(f"/requests/{request_id}")
    assert QUESTION in page.text and "no more messages can be sent" in page.text and 'id="f-text"' not in page.text


async def test_api_messages_must_have_text_and_at_most_2000_characters(
    client: Client, owner: Client, area: dict, db: AsyncSession
) -> None:
    request_id = await back_door_request(client, area)
    url = f"/api/v1/requests/{request_id}/messages"
    for body in ({"text": "   "}, {"text": "x" * 2001}, {}):
        refused = await owner.send_json("POST", url, body)
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "text", refused.text
    asked = await owner.send_json(
        "POST", f"/api/v1/requests/{request_id}/answer", {"answer": "need_more_info", "message": "x" * 2001}
    )
    assert asked.status_code == 400 and asked.json()["errors"][0]["field"] == "message"
    assert await saved_messages(db) == 0
    assert (await owner.get(f"/api/v1/requests/{request_id}")).json()["waiting_on"] is None


# --- pages --------------------------------------------------------------------------------------------------


async def test_the_conversation_on_the_owner_page_and_in_the_console(client: Client, owner: Client, area: dict) -> None:
    request_id = await back_door_request(client, area)

    # "Need more information" is the first message, confirmed on the page the owner comes back to.
    asked = await owner.submit(f"/requests/{request_id}/answer", {"answer": "need_more_info", "message": QUESTION})
    assert asked.status_code == 200 and asked.url.query == b"written=1"
    assert 'data-testid="sent-notice"' in asked.text and "Sent to the investigator" in asked.text
    assert 'data-testid="state">Waiting for the investigator<' in asked.text
    assert asked.text.count('data-testid="message"') == 1 and QUESTION in asked.text and "not read yet" in asked.text
    assert "Need more information…" not in asked.text  # the conversation's form takes the next message
    assert '<label for="f-text">Your message to the investigator</label>' in asked.text
    inbox = await owner.get("/requests")
    assert 'data-testid="state">Waiting for the investigator<' in inbox.text

    # The investigator sees whose turn it is in the list and reads the question on the request.
    listed = await client.get("/console/requests")
    assert 'data-testid="state">Waiting for you<' in listed.text
    console = await client.get(f"/console/requests/{request_id}")
    assert console.status_code == 200 and QUESTION in console.text and "Owner</strong>" in console.text
    assert '<label for="f-text">Your reply to the owner</label>' in console.text
    replied = await client.submit(f"/console/requests/{request_id}/messages", {"text": REPLY})
    assert replied.status_code == 200 and "Sent. The owner gets a notification" in replied.text
    assert replied.text.count('data-testid="message"') == 2 and "not read yet" in replied.text
    assert 'data-testid="state">Waiting for the owner<' in replied.text

    # The owner sees the reply, from whom, and that it is their turn.
    inbox = await owner.get("/requests")
    assert 'data-testid="state">Waiting for you<' in inbox.text
    page = await owner.get(f"/requests/{request_id}")
    assert REPLY in page.text and "Det. Milwaukee PD, Milwaukee PD" in page.text
    assert page.text.index(QUESTION) < page.text.index(REPLY)  # in order
    assert 'data-testid="state">Waiting for you<' in page.text and "· read" in page.text
    console = await client.get(f"/console/requests/{request_id}")
    assert "read by the owner" in console.text

    answered = await owner.submit(f"/requests/{request_id}/messages", {"text": "Thanks, exporting it now."})
    assert answered.status_code == 200 and answered.text.count('data-testid="message"') == 3
    assert 'data-testid="state">Waiting for the investigator<' in answered.text


@pytest.mark.parametrize(
    ("text", "error"),
    [("  ", "Write your message first"), ("x" * 2001, "Write at most 2,000 characters; this message has 2,001")],
    ids=["empty", "too-long"],
)
async def test_an_empty_or_too_long_message_comes_back_beside_its_field_and_nothing_is_saved(
    client: Client, owner: Client, area: dict, db: AsyncSession, text: str, error: str
) -> None:
    request_id = await back_door_request(client, area)
    await owner.send_json("POST", f"/api/v1/requests/{request_id}/messages", {"text": QUESTION})

    page = await owner.submit(f"/requests/{request_id}/messages", {"text": text})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert f'<p class="error" id="f-text-error">{error}</p>' in page.text
    assert 'aria-invalid="true"' in page.text and f">{text}</textarea>" in page.text  # kept to correct
    console = await client.submit(f"/console/requests/{request_id}/messages", {"text": text})
    assert console.status_code == 400 and console.headers["content-type"].startswith("text/html")
    assert f'<p class="error" id="f-text-error">{error.replace("your message", "your reply")}</p>' in console.text
    assert f">{text}</textarea>" in console.text
    assert await saved_messages(db) == 1
    assert (await agency_view(client, request_id))["waiting_on"] == "investigator"


async def test_an_over_long_question_comes_back_beside_its_field(
    client: Client, owner: Client, area: dict, db: AsyncSession
) -> None:
    request_id = await back_door_request(client, area)
    page = await owner.submit(f"/requests/{request_id}/answer", {"answer": "need_more_info", "message": "y" * 2001})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "Write at most 2,000 characters; this message has 2,001" in page.text and 'id="f-message-error"' in page.text
    assert await saved_messages(db) == 0
    assert 'data-testid="state">Seen<' in page.text
