"""The live relay: devices publish a shared camera with WHIP (RFC 9725), live-desk browsers play it with WHEP.

It is aiortc: one RTCPeerConnection per publisher and per viewer, and aiortc's MediaRelay fanning a camera out
to its viewers. H.264 is passed through, never decoded or re-encoded: a publisher's receiver hands on the encoded
frames it reassembles (`_PassThrough` below, chosen for the codecs the relay negotiated and for no other peer
connection in the process) and the viewers' senders only packetize them again. A viewer's request for a key frame
(PLI) is passed up to the device.

The relay never writes video anywhere. It cuts peers off itself when a share ends: at once when the share ends
in this process, and otherwise at the next check of the database (every half second), or at the share's end
time by its own clock, whichever comes first. A device that keeps sending is not trusted to stop.

The WHIP/WHEP endpoints are the seam: a dedicated media server could take the relay's place behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fractions
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

logger = logging.getLogger("porchlight.relay")
CHECK_EVERY_SECONDS = 0.5
PLI_AT_MOST_EVERY_SECONDS = 1.0
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


class SdpError(ValueError):
    """The offer is not an SDP offer the relay can answer (a 400)."""


class NotSending(Exception):
    """The camera's video has not reached the relay yet (the desk tries again in a moment)."""


class _PassThrough:
    """Stands in for aiortc's H.264 decoder: the reassembled frame goes on as an encoded packet."""

    def decode(self, encoded_frame: Any) -> list[Any]:
        import av

        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = VIDEO_TIME_BASE
        return [packet]


_PASS_THROUGH = "porchlight_pass_through"


def install_pass_through() -> None:
    """aiortc picks a receiver's decoder by codec: H.264 codecs the relay marked get `_PassThrough`, everything
    else (any other peer connection in the process) aiortc's own decoder."""
    import aiortc.rtcrtpreceiver as receiver_module

    if getattr(receiver_module.get_decoder, _PASS_THROUGH, False):
        return
    decoder_for = receiver_module.get_decoder

    def get_decoder(codec: Any) -> Any:
        return _PassThrough() if getattr(codec, _PASS_THROUGH, False) else decoder_for(codec)

    setattr(get_decoder, _PASS_THROUGH, True)
    receiver_module.get_decoder = get_decoder


def mark_pass_through(pc: Any) -> None:
    """The negotiated H.264 codecs of a publisher's connection (aiortc gives each connection its own copies), and
    frames handed on at their last packet."""
    for transceiver in pc.getTransceivers():
        for codec in transceiver._codecs:
            if codec.mimeType.lower() == "video/h264":
                setattr(codec, _PASS_THROUGH, True)
        if transceiver.kind == "video":
            transceiver.receiver._RTCRtpReceiver__jitter_buffer = _frame_at_marker_buffer()


def _frame_at_marker_buffer() -> Any:
    """aiortc's video jitter buffer completes a frame only when the next frame's first packet arrives, which holds
    every frame back one frame interval (67 ms at 15 fps). This one completes it at its last packet, the one with
    the RTP marker bit (RFC 6184 section 5.1), and otherwise does as aiortc's does."""
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class FrameAtMarker(JitterBuffer):
        def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
            packets = []
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self.capacity]
                if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                    break
                packets.append(packet)
                if packet.marker:
                    self.remove(count + 1)
                    return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packet.timestamp)
            return super()._remove_frame(sequence_number)

    return FrameAtMarker(capacity=512, is_video=True)


def _configuration(ice_servers: Sequence[dict[str, Any]]) -> Any:
    from aiortc import RTCConfiguration, RTCIceServer

    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ]
    )


def _h264_only(transceiver: Any) -> None:
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")])


def _offer(sdp: str) -> Any:
    from aiortc import RTCSessionDescription

    if not sdp.startswith("v=0") or "m=video" not in sdp:
        raise SdpError("The body must be an SDP offer (application/sdp) with a video section")
    return RTCSessionDescription(sdp=sdp, type="offer")


@dataclass
class Publisher:
    share_camera_id: uuid.UUID
    share_id: uuid.UUID
    ends_at: dt.datetime
    pc: Any
    resource_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    track: Any = None
    receiver: Any = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    frames: int = 0
    passed_through: bool = False  # the camera's frames arrive encoded, as sent (H.264)
    last_pli: float = 0.0
    drain: asyncio.Task[None] | None = None


@dataclass
class Viewer:
    viewer_id: uuid.UUID
    user_id: uuid.UUID
    share_camera_id: uuid.UUID
    share_id: uuid.UUID
    ends_at: dt.datetime
    pc: Any
    resource_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    sender: Any = None


class Relay:
    """The peer connections of this process, by share camera."""

    def __init__(self) -> None:
        self.publishers: dict[uuid.UUID, Publisher] = {}
        self.viewers: dict[str, Viewer] = {}
        self._media: Any = None
        self.closed_viewers: asyncio.Queue[uuid.UUID] = asyncio.Queue()

    @property
    def media(self) -> Any:
        if self._media is None:
            from aiortc.contrib.media import MediaRelay

            install_pass_through()
            self._media = MediaRelay()
        return self._media

    # --- publishing (WHIP) -----------------------------------------------------------------------------------

    async def publish(
        self,
        share_camera_id: uuid.UUID,
        share_id: uuid.UUID,
        ends_at: dt.datetime,
        offer_sdp: str,
        ice_servers: Sequence[dict[str, Any]] = (),
    ) -> Publisher:
        """Answer a device's offer. A device that publishes the same camera again replaces its earlier session,
        and the viewers move to the new video."""
        from aiortc import RTCPeerConnection

        offer = _offer(offer_sdp)
        media = self.media
        pc = RTCPeerConnection(_configuration(ice_servers))
        publisher = Publisher(share_camera_id, share_id, ends_at, pc)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "video" or publisher.track is not None:
                return
            publisher.track = track
            publisher.receiver = next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
            publisher.drain = asyncio.create_task(self._drain(publisher, media.subscribe(track, buffered=False)))
            for viewer in self.viewers.values():
                if viewer.share_camera_id == share_camera_id and viewer.sender is not None:
                    viewer.sender.replaceTrack(media.subscribe(track))
            publisher.arrived.set()

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.publishers.get(share_camera_id) is publisher:
                await self._close_publisher(publisher)

        try:
            await pc.setRemoteDescription(offer)
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    _h264_only(transceiver)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError) as error:
            await pc.close()
            raise SdpError(f"The SDP offer cannot be answered: {error}") from None
        mark_pass_through(pc)  # before the connection is up: its receiver picks the decoder then
        earlier = self.publishers.get(share_camera_id)
        self.publishers[share_camera_id] = publisher
        if earlier is not None:
            await self._close_publisher(earlier, replaced=True)
        return publisher

    async def _drain(self, publisher: Publisher, sink: Any) -> None:
        """Read the camera even with nobody watching (its frames must not pile up), and count them."""
        import av
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                publisher.passed_through = isinstance(await sink.recv(), av.Packet)
                publisher.frames += 1

    def _ask_for_key_frame(self, publisher: Publisher) -> None:
        """A viewer cannot decode until a key frame: ask the device for one (at most once a second)."""
        now = time.monotonic()
        receiver = publisher.receiver
        if receiver is None or now - publisher.last_pli < PLI_AT_MOST_EVERY_SECONDS:
            return
        sources = receiver.getSynchronizationSources()
        if sources:
            publisher.last_pli = now
            asyncio.ensure_future(receiver._send_rtcp_pli(sources[0].source))

    async def _close_publisher(self, publisher: Publisher, replaced: bool = False) -> None:
        if self.publishers.get(publisher.share_camera_id) is publisher:
            del self.publishers[publisher.share_camera_id]
        if publisher.drain is not None:
            publisher.drain.cancel()
        await publisher.pc.close()
        if not replaced:
            logger.info("relay: camera %s stopped sending", publisher.share_camera_id)

    async def end_publish(self, resource_id: str) -> bool:
        for publisher in list(self.publishers.values()):
            if publisher.resource_id == resource_id:
                await self._close_publisher(publisher)
                return True
        return False

    def publisher_of(self, resource_id: str) -> Publisher | None:
        return next((p for p in self.publishers.values() if p.resource_id == resource_id), None)

    # --- playing (WHEP) --------------------------------------------------------------------------------------

    async def play(
        self,
        viewer_id: uuid.UUID,
        user_id: uuid.UUID,
        share_camera_id: uuid.UUID,
        share_id: uuid.UUID,
        ends_at: dt.datetime,
        offer_sdp: str,
        ice_servers: Sequence[dict[str, Any]] = (),
        wait_seconds: float = 5.0,
    ) -> Viewer:
        """Answer a desk browser's offer with the camera's video (waiting a moment for it to arrive)."""
        from aiortc import RTCPeerConnection

        offer = _offer(offer_sdp)
        publisher = self.publishers.get(share_camera_id)
        if publisher is None or publisher.track is None:
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                publisher = self.publishers.get(share_camera_id)
                if publisher is not None and publisher.track is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                raise NotSending("This camera's video has not reached Porchlight yet; trying again")
        pc = RTCPeerConnection(_configuration(ice_servers))
        viewer = Viewer(viewer_id, user_id, share_camera_id, share_id, ends_at, pc)
        try:
            await pc.setRemoteDescription(offer)
            viewer.sender = pc.addTrack(self.media.subscribe(publisher.track))
            for transceiver in pc.getTransceivers():
                if transceiver.sender is viewer.sender:
                    _h264_only(transceiver)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError) as error:
            await pc.close()
            raise SdpError(f"The SDP offer cannot be answered: {error}") from None
        self._forward_key_frame_requests(viewer)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and viewer.resource_id in self.viewers:
                await self._close_viewer(viewer)

        self.viewers[viewer.resource_id] = viewer
        return viewer

    def _forward_key_frame_requests(self, viewer: Viewer) -> None:
        from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

        sender = viewer.sender
        handle = sender._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                publisher = self.publishers.get(viewer.share_camera_id)
                if publisher is not None:
                    self._ask_for_key_frame(publisher)
            await handle(packet)

        sender._handle_rtcp_packet = handle_rtcp

    async def _close_viewer(self, viewer: Viewer) -> None:
        if self.viewers.pop(viewer.resource_id, None) is not None:
            self.closed_viewers.put_nowait(viewer.viewer_id)
        await viewer.pc.close()

    async def end_play(self, resource_id: str) -> bool:
        viewer = self.viewers.get(resource_id)
        if viewer is None:
            return False
        await self._close_viewer(viewer)
        return True

    # --- ending ----------------------------------------------------------------------------------------------

    def share_ids(self) -> set[uuid.UUID]:
        return {p.share_id for p in self.publishers.values()} | {v.share_id for v in self.viewers.values()}

    async def cut(self, share_ids: set[uuid.UUID]) -> int:
        """Close every peer connection of these shares: no frame of theirs goes anywhere after this."""
        peers = [p for p in self.publishers.values() if p.share_id in share_ids]
        viewers = [v for v in self.viewers.values() if v.share_id in share_ids]
        for viewer in viewers:
            await self._close_viewer(viewer)
        for publisher in peers:
            await self._close_publisher(publisher)
        if peers or viewers:
            logger.info("relay: share ended, closed %d publisher(s) and %d viewer(s)", len(peers), len(viewers))
        return len(peers) + len(viewers)

    def overdue(self, now: dt.datetime) -> set[uuid.UUID]:
        """Shares whose end time has passed by this process's clock."""
        return {p.share_id for p in self.publishers.values() if p.ends_at <= now} | {
            v.share_id for v in self.viewers.values() if v.ends_at <= now
        }

    async def close(self) -> None:
        await self.cut(self.share_ids())

    def extend(self, share_id: uuid.UUID, ends_at: dt.datetime) -> None:
        for peer in [*self.publishers.values(), *self.viewers.values()]:
            if peer.share_id == share_id:
                peer.ends_at = ends_at


RELAY = Relay()
_cutting: set[asyncio.Task[int]] = set()  # the event loop keeps only weak references to tasks


def announce_ended(db: AsyncSession, share_ids: list[uuid.UUID]) -> None:
    """When the caller's transaction commits, this process's relay cuts these shares off at once (a relay in
    another process finds out at its next check)."""

    def after_commit(_session: object) -> None:
        task = asyncio.get_running_loop().create_task(RELAY.cut(set(share_ids)))
        _cutting.add(task)
        task.add_done_callback(_cutting.discard)

    event.listen(db.sync_session, "after_commit", after_commit, once=True)


async def _watch(engine: AsyncEngine, relay: Relay, stop: asyncio.Event) -> None:
    """Every half second: end the peers of shares that ended (in any process) and record viewers who left. A lost
    database connection is said once, not a traceback a pass (the sweeper's loop)."""
    from backend.sharing import service
    from backend.sweeper import run_every

    async def check(db: AsyncSession) -> str:
        active = relay.share_ids()
        if active:
            open_until = await service.still_open(db, list(active))
            for share_id, ends_at in open_until.items():
                relay.extend(share_id, ends_at)  # the owner may have given more time in another process
            ended = (active - open_until.keys()) | relay.overdue(dt.datetime.now(dt.UTC))
            if ended:
                await relay.cut(ended)
        while not relay.closed_viewers.empty():
            await service.viewer_closed(db, relay.closed_viewers.get_nowait())
        return ""

    await run_every(engine, CHECK_EVERY_SECONDS, stop, "relay", check)


@contextlib.asynccontextmanager
async def running_relay(engine: AsyncEngine, relay: Relay = RELAY) -> AsyncIterator[Relay]:
    """The relay's watch over its shares while the block runs; every peer is closed when it ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(_watch(engine, relay, stop), name="relay-watch")
    try:
        yield relay
    finally:
        stop.set()
        await task
        await relay.close()
