"""Live video while the owner shares: one WHIP publisher per camera the desired state's `share` lists.

The server's desired state says what to share:

    "share": {"share_id": "...", "until": "2026-12-03T15:00:00Z",
              "cameras": [{"key": "front-door", "whip_url": "https://.../live/v1/whip/<share_camera_id>"}],
              "ice_servers": [{"urls": ["stun:..."], "username": "...", "credential": "..."}]}

or `"share": null`. `LiveSharing.apply` takes each new desired state and starts a `Publisher` for each newly
listed camera, stops those no longer listed, and stops all when the share is null or its `until` has passed; it
also stops them on this box's own clock at `until`, whatever the server says meanwhile.

A publisher POSTs an SDP offer (one sendonly H.264 video track) to the camera's WHIP URL with the device's
credential, and keeps the peer connection up. When the relay closes it (the share ended), or the relay cannot be
reached, it tries again with backoff (1 s doubling to 30 s) while the share is still desired; a 403/404/410 ends
its tries until the desired state changes; a 401 means the credential was revoked (the agent stops). To stop it
DELETEs the WHIP session and closes the peer connection.

aiortc is imported only here, when a share starts: an agent that never shares stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge.cameras import Camera, RtspCamera, SimulatedCamera
from edge.client import (
    Backoff,
    CredentialRevoked,
    DeviceClient,
    ServerUnavailable,
    WhipRefused,
    WhipSession,
    utc_now,
)

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack, RTCPeerConnection

log = logging.getLogger("edge")

# A session that stayed up this long was fine: the next failure starts the backoff from 1 s again.
STABLE_AFTER_S = 30.0
# ICE and DTLS must be up this long after the answer, or the attempt counts as failed.
CONNECT_TIMEOUT_S = 20.0
# The agent's own clock checks `until` at least this often (a clock that jumps is noticed).
UNTIL_CHECK_S = 30.0
CLOSE_TIMEOUT_S = 5.0


def default_live_backoff() -> Backoff:
    return Backoff(base_s=1.0, cap_s=30.0, jitter=False)


@dataclass(frozen=True)
class SharedCamera:
    key: str
    whip_url: str


@dataclass(frozen=True)
class DesiredShare:
    """The `share` of a desired-state document."""

    share_id: str
    until: datetime | None
    cameras: tuple[SharedCamera, ...]
    ice_servers: tuple[dict[str, Any], ...] = ()

    def ended(self, now: datetime | None = None) -> bool:
        return self.until is not None and (now or utc_now()) >= self.until


def _parse_until(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_share(value: object) -> DesiredShare | None:
    """The share a desired-state document asks for; None for `null` or anything that is not a share."""
    if not isinstance(value, dict) or not value.get("share_id"):
        return None
    cameras = []
    for entry in value.get("cameras") or []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("whip_url"), str):
            cameras.append(SharedCamera(key=entry["key"], whip_url=entry["whip_url"]))
    ice_servers = tuple(server for server in value.get("ice_servers") or [] if isinstance(server, dict))
    return DesiredShare(
        share_id=str(value["share_id"]),
        until=_parse_until(value.get("until")),
        cameras=tuple(cameras),
        ice_servers=ice_servers,
    )


def until_text(until: datetime | None) -> str:
    """`until 15:00` in the box's local time (with the date when it is not today)."""
    if until is None:
        return "until told to stop"
    local = until.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return f"until {local:%H:%M}"
    return f"until {local:%d %b %H:%M}"


def make_track(camera: Camera) -> MediaStreamTrack:
    """The video track for one camera: its RTSP stream, or the test pattern of a simulated camera."""
    from edge.tracks import RtspTrack, TestPatternTrack

    if isinstance(camera, RtspCamera):
        return RtspTrack(camera.url, camera_key=camera.key)
    if isinstance(camera, SimulatedCamera):
        return TestPatternTrack()
    raise ValueError(f"camera {camera.key!r} has no video to share")


def _peer_connection(ice_servers: Sequence[dict[str, Any]]) -> RTCPeerConnection:
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

    servers = []
    for server in ice_servers:
        urls = server.get("urls")
        if isinstance(urls, str) or (isinstance(urls, list) and urls and all(isinstance(url, str) for url in urls)):
            username, credential = server.get("username"), server.get("credential")
            servers.append(RTCIceServer(urls=urls, username=username, credential=credential))
    return RTCPeerConnection(configuration=RTCConfiguration(iceServers=servers))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


class Publisher:
    """Publishes one camera of one share over WHIP until stopped, trying again when the connection drops."""

    def __init__(
        self,
        client: DeviceClient,
        share: DesiredShare,
        shared: SharedCamera,
        camera: Camera,
        *,
        on_revoked: Callable[[CredentialRevoked], None],
        backoff: Backoff,
    ) -> None:
        self.client = client
        self.share = share
        self.shared = shared
        self.camera = camera
        self.on_revoked = on_revoked
        self.backoff = backoff
        # "starting", "live", "retrying", "refused" (waits for the next desired state), "stopped"
        self.state = "starting"
        self.announced = False
        self.pc: RTCPeerConnection | None = None
        self.track: MediaStreamTrack | None = None
        self.session: WhipSession | None = None
        self._last_failure = ""
        self._delay = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.shared.key

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"share-{self.key}")

    async def stop(self, reason: str) -> None:
        """Stop publishing: DELETE the WHIP session, close the peer connection."""
        was = self.state
        self.state = "stopped"
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._end_session()
        if self.announced and was != "refused":
            log.info("Stopped sharing %s: %s", self.key, reason)

    async def _run(self) -> None:
        while True:
            try:
                connected_for, final_state = await self._publish_once()
            except CredentialRevoked as error:
                await asyncio.shield(self._end_session())  # even when stopped meanwhile
                self.state = "stopped"
                self.on_revoked(error)
                return
            except WhipRefused as error:
                await asyncio.shield(self._end_session())
                self.state = "refused"
                log.warning(
                    "Not sharing %s: the server answered %d: %s Waiting for the next desired state.",
                    self.key,
                    error.status,
                    _sentence(error.message),
                )
                return
            except ServerUnavailable as error:
                await asyncio.shield(self._end_session())
                self._retry_later(f"cannot reach the relay: {error.message}", error.kind, error.retry_after_s or 0)
            except Exception as error:  # aiortc: an answer it cannot use, ICE that never connects, ...
                await asyncio.shield(self._end_session())
                self._retry_later(f"the live connection failed: {error or type(error).__name__}", type(error).__name__)
            else:
                await asyncio.shield(self._end_session())
                if connected_for >= STABLE_AFTER_S:
                    self.backoff.reset()
                if final_state == "closed":
                    self._retry_later("the relay closed the live connection", "closed")
                else:
                    self._retry_later("the live connection failed (network or relay gone)", "failed")
            await asyncio.sleep(self._delay)

    def _retry_later(self, message: str, kind: str, at_least_s: float = 0.0) -> None:
        """One warning per kind of failure in a row, then quiet retries."""
        self.state = "retrying"
        self._delay = max(self.backoff.next_delay(), at_least_s)
        level = logging.WARNING if kind != self._last_failure else logging.DEBUG
        self._last_failure = kind
        log.log(level, "Sharing %s: %s Trying again in %.1f s.", self.key, _sentence(message), self._delay)

    async def _publish_once(self) -> tuple[float, str]:
        """One WHIP session: offer, answer, connect, then wait until the connection closes or fails.
        How long it was connected, and how it ended ("closed" or "failed")."""
        from aiortc import RTCRtpSender, RTCSessionDescription

        loop = asyncio.get_running_loop()
        self.pc = pc = _peer_connection(self.share.ice_servers)
        self.track = track = make_track(self.camera)
        connected, ended = asyncio.Event(), asyncio.Event()

        @pc.on("connectionstatechange")
        def _changed() -> None:
            if pc.connectionState == "connected":
                connected.set()
            elif pc.connectionState in ("failed", "closed"):
                ended.set()

        transceiver = pc.addTransceiver(track, direction="sendonly")
        h264 = [codec for codec in RTCRtpSender.getCapabilities("video").codecs if codec.mimeType == "video/H264"]
        transceiver.setCodecPreferences(h264)
        # aiortc gathers every candidate before this returns: the offer is complete (no trickle ICE).
        await pc.setLocalDescription(await pc.createOffer())
        self.session = await self.client.whip_publish(self.shared.whip_url, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.session.answer_sdp, type="answer"))
        waiting = asyncio.ensure_future(connected.wait()), asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait(waiting, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiting:
                waiter.cancel()
        if not connected.is_set():
            raise ConnectionError("ICE/DTLS did not connect" if not ended.is_set() else "the connection failed")
        since = loop.time()
        self.state = "live"
        self._last_failure = ""
        log.info("Sharing %s live%s %s", self.key, " again" if self.announced else "", until_text(self.share.until))
        self.announced = True
        await ended.wait()
        return loop.time() - since, pc.connectionState

    async def _end_session(self) -> None:
        session, pc, track = self.session, self.pc, self.track
        self.session = self.pc = self.track = None
        if session is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.whip_end(session.location), CLOSE_TIMEOUT_S)
        if track is not None:
            track.stop()
        if pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)


class LiveSharing:
    """Keeps one `Publisher` per (share_id, camera key) the latest desired share lists."""

    def __init__(
        self,
        client: DeviceClient,
        cameras: Sequence[Camera],
        *,
        on_revoked: Callable[[CredentialRevoked], None],
        backoff_factory: Callable[[], Backoff] = default_live_backoff,
    ) -> None:
        self.client = client
        self.cameras = {camera.key: camera for camera in cameras}
        self.on_revoked = on_revoked
        self.backoff_factory = backoff_factory
        self.share: DesiredShare | None = None
        self.publishers: dict[tuple[str, str], Publisher] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._until_timer: asyncio.Task[None] | None = None
        self._unknown_reported: set[str] = set()

    def apply(self, value: object) -> None:
        """Take in the `share` of a new desired state (call it on the event loop)."""
        share = parse_share(value)
        if share is not None and share.ended():
            share = None
        self.share = share
        wanted: dict[tuple[str, str], SharedCamera] = {}
        if share is not None:
            for shared in share.cameras:
                if shared.key in self.cameras:
                    wanted[(share.share_id, shared.key)] = shared
                elif shared.key not in self._unknown_reported:
                    self._unknown_reported.add(shared.key)
                    log.warning("The share lists camera %r, which this box does not have", shared.key)
        for identity, publisher in list(self.publishers.items()):
            shared = wanted.get(identity)
            if shared is None:
                same_share = share is not None and share.share_id == identity[0]
                self._stop(identity, "no longer in the share" if same_share else "share ended")
            elif shared != publisher.shared:
                self._stop(identity, "its WHIP address changed")
            elif publisher.state == "refused":
                self._stop(identity, "")  # refused until the desired state changed: it has, so try again
            else:
                publisher.share = share  # type: ignore[assignment]  # a later until, new TURN credentials
        for identity, shared in wanted.items():
            if identity not in self.publishers:
                publisher = Publisher(
                    self.client,
                    share,  # type: ignore[arg-type]  # wanted is empty without a share
                    shared,
                    self.cameras[shared.key],
                    on_revoked=self.on_revoked,
                    backoff=self.backoff_factory(),
                )
                self.publishers[identity] = publisher
                publisher.start()
        self._watch_until()

    def _stop(self, identity: tuple[str, str], reason: str) -> None:
        publisher = self.publishers.pop(identity)
        task = asyncio.create_task(publisher.stop(reason))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _watch_until(self) -> None:
        if self._until_timer is not None:
            self._until_timer.cancel()
            self._until_timer = None
        if self.share is not None and self.share.until is not None and self.publishers:
            self._until_timer = asyncio.create_task(self._stop_at(self.share), name="share-until")

    async def _stop_at(self, share: DesiredShare) -> None:
        """Stop at `until` on this box's clock, even if no new desired state arrives."""
        while not share.ended():
            remaining = (share.until - utc_now()).total_seconds()  # type: ignore[operator]
            await asyncio.sleep(min(max(remaining, 0.01), UNTIL_CHECK_S))
        if self.share is share:
            self.share = None
            for identity in list(self.publishers):
                self._stop(identity, "share ended")

    async def close(self) -> None:
        """Stop every publisher (the agent is stopping)."""
        if self._until_timer is not None:
            self._until_timer.cancel()
        for identity in list(self.publishers):
            self._stop(identity, "the agent is stopping")
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
