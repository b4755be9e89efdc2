"""The device API (/device/v1, bearer credential) and the owner's device API (/api/v1/devices): thin."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter, RequestBody, URLEncodedBody

from backend.devices import service
from backend.devices.desired import HUB
from backend.devices.schemas import (
    DeviceAuthorizationOut,
    DeviceDetailOut,
    DeviceEventIn,
    DeviceEventOut,
    DeviceOut,
    DevicePatch,
    GrantErrorOut,
    HeartbeatIn,
    HeartbeatOut,
    LinkIn,
    PairIn,
    TokenOut,
)
from backend.registry.schemas import CameraOut
from backend.sharing.service import SharePolicy
from backend.validation import set_fields
from backend.web import ANSWERS_MALFORMED_INPUT, Db, SignedIn, provide_owner, settings_of

MAX_BODY_BYTES = 64 * 1024
LONG_POLL_SECONDS = 25


def bearer_credential(request: Request) -> str:
    """The device credential a box sends (`Authorization: Bearer ...`)."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise service.DeviceNotAuthenticated("Send the device credential as `Authorization: Bearer <credential>`")
    return credential.strip()


def _grant_error(error: str, description: str) -> Response[GrantErrorOut]:
    """RFC 6749 section 5.2, as RFC 8628 section 3.5 uses it."""
    return Response(
        GrantErrorOut(error=error, error_description=description),
        status_code=400,
        headers={"Cache-Control": "no-store"},
    )


class DeviceApi(Controller):
    """What an edge device calls. Pairing needs no credential; everything else is scoped to the credential."""

    path = "/device/v1"
    tags = ["device"]
    opt = {"exclude_from_csrf": True}  # bearer-authenticated: no cookie, so nothing for CSRF to protect
    request_max_body_size = MAX_BODY_BYTES

    @post("/device_authorization", status_code=200, summary="Start pairing (RFC 8628 device authorization)")
    async def device_authorization(
        self, request: Request, db: Db, data: URLEncodedBody[dict[str, Any]]
    ) -> DeviceAuthorizationOut:
        """Form fields: `client_id` (porchlight-edge), optional `agent_version`. Show `user_code` to the owner."""
        base_url = str(request.base_url).rstrip("/")
        return await service.start_pairing(db, agent_version=str(data.get("agent_version", "")), base_url=base_url)

    @post(
        "/token",
        status_code=200,
        summary="Collect the credential once the owner approved (RFC 8628)",
        responses={400: ResponseSpec(GrantErrorOut, description="Not yet, or never: `error` says which (RFC 6749)")},
        opt={ANSWERS_MALFORMED_INPUT: True},  # the device code is only ever hashed: no text of it is stored
    )
    async def token(self, db: Db, data: URLEncodedBody[dict[str, Any]]) -> Response[TokenOut | GrantErrorOut]:
        """Form fields: `grant_type` = urn:ietf:params:oauth:grant-type:device_code, `device_code`, `client_id`.
        Errors: authorization_pending, slow_down (add 5 s to the interval), expired_token, invalid_grant."""
        if data.get("grant_type") != service.GRANT_TYPE:
            return _grant_error("unsupported_grant_type", f"grant_type must be {service.GRANT_TYPE}")
        if not data.get("device_code"):
            return _grant_error("invalid_request", "device_code is required")
        try:
            token: TokenOut = await service.exchange_device_code(db, str(data["device_code"]))
        except service.DeviceGrantError as exc:
            return _grant_error(exc.error, exc.description)
        return Response(token, headers={"Cache-Control": "no-store"})

    @post("/heartbeat", status_code=200, summary="Report health; get the desired state")
    async def heartbeat(self, request: Request, data: RequestBody[HeartbeatIn]) -> HeartbeatOut:
        """Heartbeats arriving together share one write (see HeartbeatBatcher)."""
        heartbeats: service.HeartbeatBatcher = request.app.state.heartbeats
        return await heartbeats.record(bearer_credential(request), data)

    @get(
        "/desired",
        summary="Long-poll for a new desired state",
        responses={204: ResponseSpec(data_container=None, description="No change within `wait` seconds")},
    )
    async def desired(
        self,
        request: Request,
        db: Db,
        version: Annotated[int, Parameter(ge=0, description="The version the device has")] = 0,
        wait: Annotated[int, Parameter(ge=0, le=LONG_POLL_SECONDS, description="Seconds to hold")] = LONG_POLL_SECONDS,
    ) -> Response[Any]:
        """200 with the desired-state document as soon as its version differs from `version`; 204 when it has not
        changed within `wait` seconds. No database connection is held while waiting."""
        credential = bearer_credential(request)
        device_id, document = await service.desired_state(db, credential)
        deadline = time.monotonic() + wait
        while document["version"] == version and (left := deadline - time.monotonic()) > 0:
            with HUB.watch(device_id) as changed:
                device_id, document = await service.desired_state(db, credential)  # a change before watching
                if document["version"] != version:
                    break
                try:
                    await asyncio.wait_for(changed.wait(), timeout=left)
                except TimeoutError:
                    break
            device_id, document = await service.desired_state(db, credential)
        if document["version"] == version:
            return Response(None, status_code=204)
        return Response(document)

    @post("/events", status_code=202, summary="Report an event (a panic-button press)")
    async def event(self, request: Request, db: Db, data: RequestBody[DeviceEventIn]) -> DeviceEventOut:
        device = await service.device_for_credential(db, bearer_credential(request))
        return await service.record_event(db, device, data, SharePolicy.of(settings_of(request)))


class DeviceController(Controller):
    """An owner's edge devices."""

    path = "/api/v1/devices"
    tags = ["devices"]
    dependencies = {"owner": Provide(provide_owner)}

    @get("")
    async def list_devices(self, db: Db, owner: SignedIn) -> list[DeviceOut]:
        return await service.list_devices(db, owner.id)

    @post("/pair", summary="Approve a device by the code it shows")
    async def pair(self, db: Db, owner: SignedIn, data: RequestBody[PairIn]) -> DeviceOut:
        return await service.approve_pairing(db, owner.id, data)

    @get("/{device_id:uuid}")
    async def get_device(self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID]) -> DeviceDetailOut:
        return await service.get_device(db, owner.id, device_id)

    @patch("/{device_id:uuid}", summary="Rename, move to another site, mute or unmute alerts")
    async def update_device(
        self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID], data: RequestBody[DevicePatch]
    ) -> DeviceDetailOut:
        return await service.update_device(db, owner.id, device_id, **set_fields(data))

    @delete("/{device_id:uuid}", summary="Remove a device: its credential stops working at once")
    async def remove_device(self, db: Db, owner: SignedIn, device_id: FromPath[uuid.UUID]) -> None:
        await service.remove_device(db, owner.id, device_id)

    @post("/cameras/{device_camera_id:uuid}/link", status_code=200, summary="Link a device camera to a camera")
    async def link_camera(
        self, db: Db, owner: SignedIn, device_camera_id: FromPath[uuid.UUID], data: RequestBody[LinkIn]
    ) -> DeviceDetailOut:
        return await service.link_camera(db, owner.id, device_camera_id, data.camera_id)

    @post("/cameras/{device_camera_id:uuid}/register", summary="Register a camera from a device camera")
    async def register_camera(self, db: Db, owner: SignedIn, device_camera_id: FromPath[uuid.UUID]) -> CameraOut:
        return await service.register_camera_from(db, owner.id, device_camera_id)
