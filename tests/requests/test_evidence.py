"""Evidence clips through the API: tus uploads (pieces, resume, limits, checksums), write-once storage,
downloads for the requesting agency only, custody rows and the case's custody report."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import os
import socket
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import create_app
from backend.requests import evidence
from backend.requests.models import CustodyEvent, EvidenceClip
from backend.settings import Settings
from tests.conftest import Client
from tests.requests.conftest import as_owner, investigator, send

TUS = {"Tus-Resumable": "1.0.0"}
CLIP = os.urandom(300_000)


def tus_metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


async def accepted_request(client: Client, area: dict) -> str:
    """The investigator asks; the first owner accepts. `client` ends signed in as that owner."""
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    response = await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    assert response.json()["state"] == "accepted"
    return request_id


async def start_upload(client: Client, request_id: str, size: int, **metadata: str):
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": tus_metadata(filename="back-door.mp4", **metadata)}
    return await client.send_json("POST", f"/api/v1/requests/{request_id}/uploads", headers=headers)


async def send_bytes(client: Client, location: str, offset: int, body: bytes):
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return await client.request(
        "PATCH", location, content=body, headers={**headers, "x-csrftoken": await client.csrf_token()}
    )


async def upload(client: Client, request_id: str, data: bytes = CLIP, **metadata: str) -> dict:
    created = await start_upload(client, request_id, len(data), **metadata)
    assert created.status_code == 201, created.text
    response = await send_bytes(client, created.headers["location"], 0, data)
    assert response.status_code == 204, response.text
    clips = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    return clips[-1]


async def count(db: AsyncSession, model, *where) -> int:
    return await db.scalar(select(func.count()).select_from(model).where(*where))


def store(settings: Settings) -> evidence.ClipStore:
    return evidence.ClipStore(settings.evidence_path)


async def test_a_clip_sent_in_pieces_arrives_whole_with_its_hash_and_is_write_once(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    options = await client.options(f"/api/v1/requests/{request_id}/uploads")
    assert options.headers["tus-version"] == "1.0.0" and "creation" in options.headers["tus-extension"]
    assert int(options.headers["tus-max-size"]) == settings.max_clip_bytes

    created = await start_upload(client, request_id, len(CLIP), filetype="video/mp4")
    assert created.status_code == 201 and created.headers["tus-resumable"] == "1.0.0"
    location = created.headers["location"]
    first = await send_bytes(client, location, 0, CLIP[:100_000])
    assert first.status_code == 204 and first.headers["upload-offset"] == "100000"
    head = await client.head(location, headers=TUS)
    assert head.headers["upload-offset"] == "100000" and head.headers["upload-length"] == str(len(CLIP))
    assert head.headers["cache-control"] == "no-store"
    receipts = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert receipts[0]["complete"] is False and receipts[0]["received_bytes"] == 100_000 and receipts[0]["sha256"] == ""

    last = await send_bytes(client, location, 100_000, CLIP[100_000:])
    assert last.status_code == 204 and last.headers["upload-offset"] == str(len(CLIP))

    (receipt,) = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert receipt["complete"] is True and receipt["file_name"] == "back-door.mp4"
    assert receipt["size_bytes"] == len(CLIP) and receipt["sha256"] == hashlib.sha256(CLIP).hexdigest()
    assert receipt["received_at"] is not None
    assert (await client.get(f"/api/v1/requests/{request_id}")).json()["state"] == "uploaded"

    clip_id = uuid.UUID(receipt["id"])
    final = store(settings).final(clip_id)
    assert final.read_bytes() == CLIP and not stat.S_IMODE(final.stat().st_mode) & 0o222  # read-only
    assert not store(settings).incoming(clip_id).exists()
    assert final.name == clip_id.hex and "back-door" not in str(final)  # a name the server chose

    # Received means fixed: no more bytes, no second completion; another file is a new clip.
    again = await send_bytes(client, location, len(CLIP), b"more")
    assert again.status_code == 409 and "cannot be changed" in again.json()["detail"]
    uploads = await count(db, CustodyEvent, CustodyEvent.action == "upload")
    assert uploads == 1
    event = await db.scalar(select(CustodyEvent).where(CustodyEvent.action == "upload"))
    assert event.sha256 == receipt["sha256"] and "back-door.mp4" in event.detail


async def test_an_upload_continued_by_another_process_still_gets_the_right_hash(
    client: Client, area: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    assert (await send_bytes(client, location, 0, CLIP[:123_457])).status_code == 204
    # A different process has none of this one's running hashes: it must read back what is on disk.
    monkeypatch.setattr(evidence, "_hashers", evidence._Hashers())
    assert (await send_bytes(client, location, 123_457, CLIP[123_457:])).status_code == 204
    (receipt,) = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert receipt["sha256"] == hashlib.sha256(CLIP).hexdigest()


async def test_bytes_at_the_wrong_offset_are_refused_and_the_offset_stays(client: Client, area: dict) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    await send_bytes(client, location, 0, CLIP[:1000])
    wrong = await send_bytes(client, location, 500, CLIP[500:2000])
    assert wrong.status_code == 409 and "1,000 bytes" in wrong.json()["detail"]
    assert (await client.head(location, headers=TUS)).headers["upload-offset"] == "1000"
    superscript = await client.request(
        "PATCH", location, content=CLIP[1000:2000],
        headers={**TUS, "Upload-Offset": "¹".encode("latin-1"), "Content-Type": "application/offset+octet-stream",
                 "x-csrftoken": await client.csrf_token()},
    )  # fmt: skip
    assert superscript.status_code == 400 and "whole number" in superscript.json()["detail"]


async def test_a_file_over_the_limit_is_refused_before_any_byte_and_nothing_is_kept(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    too_big = await start_upload(client, request_id, settings.max_clip_bytes + 1)
    assert too_big.status_code == 413 and "at most 2,147,483,648 bytes" in too_big.json()["detail"]
    assert await count(db, EvidenceClip) == 0
    assert not (settings.evidence_path / "incoming").exists() or not any(
        (settings.evidence_path / "incoming").iterdir()
    )


async def test_more_bytes_than_announced_are_refused_and_not_kept(client: Client, area: dict) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, 1000)).headers["location"]
    response = await send_bytes(client, location, 0, os.urandom(1500))
    assert response.status_code == 413
    assert (await client.head(location, headers=TUS)).headers["upload-offset"] == "0"


async def test_a_checksum_that_does_not_match_refuses_the_clip_and_leaves_nothing(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    created = await start_upload(client, request_id, len(CLIP), sha256=hashlib.sha256(b"another file").hexdigest())
    response = await send_bytes(client, created.headers["location"], 0, CLIP)
    assert response.status_code == 422 and "nothing was kept" in response.json()["detail"]
    assert await count(db, EvidenceClip) == 0 and await count(db, CustodyEvent, CustodyEvent.action == "upload") == 0
    assert [p for p in settings.evidence_path.rglob("*") if p.is_file()] == []
    assert (await client.get(f"/api/v1/requests/{request_id}")).json()["state"] == "accepted"
    # The right checksum is accepted.
    receipt = await upload(client, request_id, sha256=hashlib.sha256(CLIP).hexdigest().upper())
    assert receipt["complete"] and receipt["sha256"] == hashlib.sha256(CLIP).hexdigest()


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Upload-Length": "12"}, 412, "Tus-Resumable"),
        ({**TUS}, 400, "Upload-Length"),
        ({**TUS, "Upload-Length": "twelve"}, 400, "whole number"),
        ({**TUS, "Upload-Length": "²".encode("latin-1")}, 400, "whole number"),  # a digit to Python, not to int()
        ({**TUS, "Upload-Length": "12", "Upload-Metadata": "filename ***"}, 400, "base64"),
        ({**TUS, "Upload-Length": "12", "Upload-Metadata": tus_metadata(sha256="abc")}, 400, "SHA-256 in hex"),
    ],
)
async def test_bad_upload_starts_say_what_to_fix(
    client: Client, area: dict, db: AsyncSession, headers: dict, status: int, message: str
) -> None:
    request_id = await accepted_request(client, area)
    response = await client.send_json("POST", f"/api/v1/requests/{request_id}/uploads", headers=headers)
    assert response.status_code == status and message in response.text
    assert await count(db, EvidenceClip) == 0


async def test_uploads_only_to_an_accepted_request_of_ones_own(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    sent = await send(client, area)
    request_id = next(r["id"] for r in sent if r["cameras"][0]["name"] == "Back door")
    await as_owner(client, "first@example.com")
    not_accepted = await start_upload(client, request_id, 10)
    assert not_accepted.status_code == 409 and "Accept the request" in not_accepted.json()["detail"]
    await client.send_json("POST", f"/api/v1/requests/{request_id}/answer", {"answer": "accept"})
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    # The other owner can neither start an upload here nor touch this one.
    await as_owner(other_client, "second@example.com")
    assert (await start_upload(other_client, request_id, 10)).status_code == 404
    assert (await other_client.head(location, headers=TUS)).status_code == 404
    assert (await send_bytes(other_client, location, 0, b"x")).status_code == 404
    assert (await other_client.get(f"/api/v1/requests/{request_id}/clips")).status_code == 404
    assert await count(db, EvidenceClip) == 1


async def test_nothing_can_be_sent_after_the_request_is_withdrawn(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    await send_bytes(client, location, 0, CLIP[:1000])
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det2@mpd.example", "Milwaukee PD")
    assert (await client.send_json("POST", f"/api/v1/agency/requests/{request_id}/withdraw")).status_code == 200
    await as_owner(client, "first@example.com")
    more = await send_bytes(client, location, 1000, CLIP[1000:])
    assert more.status_code == 409 and "withdrawn" in more.json()["detail"]
    assert (await start_upload(client, request_id, 10)).status_code == 409
    assert await count(db, EvidenceClip) == 0
    assert [p for p in settings.evidence_path.rglob("*") if p.is_file()] == []


async def test_an_unfinished_upload_can_be_cancelled_but_a_received_clip_stays(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    await send_bytes(client, location, 0, CLIP[:1000])
    cancelled = await client.send_json("DELETE", location, headers=TUS)
    assert cancelled.status_code == 204 and await count(db, EvidenceClip) == 0
    assert (await client.head(location, headers=TUS)).status_code == 404
    receipt = await upload(client, request_id)
    kept = await client.send_json("DELETE", f"/api/v1/uploads/{receipt['id']}", headers=TUS)
    assert kept.status_code == 409 and store(settings).final(uuid.UUID(receipt["id"])).exists()


async def test_owner_adds_a_note_to_a_received_clip(client: Client, area: dict) -> None:
    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id)
    noted = await client.send_json(
        "POST", f"/api/v1/clips/{receipt['id']}/note", {"note": " Camera clock is 5 min fast "}
    )
    assert noted.status_code == 200 and noted.json()["note"] == "Camera clock is 5 min fast"
    assert noted.json()["sha256"] == receipt["sha256"]
    too_long = await client.send_json("POST", f"/api/v1/clips/{receipt['id']}/note", {"note": "x" * 1001})
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["field"] == "note"


async def test_the_agency_sees_and_downloads_clips_and_every_access_is_one_custody_row(
    client: Client, other_client: Client, area: dict, db: AsyncSession
) -> None:
    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id, filetype="text/html")
    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det2@mpd.example", "Milwaukee PD")

    (listed,) = (await client.get(f"/api/v1/agency/requests/{request_id}/clips")).json()
    assert listed["sha256"] == hashlib.sha256(CLIP).hexdigest() and listed["file_name"] == "back-door.mp4"
    opened = await client.get(f"/api/v1/agency/clips/{receipt['id']}")
    assert opened.status_code == 200 and opened.json()["sha256"] == listed["sha256"]
    download = await client.get(f"/api/v1/agency/clips/{receipt['id']}/download")
    assert download.status_code == 200 and download.content == CLIP
    assert download.headers["content-disposition"] == 'attachment; filename="back-door.mp4"'
    assert download.headers["content-type"] == "application/octet-stream"  # never the type the sender claimed
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(CLIP).digest()).decode()}:"

    # Another agency finds nothing.
    await investigator(db, other_client, "det@other.example", "Other County SO")
    assert (await other_client.get(f"/api/v1/agency/requests/{request_id}/clips")).status_code == 404
    assert (await other_client.get(f"/api/v1/agency/clips/{receipt['id']}")).status_code == 404
    assert (await other_client.get(f"/api/v1/agency/clips/{receipt['id']}/download")).status_code == 404
    other_report = await other_client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234"})
    assert other_report.json() == []

    report = (await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234"})).json()
    actions = [row["action"] for row in report]
    assert actions == ["request_sent", "request_sent", "upload", "view", "download"]
    hashes = {row["action"]: row["sha256"] for row in report}
    assert hashes["upload"] == hashes["view"] == hashes["download"] == listed["sha256"]
    assert report[-1]["actor"] == "Det. Milwaukee PD" and report[-1]["agency"] == "Milwaukee PD"
    # The owner's upload names neither them nor their address (issue 14, defect 3); the agency's own rows do.
    upload_row = next(row for row in report if row["action"] == "upload")
    assert upload_row["actor"] == "Camera owner" and upload_row["ip"] == ""
    assert report[-1]["ip"] == "127.0.0.1"
    as_csv_text = (
        await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234", "format": "csv"})
    ).text
    assert "Pat Owner" not in as_csv_text and "Pat Owner" not in str(report)

    as_csv = await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234", "format": "csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"  # said once
    assert as_csv.headers["content-disposition"] == 'attachment; filename="custody-MPD-26-1234.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["action"] for r in rows] == actions and rows[-1]["sha256"] == listed["sha256"]
    assert await count(db, CustodyEvent, CustodyEvent.action.in_(["view", "download"])) == 2

    # The owner sees the view and the download (police accesses), not their own upload.
    await as_owner(client, "first@example.com")
    log = (await client.get("/api/v1/requests/access-log")).json()
    assert [e["action"] for e in log][:2] == ["download", "view"]
    assert "upload" not in [e["action"] for e in log]


async def test_abandoned_uploads_of_closed_requests_are_swept(
    client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    await send_bytes(client, location, 0, CLIP[:1000])
    receipt = await upload(client, request_id)
    assert await evidence.discard_abandoned_uploads(db, store(settings)) == 0
    clip_id = uuid.UUID(location.rsplit("/", 1)[1])
    later = (await db.get_one(EvidenceClip, clip_id)).created_at + evidence.ABANDONED_AFTER + evidence.dt.timedelta(1)
    assert await evidence.discard_abandoned_uploads(db, store(settings), later) == 1
    assert not store(settings).incoming(clip_id).exists()
    assert Path(store(settings).final(uuid.UUID(receipt["id"]))).exists()  # received clips are never swept


@pytest.fixture
def live_server(settings: Settings):
    """The app served by uvicorn on a free port in a thread of its own: real sockets, real disconnects."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=20)


async def test_a_connection_dropped_halfway_keeps_what_arrived_and_the_upload_resumes(
    client: Client, area: dict, live_server: int
) -> None:
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    half = len(CLIP) // 2
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(CLIP)}\r\n"
        f"Cookie: {cookies}\r\nx-csrftoken: {await client.csrf_token()}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live_server)) as connection:
        connection.sendall(head.encode() + CLIP[:half])
        time.sleep(0.3)  # the phone loses its signal here
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live_server}", headers={"Cookie": cookies}) as phone:
        deadline = time.monotonic() + 10
        while (offset := int((await phone.head(location, headers=TUS)).headers["upload-offset"])) < half:
            assert time.monotonic() < deadline, f"the server kept {offset} of {half} bytes"
            await asyncio.sleep(0.05)
        assert offset == half
        rest = await phone.patch(
            location,
            content=CLIP[half:],
            headers={**TUS, "Upload-Offset": str(half), "Content-Type": "application/offset+octet-stream",
                     "x-csrftoken": await client.csrf_token()},
        )  # fmt: skip
        assert rest.status_code == 204, rest.text
        (receipt,) = (await phone.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert receipt["complete"] and receipt["sha256"] == hashlib.sha256(CLIP).hexdigest()


async def test_export_holds_footage_requests_clips_sent_and_every_police_access(client: Client, area: dict) -> None:
    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id)
    data = (await client.get("/api/v1/me/export")).json()
    assert [r["id"] for r in data["footage_requests"]] == [request_id]
    assert data["footage_requests"][0]["state"] == "uploaded"
    assert [(c["id"], c["sha256"]) for c in data["clips_sent"]] == [(receipt["id"], receipt["sha256"])]
    assert [(a["action"], a["agency"]) for a in data["police_access"]] == [("request_sent", "Milwaukee PD")]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("..", "clip"), (".", "clip"), ("...", "clip"), ("../../etc/passwd", "passwd"),
     ("C:\\videos\\door.mp4", "door.mp4"), ("", "clip"), (".hidden.mp4", ".hidden.mp4")],
)  # fmt: skip
def test_a_sent_file_name_is_kept_as_a_plain_name(sent: str, kept: str) -> None:
    from backend.requests.evidence import _clean_file_name

    assert _clean_file_name(sent) == kept


async def test_a_client_that_cannot_patch_sends_post_with_the_override(client: Client, area: dict) -> None:
    """tus 1.0: POST with X-HTTP-Method-Override: PATCH is a PATCH (tus-js-client's overridePatchMethod)."""
    request_id = await accepted_request(client, area)
    location = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
               "x-csrftoken": await client.csrf_token()}  # fmt: skip
    plain = await client.post(location, content=CLIP, headers=headers)
    assert plain.status_code == 405
    sent = await client.post(location, content=CLIP, headers={**headers, "X-HTTP-Method-Override": "PATCH"})
    assert sent.status_code == 204, sent.text
    (receipt,) = (await client.get(f"/api/v1/requests/{request_id}/clips")).json()
    assert receipt["complete"] and receipt["sha256"] == hashlib.sha256(CLIP).hexdigest()


async def test_parallel_parts_are_refused_and_no_fragment_is_kept(client: Client, area: dict, db: AsyncSession) -> None:
    """tus-js-client's parallelUploads sends Upload-Concat: the server does not join parts, so it refuses them
    instead of keeping each part as a clip."""
    request_id = await accepted_request(client, area)
    headers = {**TUS, "Upload-Length": "500", "Upload-Concat": "partial", "Upload-Metadata": tus_metadata(filename="a")}
    refused = await client.send_json("POST", f"/api/v1/requests/{request_id}/uploads", headers=headers)
    assert refused.status_code == 400 and "parallel" in refused.json()["detail"]
    assert await count(db, EvidenceClip) == 0
    options = await client.options(f"/api/v1/requests/{request_id}/uploads", headers=TUS)
    assert "concatenation" not in options.headers["tus-extension"]


async def test_evidence_verify_finds_changed_missing_and_stray_files(
    client: Client, area: dict, settings: Settings, database_url: str
) -> None:
    """`porchlight evidence verify` re-hashes every received clip; exit code 1 names what is wrong."""
    import anyio
    from click.testing import CliRunner

    from backend.cli import main

    runner = CliRunner(env={"PORCHLIGHT_DATABASE_URL": database_url, "PORCHLIGHT_VAR_DIR": str(settings.var_dir),
                            "PORCHLIGHT_EVIDENCE_DIR": str(settings.evidence_path)})  # fmt: skip

    async def verify() -> Any:
        return await anyio.to_thread.run_sync(runner.invoke, main, ["evidence", "verify"])

    request_id = await accepted_request(client, area)
    first, second = await upload(client, request_id), await upload(client, request_id, data=CLIP[::-1])
    store = evidence.ClipStore(settings.evidence_path)
    ok = await verify()
    assert ok.exit_code == 0, ok.output
    assert "2 clips checked: 0 missing, 0 changed, 0 stray files." in ok.output

    changed = store.final(uuid.UUID(first["id"]))
    changed.chmod(0o600)
    changed.write_bytes(b"X" + changed.read_bytes()[1:])
    store.final(uuid.UUID(second["id"])).unlink()
    stray = store.root / "clips" / "ff" / ("ff" * 16)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"nobody's")
    bad = await verify()
    assert bad.exit_code == 1
    assert f"clip {first['id']}" in bad.output and "no longer matches its SHA-256" in bad.output
    assert f"clip {second['id']}" in bad.output and "is missing" in bad.output
    assert f"{stray} belongs to no clip" in bad.output
    assert "2 clips checked: 1 missing, 1 changed, 1 stray files." in bad.output


async def test_clips_sent_outlive_the_owners_account_and_everything_else_of_theirs_goes(
    client: Client, other_client: Client, area: dict, db: AsyncSession, settings: Settings
) -> None:
    """Deleting an account keeps what belongs to a case (the clips sent, their request, the custody log), linked to
    nobody; the owner is told so beforehand; the rest goes, unfinished uploads' bytes included."""
    from backend.requests import audit
    from backend.requests.models import FootageRequest
    from tests.helpers import PASSWORD
    from tests.requests.conftest import request_body

    request_id = await accepted_request(client, area)
    receipt = await upload(client, request_id)
    unfinished = (await start_upload(client, request_id, len(CLIP))).headers["location"]
    await send_bytes(client, unfinished, 0, CLIP[:1000])
    unfinished_id = uuid.UUID(unfinished.rsplit("/", 1)[-1])
    assert store(settings).incoming(unfinished_id).exists()
    account = await client.get("/account")
    assert "1 clip you already sent to police stays with its case" in account.text

    await client.send_json("POST", "/api/v1/auth/logout")
    await investigator(db, client, "det2@mpd.example", "Milwaukee PD")
    later = await client.send_json(
        "POST", "/api/v1/agency/requests", request_body([area["back"]["id"]], case_number="MPD-26-9999")
    )
    unanswered_id = later.json()[0]["id"]
    assert (await client.get(f"/api/v1/agency/requests/{request_id}/contact")).status_code == 200
    second_owners = await count(db, FootageRequest, FootageRequest.owner_id.is_not(None))

    await as_owner(client, "first@example.com")
    assert (await client.send_json("DELETE", "/api/v1/me", {"password": PASSWORD})).status_code == 204

    await investigator(db, client, "det3@mpd.example", "Milwaukee PD")
    (kept,) = (await client.get(f"/api/v1/agency/requests/{request_id}/clips")).json()
    assert kept["id"] == receipt["id"] and kept["sha256"] == hashlib.sha256(CLIP).hexdigest()
    download = await client.get(f"/api/v1/agency/clips/{receipt['id']}/download")
    assert download.status_code == 200 and download.content == CLIP
    listed = {r["id"]: r for r in (await client.get("/api/v1/agency/requests")).json()}
    assert listed[request_id]["state"] == "uploaded" and unanswered_id not in listed
    gone = await client.get(f"/api/v1/agency/requests/{request_id}/contact")
    assert gone.status_code == 410 and "deleted their account" in gone.json()["detail"]
    report = (await client.get("/api/v1/agency/custody-report", params={"case_number": "MPD-26-1234"})).json()
    assert [r["action"] for r in report] == [
        "request_sent", "request_sent", "upload", "contact_viewed", "download"
    ]  # fmt: skip
    assert "Pat Owner" not in str(report) and (await audit.verify(db)).problems == []

    db.expire_all()
    clip = await db.get(EvidenceClip, uuid.UUID(receipt["id"]))
    assert clip is not None and clip.owner_id is None and store(settings).final(clip.id).read_bytes() == CLIP
    assert (await db.get(FootageRequest, uuid.UUID(request_id))).owner_id is None  # type: ignore[union-attr]
    assert await db.get(EvidenceClip, unfinished_id) is None and not store(settings).incoming(unfinished_id).exists()
    assert await db.get(FootageRequest, uuid.UUID(unanswered_id)) is None
    # The other owner's request is untouched; evidence verify finds nothing stray.
    assert await count(db, FootageRequest, FootageRequest.owner_id.is_not(None)) == second_owners - 2
    assert (await evidence.verify_store(db, store(settings))).problems == 0


async def test_a_custody_report_of_a_case_number_in_any_script_downloads(client: Client, area: dict) -> None:
    """A case number outside Latin-1 gave 500 (found by schemathesis): the file name keeps ASCII only."""
    await send(client, area, case_number="案件-7")
    report = await client.get("/api/v1/agency/custody-report", params={"case_number": "案件-7", "format": "csv"})
    assert report.status_code == 200 and "案件-7" in report.text
    assert report.headers["content-disposition"] == 'attachment; filename="custody-__-7.csv"'


async def test_acknowledged_bytes_and_a_received_clip_are_on_disk_before_the_answer(
    client: Client, area: dict, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 204 to a PATCH means its bytes were fsynced; a new upload's and a received clip's names are fsynced in
    their directories (issue 17: a power loss never leaves an acknowledged offset ahead of the file)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    request_id = await accepted_request(client, area)
    created = await start_upload(client, request_id, len(CLIP))
    clip_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[-1])
    incoming = store(settings).incoming(clip_id)
    assert synced == [str(incoming.parent)]
    assert (await send_bytes(client, created.headers["location"], 0, CLIP[:1000])).status_code == 204
    assert synced[-1] == str(incoming)
    assert (await send_bytes(client, created.headers["location"], 1000, CLIP[1000:])).status_code == 204
    final = store(settings).final(clip_id)
    assert synced[-2:] == [str(incoming), str(final.parent)]
