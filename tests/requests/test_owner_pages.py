"""The owner's request pages: open (seen), answer in two taps, the access log."""

from __future__ import annotations

from tests.conftest import Client
from tests.requests.conftest import as_owner, send


async def test_open_a_request_and_answer_no_footage_in_two_taps(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    inbox = await client.get("/requests")
    assert "Milwaukee PD: Voluntary request" in inbox.text and "Back door" in inbox.text
    page = await client.get(f"/requests/{request_id}")  # tap 1: open
    assert 'data-testid="state">Seen<' in page.text
    assert "Your recorder keeps 3 days" in page.text and "export it before then" in page.text
    assert "Declining carries no penalty" in page.text
    answered = await client.submit(f"/requests/{request_id}/answer", {"answer": "no_footage"})  # tap 2
    assert 'data-testid="state">No footage<' in answered.text and "Nothing more to do" in answered.text
    owner_view = [r for r in (await client.get("/api/v1/requests")).json() if r["id"] == request_id][0]
    assert owner_view["state"] == "no_footage"


async def test_need_more_information_without_a_question_comes_back_with_the_message(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    page = await client.submit(f"/requests/{request_id}/answer", {"answer": "need_more_info", "message": ""})
    assert page.status_code == 400 and "Say what you need to know" in page.text
    bogus = await client.submit(f"/requests/{request_id}/answer", {"answer": "maybe"})
    assert bogus.status_code == 400 and "Choose one of the answers" in bogus.text


async def test_access_log_page_lists_police_access(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await client.get(f"/api/v1/agency/requests/{request_id}/contact")
    await as_owner(client, "first@example.com")
    page = await client.get("/account/access")
    assert page.text.count('data-testid="access"') == 2
    assert "opened your contact card" in page.text and "sent you a footage request" in page.text
    assert "Milwaukee PD" in page.text and "MPD-26-1234" in page.text


async def test_accepted_request_page_offers_sending_and_lists_receipts_with_notes(client: Client, area: dict) -> None:
    from tests.requests.test_evidence import CLIP, accepted_request, upload

    request_id = await accepted_request(client, area)
    page = await client.get(f"/requests/{request_id}")
    assert "Send clips" in page.text and "upload.js" in page.text and 'data-testid="receipt"' not in page.text
    receipt = await upload(client, request_id)
    page = await client.get(f"/requests/{request_id}")
    assert 'data-testid="state">Clips uploaded<' in page.text and "Send clips" in page.text  # more may follow
    assert f'data-testid="sha256">{receipt["sha256"]}<' in page.text and "back-door.mp4" in page.text
    assert f"{len(CLIP) / 1000:.1f} kB" in page.text

    noted = await client.submit(f"/requests/{request_id}/clips/{receipt['id']}/note", {"note": "Clock runs 5 min fast"})
    assert "Note saved." in noted.text and "Clock runs 5 min fast</textarea>" in noted.text
    too_long = await client.submit(f"/requests/{request_id}/clips/{receipt['id']}/note", {"note": "x" * 1001})
    assert too_long.status_code == 400 and "Note must be at most 1000 characters" in too_long.text
    api_view = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert api_view[0]["note"] == "Clock runs 5 min fast"


async def test_requests_not_accepted_offer_no_upload(client: Client, area: dict) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    page = await client.get(f"/requests/{request_id}")
    assert "Send clips" not in page.text and "upload.js" not in page.text
