"""Lists that grow come a page at a time, newest first: every item exactly once across the pages, the next page
named by a cursor (a Link header on the JSON lists, next_cursor on the notifications list, an "Older" link on the
pages), and a cursor that was tampered with is a clear 400."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from backend.notifications import service as notifications
from backend.notifications.models import Kind
from backend.pagination import PAGE_SIZE
from tests.conftest import Client
from tests.requests.conftest import as_owner, send

SENT = PAGE_SIZE + 3  # area requests sent: each reaches both owners of the `area` fixture


def _next(response) -> str | None:
    link = response.headers.get("link")
    if not link:
        return None
    assert link.endswith('>; rel="next"')
    return link[1 : link.index(">")]


async def _walk(client: Client, first: str, pages_expected: int) -> list[dict]:
    seen, url, pages = [], first, 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page) <= PAGE_SIZE
        seen += page
        url, pages = _next(response), pages + 1
    assert pages == pages_expected
    return seen


async def test_requests_come_a_page_at_a_time_for_the_agency_and_for_the_owner(client: Client, area: dict) -> None:
    for n in range(SENT):
        await send(client, area, case_number=f"MPD-26-{n:04d}")
    agency = await _walk(client, "/api/v1/agency/requests", 3)
    assert len(agency) == 2 * SENT == len({r["id"] for r in agency})
    assert [r["created_at"] for r in agency] == sorted((r["created_at"] for r in agency), reverse=True)
    one_case = await client.get("/api/v1/agency/requests", params={"case_number": "MPD-26-0007"})
    assert len(one_case.json()) == 2 and "link" not in one_case.headers  # a filter keeps its own pages

    page = await client.get("/console/requests")
    older = page.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "before" in parse_qs(urlsplit(older).query)
    assert (await client.get(older)).text.count('data-testid="request"') == PAGE_SIZE  # the 2nd of 3 pages

    await as_owner(client, "first@example.com")
    mine = await _walk(client, "/api/v1/requests", 2)
    assert len(mine) == SENT == len({r["id"] for r in mine})
    assert sorted(r["case_number"] for r in mine) == [f"MPD-26-{n:04d}" for n in range(SENT)]
    inbox = await client.get("/requests")
    assert inbox.text.count('data-testid="request"') == PAGE_SIZE and "Older requests" in inbox.text


async def test_a_cut_or_forged_cursor_is_a_clear_error(client: Client, area: dict) -> None:
    for before in ("not-a-cursor", "MjAyNi0xMi0wNA", "%%%"):
        response = await client.get("/api/v1/agency/requests", params={"before": before})
        assert response.status_code == 400
        assert "start again from the first page" in response.text


async def test_notifications_name_their_next_page(client: Client, area: dict, db: AsyncSession) -> None:
    await as_owner(client, "first@example.com")
    me = (await client.get("/api/v1/me")).json()
    messages = [
        notifications.Message(user_id=uuid.UUID(me["id"]), title=f"Note {n}", body="", navigate="/", tag=f"t{n}")
        for n in range(PAGE_SIZE + 5)
    ]
    await notifications.notify_many(db, Kind.TEST, messages)  # one statement: all at the same time (ties on id)
    await db.commit()
    first = (await client.get("/api/v1/notifications")).json()
    assert len(first["items"]) == PAGE_SIZE and first["next_cursor"] and first["unread"] == PAGE_SIZE + 5
    second = (await client.get("/api/v1/notifications", params={"before": first["next_cursor"]})).json()
    assert len(second["items"]) == 5 and second["next_cursor"] is None and second["unread"] == PAGE_SIZE + 5
    titles = {n["title"] for n in first["items"] + second["items"]}
    assert titles == {m.title for m in messages}
    page = await client.get("/notifications")
    assert "Older notifications" in page.text
