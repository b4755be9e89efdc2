"""A tiny RTSP relay for tests: ffmpeg publishes a stream into it, camera readers play it back.

FFmpeg cannot serve RTSP itself, so this stands in for a camera. It speaks just enough RTSP 1.0 (RFC 2326),
over TCP with interleaved RTP only:

- a publisher sends ANNOUNCE (the SDP), SETUP per track (`mode=record`), RECORD, then `$`-framed RTP/RTCP;
- a reader sends OPTIONS, DESCRIBE (gets the announced SDP with a Content-Base), SETUP per track, PLAY, and
  receives each track's packets on the interleaved channels it asked for; TEARDOWN or a closed socket ends it.

    relay = RtspRelay(); port = await relay.start("127.0.0.1", 0)
    ffmpeg ... -f rtsp -rtsp_transport tcp rtsp://127.0.0.1:{port}/cam
    av.open(f"rtsp://127.0.0.1:{port}/cam", options={"rtsp_transport": "tcp"})

`python -m tests.edge.rtsp_relay --port 8554` runs one by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
from dataclasses import dataclass, field

# A reader that falls this far behind is dropped rather than buffering without end.
MAX_READER_BUFFER = 4 * 1024 * 1024


@dataclass
class Reader:
    writer: asyncio.StreamWriter
    # track control (e.g. "streamid=0") -> the reader's RTP channel (RTCP is the next one)
    channels: dict[str, int] = field(default_factory=dict)
    playing: bool = False


@dataclass
class Stream:
    sdp: str
    # publisher's RTP channel -> track control
    tracks_by_channel: dict[int, str] = field(default_factory=dict)
    readers: list[Reader] = field(default_factory=list)


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class RtspRelay:
    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, host, port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server:
            self.server.close()
        for writer in list(self.connections):
            writer.close()
        if self.server:
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        session = secrets.token_hex(8)
        published: str | None = None  # the path this connection publishes, if it is a publisher
        watcher = Reader(writer)
        watched: Stream | None = None
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":  # interleaved binary data: channel, 16-bit length, payload
                    channel = (await reader.readexactly(1))[0]
                    length = int.from_bytes(await reader.readexactly(2), "big")
                    payload = await reader.readexactly(length)
                    if published is not None and published in self.streams:
                        self._forward(self.streams[published], channel, payload)
                    continue  # a reader's RTCP receiver reports are not needed
                request = await self._read_request(first, reader)
                path = _path_of(request.url)
                cseq = request.headers.get("cseq", "0")
                headers: dict[str, str] = {"CSeq": cseq, "Session": session}
                body = b""
                status = "200 OK"
                if request.method == "OPTIONS":
                    headers["Public"] = "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER"
                elif request.method == "ANNOUNCE":
                    published = path
                    self.streams[path] = Stream(sdp=request.body.decode())
                elif request.method == "DESCRIBE":
                    stream = self.streams.get(path)
                    if stream is None:
                        status = "404 Not Found"
                    else:
                        body = stream.sdp.encode()
                        headers["Content-Type"] = "application/sdp"
                        headers["Content-Base"] = f"{request.url.rstrip('/')}/"
                elif request.method == "SETUP":
                    transport = request.headers.get("transport", "")
                    interleaved = re.search(r"interleaved=(\d+)", transport)
                    if "TCP" not in transport.upper() or not interleaved:
                        status = "461 Unsupported Transport"
                    else:
                        channel = int(interleaved.group(1))
                        stream_path, track = _split_track(request.url, published or path, self.streams)
                        headers["Transport"] = transport
                        if published is not None:
                            self.streams[published].tracks_by_channel[channel] = track
                        elif stream_path in self.streams:
                            watched = self.streams[stream_path]
                            watcher.channels[track] = channel
                        else:
                            status = "404 Not Found"
                elif request.method == "PLAY":
                    if watched is None:
                        status = "455 Method Not Valid in This State"
                    else:
                        headers["Range"] = "npt=0.000-"
                        watcher.playing = True
                        if watcher not in watched.readers:
                            watched.readers.append(watcher)
                elif request.method == "TEARDOWN":
                    self._reply(writer, status, headers, body)
                    return
                elif request.method not in ("RECORD", "GET_PARAMETER", "SET_PARAMETER"):
                    status = "501 Not Implemented"
                self._reply(writer, status, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.connections.discard(writer)
            if published is not None and published in self.streams:
                # The camera went away: its readers see the connection close, as with a real camera.
                for watcher_of_stream in self.streams.pop(published).readers:
                    watcher_of_stream.writer.close()
            if watched is not None and watcher in watched.readers:
                watched.readers.remove(watcher)
            writer.close()

    async def _read_request(self, first: bytes, reader: asyncio.StreamReader) -> Request:
        head = first + await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        method, url, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, url, headers, body)

    def _reply(self, writer: asyncio.StreamWriter, status: str, headers: dict[str, str], body: bytes) -> None:
        lines = [f"RTSP/1.0 {status}"] + [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _forward(self, stream: Stream, channel: int, payload: bytes) -> None:
        """A publisher's packet on `channel` goes to each playing reader on the channel it chose for the track."""
        rtp_channel = channel - channel % 2
        track = stream.tracks_by_channel.get(rtp_channel)
        if track is None:
            return
        for watcher in list(stream.readers):
            reader_channel = watcher.channels.get(track)
            if not watcher.playing or reader_channel is None:
                continue
            transport = watcher.writer.transport
            if transport.is_closing() or transport.get_write_buffer_size() > MAX_READER_BUFFER:
                stream.readers.remove(watcher)
                watcher.writer.close()
                continue
            out_channel = reader_channel + channel % 2
            watcher.writer.write(b"$" + bytes([out_channel]) + len(payload).to_bytes(2, "big") + payload)


def _path_of(url: str) -> str:
    """rtsp://host:port/cam/streamid=0?x -> /cam/streamid=0"""
    path = re.sub(r"^[a-z]+://[^/]*", "", url, flags=re.IGNORECASE).split("?")[0]
    return path.rstrip("/") or "/"


def _split_track(url: str, base_path: str, streams: dict[str, Stream]) -> tuple[str, str]:
    """A SETUP URL names a track under a stream (Content-Base + a=control): split it into both."""
    path = _path_of(url)
    if path.startswith(base_path + "/"):
        return base_path, path[len(base_path) + 1 :]
    for stream_path in streams:
        if path.startswith(stream_path + "/"):
            return stream_path, path[len(stream_path) + 1 :]
    return path, ""


async def _main() -> None:
    parser = argparse.ArgumentParser(description="A tiny RTSP relay: ffmpeg publishes, readers play.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    arguments = parser.parse_args()
    relay = RtspRelay()
    port = await relay.start(arguments.host, arguments.port)
    print(f"RTSP relay on rtsp://{arguments.host}:{port}/<name>", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
