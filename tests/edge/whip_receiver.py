"""The answering side of WHIP for the agent's tests: aiortc peer connections that receive the agent's video.

It stands in for the server's relay (not ours to mock here): the stub device server hands it each WHIP offer
(`answer`), and a DELETE of the session (`end`). It runs its own event loop in a thread, as a separate server
would, and records per session what a viewer would notice: decoded frames (aiortc decodes H.264 into
`av.VideoFrame`s), when each arrived, and whether the connection closed. `close_session` is the relay ending
a share by itself.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


@dataclass
class ReceivedFrame:
    received_ms: int  # wall clock when the decoded frame came out of the receiver
    frame: av.VideoFrame


@dataclass
class ReceiverSession:
    id: str
    offer_sdp: str
    answer_sdp: str = ""
    pc: RTCPeerConnection | None = None
    frames_received: int = 0
    frames: deque[ReceivedFrame] = field(default_factory=lambda: deque(maxlen=30))
    closed: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False


class WhipReceiver:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="whip-receiver", daemon=True)
        self.thread.start()
        self.sessions: dict[str, ReceiverSession] = {}
        self._consumers: set[asyncio.Task[Any]] = set()

    def _call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    # --- called by the stub server's handler threads ---

    def answer(self, offer_sdp: str) -> ReceiverSession:
        return self._call(self._answer(offer_sdp))

    def end(self, session_id: str) -> bool:
        session = self.sessions.get(session_id)
        if session is None:
            return False
        session.deleted = True
        self._call(session.pc.close())
        return True

    # --- called by tests ---

    def close_session(self, session: ReceiverSession) -> None:
        """The relay closes the peer connection itself (the share ended on the server)."""
        self._call(session.pc.close())

    def wait_for(self, condition, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("the WHIP receiver did not see what the test waited for")
            time.sleep(0.02)

    def close(self) -> None:
        async def close_all() -> None:
            for session in self.sessions.values():
                await session.pc.close()
            for task in self._consumers:
                task.cancel()
            await asyncio.gather(*self._consumers, return_exceptions=True)

        self._call(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    # --- on the receiver's loop ---

    async def _answer(self, offer_sdp: str) -> ReceiverSession:
        session = ReceiverSession(id=secrets.token_hex(8), offer_sdp=offer_sdp)
        session.pc = pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track: Any) -> None:
            task = asyncio.ensure_future(self._consume(session, track))
            self._consumers.add(task)
            task.add_done_callback(self._consumers.discard)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("closed", "failed"):
                session.closed.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        session.answer_sdp = pc.localDescription.sdp
        self.sessions[session.id] = session
        return session

    async def _consume(self, session: ReceiverSession, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            session.frames_received += 1
            session.frames.append(ReceivedFrame(int(time.time() * 1000), frame))
