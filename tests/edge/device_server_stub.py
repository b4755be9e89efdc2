"""An in-test HTTP server that answers like Porchlight's device API, for tests of the agent alone.

It stands in for a server that is not ours to mock: it speaks the documented responses (RFC 8628 errors,
heartbeat replies, the desired-state long-poll, 401 problem details), records what the agent sent, and can be
scripted. With a `WhipReceiver` attached (`stub.whip`), it also answers WHIP (RFC 9725) at
`/live/v1/whip/<share_camera_id>`: 201 with a relative Location and the receiver's SDP answer, DELETE of that
Location, and scripted problem replies (`whip_replies`). The end-to-end tests against the real app live with
the server's tests.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.edge.whip_receiver import WhipReceiver

PROBLEM = "application/problem+json"


class StubDeviceServer:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.lock = threading.Lock()
        # pairing
        self.interval = 0
        self.expires_in = 600
        self.auto_approve = True  # approve every code at once (pair tests); False: the owner API approves
        self.token_replies: deque[tuple[int, dict[str, Any]]] = deque()  # scripted replies before success
        self.authorizations: dict[str, dict[str, Any]] = {}  # device_code -> {user_code, approved_name}
        self.token_polls = 0
        # owner side (simulate)
        self.csrf_token = "stub-csrf-" + secrets.token_hex(4)
        self.session = "stub-session-" + secrets.token_hex(4)
        self.owner_password = "owner-password"
        self.sign_ins = 0
        # a paired device
        self.credentials: set[str] = {"test-credential"}
        self.revoked = False
        self.heartbeat_interval_s = 30
        self.heartbeats: list[dict[str, Any]] = []
        self.heartbeat_replies: deque[tuple[int, dict[str, Any]]] = deque()  # scripted problem replies
        self.heartbeat_credentials: list[str] = []
        self.desired: dict[str, Any] = {
            "version": 0,
            "device_name": "Core",
            "heartbeat_interval_s": 30,
            "cameras": [],
            "share": None,
        }
        self.hold_s = 0.2
        self.events: list[dict[str, Any]] = []
        # live video (WHIP)
        self.whip: WhipReceiver | None = None
        self.whip_requests: list[dict[str, Any]] = []  # {method, path, authorization, content_type, at}
        self.whip_replies: deque[tuple[int, dict[str, Any]]] = deque()  # scripted problem replies to POSTs
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StubDeviceServer:
        stub = self

        class Handler(_Handler):
            server_stub = stub

        self.server = _QuietServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def whip_url(self, share_camera_id: str) -> str:
        return f"{self.url}/live/v1/whip/{share_camera_id}"

    def whip_posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request for request in self.whip_requests if request["method"] == "POST"]

    def whip_deletes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [request for request in self.whip_requests if request["method"] == "DELETE"]

    def set_share(self, share: dict[str, Any] | None) -> None:
        """A new desired state with this `share` (the version goes up)."""
        self.desired = {**self.desired, "version": self.desired["version"] + 1, "share": share}

    def wait_for(self, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the stub server did not see what the test waited for")
            time.sleep(0.02)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-long-poll (the agent stopping) is normal here


class _Handler(BaseHTTPRequestHandler):
    server_stub: StubDeviceServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    # --- plumbing ---

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _reply(self, status: int, body: Any = None, content_type: str = "application/json", **headers: str) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply_text(self, status: int, text: str, content_type: str, **headers: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record_whip(self, method: str, path: str) -> None:
        stub = self.server_stub
        with stub.lock:
            stub.whip_requests.append(
                {
                    "method": method,
                    "path": path,
                    "authorization": self.headers.get("authorization"),
                    "content_type": self.headers.get("content-type"),
                    "at": time.monotonic(),
                }
            )

    def _whip_offer(self, path: str, offer: bytes) -> None:
        stub = self.server_stub
        self._record_whip("POST", path)
        with stub.lock:
            scripted = stub.whip_replies.popleft() if stub.whip_replies else None
        if scripted is not None:
            self._reply(*scripted, content_type=PROBLEM)
            return
        if not self._device_authorized():
            return
        if self.headers.get("content-type") != "application/sdp":
            self._reply(415, {"detail": "Send an SDP offer (application/sdp)."}, content_type=PROBLEM)
            return
        if stub.whip is None:
            self._reply(404, {"detail": "No live share for this camera."}, content_type=PROBLEM)
            return
        session = stub.whip.answer(offer.decode())
        # A relative Location, as RFC 9725 allows: the agent resolves it against the WHIP URL.
        self._reply_text(201, session.answer_sdp, "application/sdp", Location=f"{path}/sessions/{session.id}")

    def _credential(self) -> str | None:
        header = self.headers.get("authorization", "")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None

    def _device_authorized(self) -> bool:
        stub = self.server_stub
        if stub.revoked or self._credential() not in stub.credentials:
            self._reply(
                401,
                {"title": "Unauthorized", "status": 401, "detail": "This device credential is not valid."},
                content_type=PROBLEM,
            )
            return False
        return True

    # --- routes ---

    def do_GET(self) -> None:  # noqa: N802
        stub = self.server_stub
        url = urlsplit(self.path)
        if url.path == "/health":
            self._reply(200, {"status": "ok"}, Set_Cookie=f"csrftoken={stub.csrf_token}; Path=/")
        elif url.path == "/device/v1/desired":
            if not self._device_authorized():
                return
            version = int(parse_qs(url.query).get("version", ["0"])[0])
            deadline = time.monotonic() + stub.hold_s
            while time.monotonic() < deadline and stub.desired["version"] == version:
                time.sleep(0.02)
            if stub.desired["version"] == version:
                self._reply(204)
            else:
                self._reply(200, stub.desired)
        else:
            self._reply(404, {"detail": "not found"}, content_type=PROBLEM)

    def do_DELETE(self) -> None:  # noqa: N802
        stub = self.server_stub
        path = urlsplit(self.path).path
        self._body()
        if path.startswith("/live/v1/whip/") and "/sessions/" in path:
            self._record_whip("DELETE", path)
            if not self._device_authorized():
                return
            if stub.whip is not None and stub.whip.end(path.rsplit("/", 1)[1]):
                self._reply(200)
                return
        self._reply(404, {"detail": "not found"}, content_type=PROBLEM)

    def do_POST(self) -> None:  # noqa: N802
        stub = self.server_stub
        path = urlsplit(self.path).path
        raw = self._body()
        if path.startswith("/live/v1/whip/") and path.count("/") == 4:
            self._whip_offer(path, raw)
        elif path == "/device/v1/device_authorization":
            form = parse_qs(raw.decode())
            assert form["client_id"] == ["porchlight-edge"], form
            device_code = secrets.token_urlsafe(16)
            letters = "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))
            user_code = f"{letters[:4]}-{letters[4:]}"  # like WDJB-MJHT
            with stub.lock:
                stub.authorizations[device_code] = {"user_code": user_code, "approved_name": None}
            self._reply(
                200,
                {
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": f"{stub.url}/devices/add",
                    "verification_uri_complete": f"{stub.url}/devices/add?code={user_code}",
                    "expires_in": stub.expires_in,
                    "interval": stub.interval,
                },
                Cache_Control="no-store",
            )
        elif path == "/device/v1/token":
            form = parse_qs(raw.decode())
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"], form
            with stub.lock:
                stub.token_polls += 1
                authorization = stub.authorizations.get(form["device_code"][0])
                scripted = stub.token_replies.popleft() if stub.token_replies else None
            if scripted is not None:
                self._reply(*scripted)
            elif authorization is None:
                self._reply(400, {"error": "invalid_grant", "error_description": "Unknown device code."})
            elif not stub.auto_approve and authorization["approved_name"] is None:
                self._reply(400, {"error": "authorization_pending", "error_description": "Not approved yet."})
            else:
                device_id = str(uuid.uuid4())
                credential = f"credential-{device_id}"
                with stub.lock:
                    stub.credentials.add(credential)
                self._reply(
                    200,
                    {
                        "access_token": credential,
                        "token_type": "Bearer",
                        "device_id": device_id,
                        "device_name": authorization["approved_name"] or "Core",
                        "site_name": "Home",
                    },
                    Cache_Control="no-store",
                )
        elif path == "/device/v1/heartbeat":
            if not self._device_authorized():
                return
            with stub.lock:
                scripted = stub.heartbeat_replies.popleft() if stub.heartbeat_replies else None
                if scripted is None:
                    stub.heartbeats.append(json.loads(raw))
                    stub.heartbeat_credentials.append(self._credential() or "")
            if scripted is not None:
                self._reply(*scripted, content_type=PROBLEM)
                return
            self._reply(
                200,
                {
                    "heartbeat_interval_s": stub.heartbeat_interval_s,
                    "server_time": datetime.now(UTC).isoformat(),
                    "desired": stub.desired,
                },
            )
        elif path == "/device/v1/events":
            if not self._device_authorized():
                return
            stub.events.append(json.loads(raw))
            self._reply(202, {"status": "received"})
        elif path == "/api/v1/auth/login":
            if self.headers.get("x-csrftoken") != stub.csrf_token:
                self._reply(403, {"detail": "CSRF token verification failed"}, content_type=PROBLEM)
                return
            credentials = json.loads(raw)
            if credentials["password"] != stub.owner_password:
                self._reply(401, {"detail": "Wrong email or password."}, content_type=PROBLEM)
                return
            stub.sign_ins += 1
            self._reply(200, {"email": credentials["email"]}, Set_Cookie=f"session={stub.session}; Path=/")
        elif path == "/api/v1/devices/pair":
            if self.headers.get("x-csrftoken") != stub.csrf_token or stub.session not in self.headers.get("cookie", ""):
                self._reply(403, {"detail": "not signed in or no CSRF token"}, content_type=PROBLEM)
                return
            body = json.loads(raw)
            with stub.lock:
                for authorization in stub.authorizations.values():
                    if authorization["user_code"] == body["user_code"] and authorization["approved_name"] is None:
                        authorization["approved_name"] = body["name"]
                        break
                else:
                    self._reply(404, {"detail": "No pending pairing with this code."}, content_type=PROBLEM)
                    return
            self._reply(201, {"name": body["name"]})
        else:
            self._reply(404, {"detail": "not found"}, content_type=PROBLEM)
