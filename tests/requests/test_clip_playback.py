"""Playing a clip in the investigator's browser: the clip's video type, inline, byte ranges (so the player can
seek), the requesting agency only, and each opening recorded once in custody and shown to the owner."""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.byte_ranges import RangeNotSatisfiable, requested_range
from backend.requests import evidence
from backend.requests.models import CustodyEvent
from backend.web import content_security_policy
from tests.conftest import Client
from tests.requests.conftest import as_owner, investigator
from tests.requests.test_evidence import accepted_request, upload

VIDEO = os.urandom(200_000)


async def received_clip(client: Client, area: dict, db: AsyncSession, **metadata: str) -> dict:
    """A clip the first owner sent; `client` ends signed in as another investigator of the requesting agency."""
    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id, VIDEO, **metadata)
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det2@mpd.example", "Milwaukee PD")
    return receipt


async def an_hour_passes(db: AsyncSession) -> None:
    """Every custody row an hour older (the test's clock; the chain's hashes are not looked at here)."""
    for event in await db.scalars(select(CustodyEvent)):
        event.at -= dt.timedelta(hours=1)
    await db.commit()


async def views(db: AsyncSession) -> list[CustodyEvent]:
    return list(await db.scalars(select(CustodyEvent).where(CustodyEvent.action == "view").order_by(CustodyEvent.id)))


async def test_the_player_gets_the_whole_clip_or_the_range_it_asks_for(
    client: Client, area: dict, db: AsyncSession
) -> None:
    clip = await received_clip(client, area, db, filetype="video/mp4")
    play = f"/api/v1/agency/clips/{clip['id']}/play"

    whole = await client.get(play)
    assert whole.status_code == 200 and whole.content == VIDEO
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(len(VIDEO)) and "content-range" not in whole.headers
    assert whole.headers["content-disposition"].startswith('inline; filename="back-door.mp4"')
    assert whole.headers["x-content-type-options"] == "nosniff" and whole.headers["cache-control"] == "no-store"
    assert whole.headers["etag"] == f'"{clip["sha256"]}"'
    assert "content-encoding" not in whole.headers  # video is never gzipped (the client asked for gzip)

    first = await client.get(play, headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.content == VIDEO
    assert first.headers["content-range"] == f"bytes 0-{len(VIDEO) - 1}/{len(VIDEO)}"

    middle = await client.get(play, headers={"Range": "bytes=1000-1999"})
    assert middle.status_code == 206 and middle.content == VIDEO[1000:2000]
    assert middle.headers["content-range"] == f"bytes 1000-1999/{len(VIDEO)}"
    assert middle.headers["content-length"] == "1000" and middle.headers["content-type"] == "video/mp4"
    assert "content-encoding" not in middle.headers

    open_ended = await client.get(play, headers={"Range": "bytes=150000-"})
    assert open_ended.status_code == 206 and open_ended.content == VIDEO[150_000:]
    assert open_ended.headers["content-range"] == f"bytes 150000-{len(VIDEO) - 1}/{len(VIDEO)}"

    last = await client.get(play, headers={"Range": "bytes=-500"})
    assert last.status_code == 206 and last.content == VIDEO[-500:]

    past_the_end = await client.get(play, headers={"Range": f"bytes={len(VIDEO)}-"})
    assert past_the_end.status_code == 416
    assert past_the_end.headers["content-range"] == f"bytes */{len(VIDEO)}"
    assert past_the_end.headers["content-type"] == "application/problem+json"
    assert "200,000 bytes" in past_the_end.json()["detail"]
    backwards = await client.get(play, headers={"Range": "bytes=500-100"})
    assert backwards.status_code == 416

    # A range of another version is not sent as a part of this one: the whole clip comes instead.
    stale = await client.get(play, headers={"Range": "bytes=0-9", "If-Range": '"not-this-clip"'})
    assert stale.status_code == 200 and stale.content == VIDEO
    same = await client.get(play, headers={"Range": "bytes=0-9", "If-Range": f'"{clip["sha256"]}"'})
    assert same.status_code == 206 and same.content == VIDEO[:10]

    # The download stays an attachment, never a type the sender claimed.
    download = await client.get(f"/api/v1/agency/clips/{clip['id']}/download")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["content-type"] == "application/octet-stream"


async def test_the_media_type_is_a_video_type_from_the_upload_or_the_file_name(
    client: Client, area: dict, db: AsyncSession
) -> None:
    clip = await received_clip(client, area, db, filetype="text/html")  # the sender's claim is not a video type
    played = await client.get(f"/api/v1/agency/clips/{clip['id']}/play", headers={"Range": "bytes=0-99"})
    assert played.headers["content-type"] == "video/mp4"  # from back-door.mp4
    page = await client.get(f"/console/clips/{clip['id']}")
    assert '<video class="clip-player" controls preload="metadata"' in page.text
    assert f'<source src="/api/v1/agency/clips/{clip["id"]}/play" type="video/mp4">' in page.text
    assert f'href="/api/v1/agency/clips/{clip["id"]}/download" download' in page.text

    assert evidence.clip_media_type("door.webm", "") == "video/webm"
    assert evidence.clip_media_type("door.MOV", "") == "video/quicktime"
    assert evidence.clip_media_type("door.mp4", "video/webm; codecs=vp9") == "video/webm"
    assert evidence.clip_media_type("door.html", "text/html") == "application/octet-stream"
    assert evidence.clip_media_type("notes.txt", "video/<script>") == "application/octet-stream"


async def test_playing_is_recorded_once_per_opening_and_the_owner_sees_it(
    client: Client, area: dict, db: AsyncSession
) -> None:
    clip = await received_clip(client, area, db, filetype="video/mp4")
    play = f"/api/v1/agency/clips/{clip['id']}/play"

    # The clip page records one view; the player's requests (start, buffering, seeking) add nothing.
    assert (await client.get(f"/console/clips/{clip['id']}")).status_code == 200
    for asked in ("bytes=0-", "bytes=65536-", "bytes=0-", "bytes=190000-"):
        assert (await client.get(play, headers={"Range": asked})).status_code == 206
    assert [v.detail for v in await views(db)] == ["back-door.mp4 (200,000 bytes)"]

    # Opened again later: another view.
    await an_hour_passes(db)
    assert (await client.get(f"/console/clips/{clip['id']}")).status_code == 200
    assert len(await views(db)) == 2

    # The address played on its own, with no view a moment ago: recorded once, whatever range comes first.
    await an_hour_passes(db)
    assert (await client.get(play, headers={"Range": "bytes=1-"})).status_code == 206
    assert (await client.get(play, headers={"Range": "bytes=0-"})).status_code == 206
    recorded = await views(db)
    assert len(recorded) == 3 and recorded[-1].detail == "played in the browser: back-door.mp4 (200,000 bytes)"
    assert recorded[-1].sha256 == clip["sha256"] and recorded[-1].actor_name == "Det. Milwaukee PD"
    # A range refused records nothing.
    await an_hour_passes(db)
    assert (await client.get(play, headers={"Range": "bytes=999999-"})).status_code == 416
    assert len(await views(db)) == 3

    # The owner sees every one of them among the police accesses, on the page and in the API.
    await as_owner(client, "first@example.com")
    log = (await client.get("/api/v1/requests/access-log")).json()
    assert [e["action"] for e in log].count("view") == 3
    assert all(e["agency"] == "Milwaukee PD" for e in log if e["action"] == "view")
    page = await client.get("/account/access")
    assert page.status_code == 200 and page.text.count("Det. Milwaukee PD") >= 3


async def test_only_the_requesting_agency_plays_a_clip(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    clip = await received_clip(client, area, db, filetype="video/mp4")
    play = f"/api/v1/agency/clips/{clip['id']}/play"
    before = len(await views(db))

    await investigator(db, other_client, "det@other.example", "Other County SO")
    refused = await other_client.get(play, headers={"Range": "bytes=0-"})
    assert refused.status_code == 404 and VIDEO[:100] not in refused.content
    assert (await other_client.get(f"/console/clips/{clip['id']}")).status_code == 404
    assert len(await views(db)) == before  # nothing of theirs was opened

    await other_client.send_json("POST", "/api/v1/auth/logout")
    await as_owner(other_client, "second@example.com")  # an owner, even one with requests of the same case
    assert (await other_client.get(play)).status_code == 403
    await other_client.send_json("POST", "/api/v1/auth/logout")
    assert (await other_client.get(play)).status_code == 401
    await as_owner(client, "first@example.com")  # the owner who sent it plays it through their own receipts
    assert (await client.get(play)).status_code == 403


def test_a_range_is_read_as_the_http_standard_says() -> None:
    assert requested_range(None, 100) is None
    assert requested_range("items=0-5", 100) is None  # another unit: ignored
    assert requested_range("bytes=0-5,10-20", 100) is None  # several ranges: the whole file instead
    assert requested_range("bytes=0-", 100).content_range(100) == "bytes 0-99/100"
    assert requested_range("bytes=90-500", 100).content_range(100) == "bytes 90-99/100"  # clipped to the end
    assert requested_range("bytes=-500", 100).content_range(100) == "bytes 0-99/100"
    assert requested_range("bytes=5-9", 100).length == 5
    for refused in ("bytes=100-", "bytes=-0", "bytes=abc", "bytes=-", "bytes=7-3"):
        try:
            requested_range(refused, 100)
        except RangeNotSatisfiable as exc:
            assert exc.headers["Content-Range"] == "bytes */100"
        else:
            raise AssertionError(refused)


def test_the_content_security_policy_lets_pages_play_same_origin_video(settings) -> None:
    policy = dict(part.split(" ", 1) for part in content_security_policy(settings).split("; "))
    assert policy["default-src"] == "'self'" and "media-src" not in policy  # same-origin media, nothing else
