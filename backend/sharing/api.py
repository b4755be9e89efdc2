"""The share-now APIs, thin: the owner's (/api/v1/shares), the live desk's (/api/v1/live-desk) and the relay's
WHIP/WHEP endpoints (/live/v1), where a device publishes and a desk browser plays."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, RequestBody

from backend.devices.api import bearer_credential
from backend.devices.service import device_for_credential
from backend.errors import Conflict, InvalidInput, NotFound
from backend.sharing import service
from backend.sharing.relay import RELAY, NotSending, SdpError
from backend.sharing.schemas import AnswerIn, DeskShareOut, ExtendIn, ShareableSite, ShareIn, ShareOut
from backend.web import Db, SignedIn, client_ip, provide_owner, provide_user, settings_of

MAX_SDP_BYTES = 64 * 1024
SDP = "application/sdp"


def policy_of(request: Request) -> service.SharePolicy:
    """The program's share rules, from the app's settings."""
    return service.SharePolicy.of(settings_of(request))


class ShareController(Controller):
    """The owner's shares: start, see the countdown and who is watching, extend, answer the desk, stop."""

    path = "/api/v1/shares"
    tags = ["share now (owner)"]
    dependencies = {"owner": provide_owner}  # noqa: RUF012

    @get("/")
    async def list_shares(self, request: Request, db: Db, owner: SignedIn) -> list[ShareOut]:
        """Every share, newest first, with its receipt (who watched, who ended it)."""
        return await service.owner_shares(db, owner.id, policy_of(request))

    @get("/shareable")
    async def shareable(self, db: Db, owner: SignedIn) -> list[ShareableSite]:
        """The sites and the cameras a device sends now, for the "Share now" screen."""
        return await service.shareable(db, owner.id)

    @post("/", status_code=201)
    async def start(self, request: Request, db: Db, owner: SignedIn, data: RequestBody[ShareIn]) -> ShareOut:
        """Start sharing a site's cameras (all, or `camera_ids`) with the live desk for `minutes`. 409 while a
        share of the site is on: extend or stop that one."""
        share = await service.start_share(db, owner.id, data, policy_of(request))
        await db.commit()
        return await service.get_share(db, owner.id, share.id, policy_of(request))

    @get("/{share_id:uuid}")
    async def get_share(self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID]) -> ShareOut:
        return await service.get_share(db, owner.id, share_id, policy_of(request))

    @post("/{share_id:uuid}/stop", status_code=200)
    async def stop(self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID]) -> ShareOut:
        """Stop now: every viewer's video stops and the device stops sending."""
        await service.stop_share(db, owner.id, share_id)
        await db.commit()
        return await service.get_share(db, owner.id, share_id, policy_of(request))

    @post("/{share_id:uuid}/extend", status_code=200)
    async def extend(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID], data: RequestBody[ExtendIn]
    ) -> ShareOut:
        await service.extend_share(db, owner.id, share_id, data.minutes, policy_of(request))
        await db.commit()
        return await service.get_share(db, owner.id, share_id, policy_of(request))

    @post("/{share_id:uuid}/answer", status_code=200)
    async def answer(
        self, request: Request, db: Db, owner: SignedIn, share_id: FromPath[uuid.UUID], data: RequestBody[AnswerIn]
    ) -> ShareOut:
        """Yes or no to the live desk's request for more time."""
        await service.answer_extension(db, owner.id, share_id, data.approve, policy_of(request))
        await db.commit()
        return await service.get_share(db, owner.id, share_id, policy_of(request))


class LiveDeskController(Controller):
    """The live desk: shares that are on, "I'm watching", asking for more time, the agency's audit."""

    path = "/api/v1/live-desk"
    tags = ["live desk (agency)"]
    dependencies = {"user": provide_user}  # noqa: RUF012

    @get("/shares")
    async def shares(self, db: Db, user: SignedIn) -> list[DeskShareOut]:
        return await service.desk_shares(db, user)

    @get("/shares/{share_id:uuid}")
    async def share(self, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID]) -> DeskShareOut:
        return await service.desk_share(db, user, share_id)

    @post("/shares/{share_id:uuid}/acknowledge", status_code=200)
    async def acknowledge(
        self, request: Request, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID]
    ) -> DeskShareOut:
        """Say "I'm watching": the owner gets a push naming the agency and you."""
        out = await service.acknowledge(db, user, share_id, client_ip(request))
        await db.commit()
        return out

    @post("/shares/{share_id:uuid}/more-time", status_code=200)
    async def more_time(
        self, request: Request, db: Db, user: SignedIn, share_id: FromPath[uuid.UUID], data: RequestBody[ExtendIn]
    ) -> DeskShareOut:
        """Ask the owner for more time; only the owner's yes extends the share."""
        out = await service.ask_more_time(db, user, share_id, data.minutes, client_ip(request))
        await db.commit()
        return out

    @get("/audit")
    async def audit(self, db: Db, user: SignedIn) -> list[dict[str, Any]]:
        """Every opening, acknowledgement and request for more time by the agency's live desk."""
        return await service.agency_audit(db, user)


async def _sdp_offer(request: Request) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != SDP:
        raise InvalidInput({"body": "Send the SDP offer with Content-Type: application/sdp"})
    body = await request.body()
    if len(body) > MAX_SDP_BYTES:
        raise InvalidInput({"body": "The SDP offer is too large"})
    return body.decode("utf-8", errors="replace")


def _answer(sdp: str, location: str) -> Response[bytes]:
    return Response(
        sdp.encode(), status_code=201, media_type=SDP, headers={"Location": location, "Cache-Control": "no-store"}
    )


def _bad_sdp(error: SdpError) -> InvalidInput:
    return InvalidInput({"body": str(error)})


class LiveController(Controller):
    """WHIP (RFC 9725) and WHEP: POST an SDP offer, get 201 with the answer and the session's Location; DELETE
    the Location to end it. Checked on every call: a device publishes only a camera of its own live share; a
    live-desk operator of the share's agency plays only while the share is on."""

    path = "/live/v1"
    tags = ["live video (WHIP/WHEP)"]
    request_max_body_size = MAX_SDP_BYTES

    @post("/whip/{share_camera_id:uuid}", opt={"exclude_from_csrf": True}, summary="Publish a camera (WHIP)")
    async def whip(self, request: Request, db: Db, share_camera_id: FromPath[uuid.UUID]) -> Response[bytes]:
        """Device credential as bearer. 403 when the device has no live share of the camera, 410 once it ended."""
        share_id, ends_at = await service.authorize_publish(db, bearer_credential(request), share_camera_id)
        ice_servers = settings_of(request).ice_servers
        await db.rollback()  # no connection held while the peer connection is set up
        try:
            publisher = await RELAY.publish(share_camera_id, share_id, ends_at, await _sdp_offer(request), ice_servers)
        except SdpError as error:
            raise _bad_sdp(error) from None
        await service.publishing(db, share_camera_id)
        return _answer(publisher.pc.localDescription.sdp, f"/live/v1/whip/{share_camera_id}/{publisher.resource_id}")

    @delete(
        "/whip/{share_camera_id:uuid}/{resource_id:str}",
        opt={"exclude_from_csrf": True},
        status_code=200,
        summary="Stop publishing",
    )
    async def whip_end(
        self, request: Request, db: Db, share_camera_id: FromPath[uuid.UUID], resource_id: FromPath[str]
    ) -> None:
        await device_for_credential(db, bearer_credential(request))
        publisher = RELAY.publisher_of(resource_id)
        if publisher is None or publisher.share_camera_id != share_camera_id:
            raise NotFound("No such publishing session (it may have ended already)")
        await RELAY.end_publish(resource_id)

    @post("/whep/{share_camera_id:uuid}", summary="Play a shared camera (WHEP)", dependencies={"user": provide_user})
    async def whep(
        self, request: Request, db: Db, user: SignedIn, share_camera_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        """Live-desk session (cookie + CSRF header). 403 for anyone but the live desk, 404 for another agency's
        share, 410 once the share ended, 409 while the camera's video has not arrived yet (try again)."""
        offer = await _sdp_offer(request)
        viewer_id, share_id, ends_at = await service.authorize_view(db, user, share_camera_id, client_ip(request))
        try:
            viewer = await RELAY.play(
                viewer_id, user.id, share_camera_id, share_id, ends_at, offer, settings_of(request).ice_servers
            )
        except SdpError as error:
            await service.viewer_closed(db, viewer_id)
            raise _bad_sdp(error) from None
        except NotSending as error:
            await service.viewer_closed(db, viewer_id)
            raise Conflict(str(error)) from None
        return _answer(viewer.pc.localDescription.sdp, f"/live/v1/whep/{share_camera_id}/{viewer.resource_id}")

    @delete(
        "/whep/{share_camera_id:uuid}/{resource_id:str}",
        status_code=200,
        summary="Stop playing",
        dependencies={"user": provide_user},
    )
    async def whep_end(self, user: SignedIn, share_camera_id: FromPath[uuid.UUID], resource_id: FromPath[str]) -> None:
        viewer = RELAY.viewers.get(resource_id)
        if viewer is None or viewer.share_camera_id != share_camera_id or viewer.user_id != user.id:
            raise NotFound("No such playing session (it may have ended already)")
        await RELAY.end_play(resource_id)
