"""The relay with real WebRTC peers (aiortc on both ends, over loopback): who may publish (WHIP) and play (WHEP),
video passing through, the relay cutting off a device that keeps sending after the share ended, and no video
written anywhere."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.settings import Settings
from backend.sharing.relay import RELAY
from tests.conftest import Client
from tests.devices.conftest import owner_with_site
from tests.requests.conftest import investigator
from tests.sharing.conftest import Sharing, live_desk, online_device

SDP = {"Content-Type": "application/sdp"}


def _h264_only(pc: RTCPeerConnection) -> None:
    codecs = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() in ("video/h264",)]
    for transceiver in pc.getTransceivers():
        transceiver.setCodecPreferences(codecs)


async def publisher_offer() -> tuple[RTCPeerConnection, str]:
    """A device's WHIP offer: one sendonly video track (aiortc's test pattern, encoded as H.264)."""
    pc = RTCPeerConnection()
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    _h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def viewer_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    _h264_only(pc)
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def shared_camera(sharing: Sharing) -> tuple[str, str]:
    """Start a share of the front camera; (share id, WHIP path of the camera)."""
    share = await sharing.owner.send_json("POST", "/api/v1/shares", {"site_id": sharing.site_id, "minutes": 15})
    assert share.status_code == 201, share.text
    document = (
        await sharing.owner.get("/device/v1/desired", params={"version": 0, "wait": 0}, headers=sharing.device.auth)
    ).json()
    front = next(c for c in document["share"]["cameras"] if c["key"] == "front")
    return share.json()["id"], front["whip_url"]


async def whep(desk: Client, camera_id: str, sdp: str) -> Any:
    headers = {**SDP, "x-csrftoken": await desk.csrf_token()}
    return await desk.post(f"/live/v1/whep/{camera_id}", content=sdp, headers=headers)


async def test_whip_is_refused_without_a_live_share_of_that_camera(sharing: Sharing, app: Any) -> None:
    share_id, whip_url = await shared_camera(sharing)
    pc, sdp = await publisher_offer()
    try:
        nobody = await sharing.owner.post(whip_url, content=sdp, headers=SDP)
        assert nobody.status_code == 401
        async with Client(app) as stranger, Client(app) as box:
            site = await owner_with_site(stranger, email="stranger@example.com")
            other = await online_device(stranger, box, site, "gate")
            refused = await box.post(whip_url, content=sdp, headers={**SDP, **other.auth})
            assert refused.status_code == 403 and "no live share of that camera" in refused.json()["detail"]
        made_up = await sharing.owner.post(
            "/live/v1/whip/00000000-0000-0000-0000-000000000000", content=sdp, headers={**SDP, **sharing.device.auth}
        )
        assert made_up.status_code == 403
        garbled = await sharing.owner.post(whip_url, content="hello", headers={**SDP, **sharing.device.auth})
        assert garbled.status_code == 400 and "SDP offer" in garbled.json()["detail"]
        wrong_type = await sharing.owner.post(
            whip_url, content=sdp, headers={"Content-Type": "text/plain", **sharing.device.auth}
        )
        assert wrong_type.status_code == 400 and "application/sdp" in wrong_type.json()["detail"]

        await sharing.owner.send_json("POST", f"/api/v1/shares/{share_id}/stop")
        ended = await sharing.owner.post(whip_url, content=sdp, headers={**SDP, **sharing.device.auth})
        assert ended.status_code == 410 and "ended by the owner" in ended.json()["detail"]
    finally:
        await pc.close()


async def test_whep_is_for_the_programs_live_desk_while_the_share_is_on(
    sharing: Sharing, app: Any, db: AsyncSession
) -> None:
    share_id, whip_url = await shared_camera(sharing)
    camera_id = whip_url.rsplit("/", 1)[1]
    pc, sdp = await viewer_offer()
    try:
        async with Client(app) as detective, Client(app) as elsewhere:
            await investigator(db, detective, "det@mpd.example", "Milwaukee PD")
            refused = await whep(detective, camera_id, sdp)
            assert refused.status_code == 403 and "live desk" in refused.json()["detail"]
            await live_desk(db, elsewhere, email="desk@county.example", agency="County Sheriff")
            assert (await whep(elsewhere, camera_id, sdp)).status_code == 404
        no_csrf = await sharing.desk.post(f"/live/v1/whep/{camera_id}", content=sdp, headers=SDP)
        assert no_csrf.status_code == 403
        assert (await whep(sharing.desk, camera_id, "v=0 nonsense")).status_code == 400
        await sharing.owner.send_json("POST", f"/api/v1/shares/{share_id}/stop")
        ended = await whep(sharing.desk, camera_id, sdp)
        assert ended.status_code == 410 and "ended by the owner" in ended.json()["detail"]
    finally:
        await pc.close()


async def _next_frames(track: Any, count: int, timeout: float) -> int:
    """Decoded frames the viewer gets (this process's own aiortc peers decode; only the relay passes through)."""
    received = 0
    async with asyncio.timeout(timeout):
        while received < count:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame) and frame.width == 640
            received += 1
    return received


def _open_files() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        target = os.path.realpath(f"/proc/self/fd/{fd}")
        if os.path.isfile(target):
            found.add(target)
    return found


def _sizes(directory: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in directory.rglob("*") if p.is_file()}


async def test_video_passes_through_and_stops_for_everyone_when_the_owner_stops(
    sharing: Sharing, settings: Settings
) -> None:
    share_id, whip_url = await shared_camera(sharing)
    camera_id = whip_url.rsplit("/", 1)[1]
    device_pc, sdp = await publisher_offer()
    viewer_pc, viewer_sdp = await viewer_offer()
    arrived: asyncio.Queue[Any] = asyncio.Queue()
    viewer_pc.on("track", arrived.put_nowait)
    try:
        answer = await sharing.owner.post(whip_url, content=sdp, headers={**SDP, **sharing.device.auth})
        assert answer.status_code == 201, answer.text
        assert answer.headers["content-type"].startswith("application/sdp")
        assert answer.headers["location"].startswith(f"{whip_url}/")
        await device_pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        assert (await sharing.owner.get(f"/api/v1/shares/{share_id}")).json()["state"] == "live"

        files_before, var_before = _open_files(), _sizes(settings.var_dir)
        played = await whep(sharing.desk, camera_id, viewer_sdp)
        assert played.status_code == 201, played.text
        await viewer_pc.setRemoteDescription(RTCSessionDescription(played.text, "answer"))
        track = await asyncio.wait_for(arrived.get(), 10)
        assert await _next_frames(track, 30, timeout=15) == 30  # decodable video flows through the relay
        assert RELAY.publishers[uuid.UUID(camera_id)].passed_through  # as the device encoded it, not re-encoded

        watching = (await sharing.owner.get(f"/api/v1/shares/{share_id}")).json()["watching"]
        assert [(w["display_name"], w["agency"]) for w in watching] == [("J. Ortiz", "Milwaukee PD")]
        # Nothing about the video was written: no new file opened, nothing grew but the database.
        assert _open_files() - files_before == set()
        grown = {
            path for path, size in _sizes(settings.var_dir).items()
            if size != var_before.get(path) and ".db" not in path
        }  # fmt: skip
        assert grown == set()

        # The owner stops; the test device "ignores" it and keeps its peer connection open and sending.
        stopped_at = time.monotonic()
        await sharing.owner.send_json("POST", f"/api/v1/shares/{share_id}/stop")
        with pytest.raises(MediaStreamError):
            async with asyncio.timeout(2.0):
                while True:
                    await track.recv()
        assert time.monotonic() - stopped_at < 2.0
        async with asyncio.timeout(5):
            while device_pc.connectionState not in ("closed", "failed"):
                await asyncio.sleep(0.05)  # the relay closed the device's connection itself
        summary = (await sharing.owner.get(f"/api/v1/shares/{share_id}")).json()
        assert summary["watching"] == [] and [v["display_name"] for v in summary["viewers"]] == ["J. Ortiz"]
    finally:
        await device_pc.close()
        await viewer_pc.close()


async def test_a_viewer_ends_only_their_own_session_and_the_owner_sees_them_leave(
    sharing: Sharing, app: Any, db: AsyncSession
) -> None:
    share_id, whip_url = await shared_camera(sharing)
    camera_id = whip_url.rsplit("/", 1)[1]
    device_pc, sdp = await publisher_offer()
    viewer_pc, viewer_sdp = await viewer_offer()
    try:
        answer = await sharing.owner.post(whip_url, content=sdp, headers={**SDP, **sharing.device.auth})
        await device_pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        played = await whep(sharing.desk, camera_id, viewer_sdp)
        assert played.status_code == 201, played.text
        session = played.headers["location"]
        async with Client(app) as colleague:
            await live_desk(db, colleague, email="second@mpd.example")
            headers = {"x-csrftoken": await colleague.csrf_token()}
            assert (await colleague.delete(session, headers=headers)).status_code == 404
        assert (await sharing.owner.get(f"/api/v1/shares/{share_id}")).json()["watching"] != []
        ended = await sharing.desk.delete(session, headers={"x-csrftoken": await sharing.desk.csrf_token()})
        assert ended.status_code == 200
        async with asyncio.timeout(3):
            while (await sharing.owner.get(f"/api/v1/shares/{share_id}")).json()["watching"]:
                await asyncio.sleep(0.1)
    finally:
        await device_pc.close()
        await viewer_pc.close()
