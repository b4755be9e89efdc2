"""JSON API for accounts: sign-up, sign-in, sign-out, the signed-in user, export and deletion."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import RequestBody

from backend.accounts import confirmation, service
from backend.accounts.schemas import DeleteAccountIn, LoginIn, MeOut, PasswordChangeIn, SignupIn, TimeZoneIn
from backend.requests.evidence import ClipStore
from backend.web import (
    BEFORE_PASSWORD_CHOSEN,
    Db,
    SignedIn,
    begin_session,
    client_ip,
    end_session,
    provide_user,
    settings_of,
)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["accounts"]

    @post("/signup", status_code=201)
    async def signup(self, request: Request, db: Db, data: RequestBody[SignupIn]) -> Response[MeOut]:
        """Create a camera owner account and sign it in; a link to confirm the address is emailed."""
        user = await confirmation.sign_up(db, settings_of(request), data)
        return await begin_session(request, db, user, Response(await service.me(db, user), status_code=201))

    @post("/login", status_code=200)
    async def login(self, request: Request, db: Db, data: RequestBody[LoginIn]) -> Response[MeOut]:
        """Sign in. Agency accounts also send `totp_code`, the 6-digit code of their authenticator app (set up once on
        the web). Five wrong passwords, or five wrong codes, in 15 minutes lock the account for 15 minutes."""
        user = await service.authenticate_with_code(db, data.email, data.password, data.totp_code, client_ip(request))
        return await begin_session(request, db, user, Response(await service.me(db, user)))

    @post("/logout", status_code=204)
    async def logout(self, request: Request, db: Db) -> Response[None]:
        """End this session on the server."""
        return await end_session(request, db, Response(None, status_code=204))


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["accounts"]
    dependencies = {"user": Provide(provide_user)}

    @get("")
    async def me(self, db: Db, user: SignedIn) -> MeOut:
        return await service.me(db, user)

    @patch("")
    async def update(self, db: Db, user: SignedIn, data: RequestBody[TimeZoneIn]) -> MeOut:
        """Your time zone (an IANA name such as America/New_York): the one times are shown in."""
        await service.set_time_zone(db, user, data.time_zone)
        return await service.me(db, user)

    @get("/export")
    async def export(self, db: Db, user: SignedIn) -> Response[dict[str, Any]]:
        """Everything Porchlight holds about you, as a JSON download."""
        return Response(
            await service.export(db, user),
            headers={"Content-Disposition": 'attachment; filename="porchlight-my-data.json"'},
        )

    @post("/password", status_code=204, opt={BEFORE_PASSWORD_CHOSEN: True})
    async def change_password(
        self, request: Request, db: Db, user: SignedIn, data: RequestBody[PasswordChangeIn]
    ) -> Response[None]:
        """Change your password. Every session of yours ends; this one continues with a new session cookie. An
        account whose first password an administrator gave can call nothing else until it has done this."""
        await service.change_password(db, user, data.current_password, data.new_password)
        return await begin_session(request, db, user, Response(None, status_code=204))

    @delete("", status_code=204)
    async def delete_account(
        self, request: Request, db: Db, user: SignedIn, data: RequestBody[DeleteAccountIn]
    ) -> Response[None]:
        """Delete your account, sites and cameras. Needs your password. Clips already sent to an agency stay with
        their case, linked to nobody."""
        await service.delete_account(db, ClipStore(settings_of(request).evidence_path), user, data.password)
        return await end_session(request, db, Response(None, status_code=204))
