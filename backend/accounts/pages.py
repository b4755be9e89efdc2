"""Account pages: home, sign-up, sign-in, sign-out, account settings, export, deletion."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
import segno
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from backend.accounts import confirmation, recovery, service
from backend.accounts.models import User
from backend.accounts.schemas import (
    AgencyAccountIn,
    CodeIn,
    DeleteAccountIn,
    EmailChangeIn,
    FirstPasswordIn,
    ForgotPasswordIn,
    LoginIn,
    PasswordChangeIn,
    ResetPasswordIn,
    SignupIn,
    TimeZoneIn,
)
from backend.demo import DEMO_LOGINS
from backend.districts import invites
from backend.districts import membership as district_members
from backend.errors import Forbidden, InvalidInput, TooManyAttempts
from backend.navigation import home_for
from backend.requests.evidence import ClipStore, kept_after_deletion
from backend.validation import parse_form
from backend.web import (
    BEFORE_PASSWORD_CHOSEN,
    CHOOSE_PASSWORD_PATH,
    Db,
    SignedIn,
    Viewer,
    begin_session,
    client_ip,
    end_session,
    provide_admin,
    provide_user,
    provide_viewer,
    settings_of,
)

Form = URLEncodedBody[dict[str, Any]]
# Between a right password and the code, the browser holds a signed ticket (no session yet).
TICKET_COOKIE = "porchlight_2fa"


def safe_next(target: str | None, user: SignedIn) -> str:
    """Only same-site paths: an attacker's link must not bounce a fresh sign-in elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return home_for(user)


def _form_values(form: dict[str, Any], *secret_fields: str) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k not in secret_fields and k != "_csrf_token"}


class AccountPages(Controller):
    include_in_schema = False
    dependencies = {"viewer": provide_viewer}

    @get("/")
    async def home(self, viewer: Viewer) -> Template | Redirect:
        if viewer is not None:
            return Redirect(home_for(viewer))
        return Template("home.html", context={"demo_logins": DEMO_LOGINS})

    @get("/signup")
    async def signup_form(
        self, request: Request, db: Db, viewer: Viewer, invite: FromQuery[str] = ""
    ) -> Template | Redirect:
        """`invite`: someone coming from an invite link; the form is filled from the district's roster and the
        invite goes on with the form (a token checked again when used, never a free URL)."""
        if viewer is not None:
            token = invites.checked_token(invite)
            return Redirect(invites.JOIN_PATH + token if token else home_for(viewer))
        invited = await invites.invited_person(db, settings_of(request), invite)
        values = {**invited.values, "invite": invited.token} if invited else {}
        return Template("accounts/signup.html", context={"values": values, "errors": {}, "invited": invited})

    @post("/signup")
    async def signup(self, request: Request, db: Db, data: Form) -> Response[Any]:
        settings = settings_of(request)
        invite = invites.checked_token(data.get("invite"))
        try:
            user = await confirmation.sign_up(db, settings, parse_form(SignupIn, data))
        except InvalidInput as exc:
            values = {**_form_values(data, "password"), "invite": invite}
            invited = await invites.invited_person(db, settings, invite)
            context = {"values": values, "errors": exc.errors, "invited": invited}
            return Template("accounts/signup.html", context=context, status_code=400)
        # From an invite: it is accepted now and the next step is the business's site (or the join form).
        target = await invites.after_sign_in(db, settings, user, invite) if invite else ""
        return await begin_session(request, db, user, Redirect(target or "/sites?welcome=1"))

    @get("/login")
    async def login_form(
        self, request: Request, db: Db, viewer: Viewer,
        next_: Annotated[str | None, QueryParameter(name="next")] = None, invite: FromQuery[str] = "",
    ) -> Template:  # fmt: skip
        """`invite`: someone with an account coming from an invite link; it is accepted once they are signed in."""
        invited = await invites.invited_person(db, settings_of(request), invite)
        values = {"next": next_ or "", "invite": invited.token if invited else ""}
        return Template(
            "accounts/login.html", context={"values": values, "errors": {}, "locked": None, "invited": invited}
        )

    @post("/login")
    async def login(self, request: Request, db: Db, data: Form) -> Response[Any]:
        values = {**_form_values(data, "password"), "invite": invites.checked_token(data.get("invite"))}
        try:
            credentials = parse_form(LoginIn, data)
            user = await service.authenticate(db, credentials.email, credentials.password, client_ip(request))
        except InvalidInput as exc:
            return Template(
                "accounts/login.html", context={"values": values, "errors": exc.errors, "locked": None}, status_code=400
            )
        except TooManyAttempts as exc:
            return Template(
                "accounts/login.html",
                context={"values": values, "errors": {}, "locked": exc.detail},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after_seconds)},
            )
        except Forbidden as exc:  # a disabled account: said on the sign-in page, where the person is
            return Template(
                "accounts/login.html",
                context={"values": values, "errors": {}, "locked": None, "refused": exc.detail},
                status_code=403,
            )
        if service.needs_second_factor(user):
            step = "code" if user.totp_confirmed_at else "setup"
            response = Redirect(f"/login/{step}?{urlencode({'next': data.get('next') or ''})}")
            settings = settings_of(request)
            response.set_cookie(
                TICKET_COOKIE, service.second_factor_ticket(settings.secret_key, user),
                max_age=int(service.SECOND_FACTOR_WINDOW.total_seconds()), httponly=True,
                secure=settings.secure_cookies, samesite="lax", path="/login",
            )  # fmt: skip
            return response
        invite = invites.checked_token(data.get("invite"))
        target = await invites.after_sign_in(db, settings_of(request), user, invite) if invite else ""
        return await begin_session(request, db, user, Redirect(target or safe_next(data.get("next"), user)))

    async def _ticket_user(self, request: Request, db: Db) -> User | None:
        return await service.user_for_ticket(db, settings_of(request).secret_key, request.cookies.get(TICKET_COOKIE))

    @staticmethod
    async def _code_page(
        db: Db, user: User, next_: str, errors: dict[str, str] | None = None, locked: str | None = None,
        status_code: int = 200, headers: dict[str, str] | None = None,
    ) -> Template:  # fmt: skip
        """The code form; while the second factor is not set up, with the QR code and the secret to add."""
        context: dict[str, Any] = {"next": next_, "errors": errors or {}, "locked": locked, "setup": None}
        if user.totp_confirmed_at is None:
            secret, uri = await service.totp_setup(db, user)
            grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
            context["setup"] = {"secret": grouped, "qr": qr}
        return Template("accounts/code.html", context=context, status_code=status_code, headers=headers)

    @get(["/login/code", "/login/setup"])
    async def code_form(
        self, request: Request, db: Db, next_: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Template | Redirect:
        user = await self._ticket_user(request, db)
        if user is None:
            return Redirect("/login?expired=1")
        return await self._code_page(db, user, next_ or "")

    @post("/login/code")
    async def code(self, request: Request, db: Db, data: Form) -> Response[Any]:
        user = await self._ticket_user(request, db)
        if user is None:
            return Redirect("/login?expired=1")
        next_ = str(data.get("next") or "")
        try:
            await service.verify_second_factor(db, user, parse_form(CodeIn, data).code, client_ip(request))
        except InvalidInput as exc:
            return await self._code_page(db, user, next_, exc.errors, status_code=400)
        except TooManyAttempts as exc:
            return await self._code_page(
                db, user, next_, locked=exc.detail, status_code=429,
                headers={"Retry-After": str(exc.retry_after_seconds)},
            )  # fmt: skip
        response = await begin_session(request, db, user, Redirect(safe_next(next_, user)))
        response.delete_cookie(TICKET_COOKIE, path="/login")
        return response

    @get("/password/forgot")
    async def forgot_password_form(self) -> Template:
        return Template("accounts/forgot.html", context={"values": {}, "errors": {}, "sent": False})

    @post("/password/forgot")
    async def forgot_password(self, request: Request, db: Db, data: Form) -> Template:
        """The same answer whether or not the address has an account."""
        try:
            address = parse_form(ForgotPasswordIn, data).email
        except InvalidInput as exc:
            context = {"values": _form_values(data), "errors": exc.errors, "sent": False}
            return Template("accounts/forgot.html", context=context, status_code=400)
        await recovery.send_reset_link(db, settings_of(request), address)
        return Template("accounts/forgot.html", context={"values": {"email": address}, "errors": {}, "sent": True})

    @get(recovery.RESET_PATH + "{token:str}")
    async def reset_password_form(self, db: Db, token: FromPath[str]) -> Template:
        user = await recovery.user_for_reset(db, token)
        context = {"token": token, "errors": {}, "expired": user is None, "email": user.email if user else ""}
        return Template("accounts/reset.html", context=context, status_code=200 if user else 410)

    @post(recovery.RESET_PATH + "{token:str}")
    async def reset_password(self, db: Db, token: FromPath[str], data: Form) -> Template | Redirect:
        try:
            await recovery.reset_password(db, token, parse_form(ResetPasswordIn, data).new_password)
        except InvalidInput as exc:
            expired = exc.errors.get("new_password") == recovery.EXPIRED
            context = {"token": token, "errors": {} if expired else exc.errors, "expired": expired, "email": ""}
            return Template("accounts/reset.html", context=context, status_code=410 if expired else 400)
        return Redirect("/login?password_reset=1")

    @get(CHOOSE_PASSWORD_PATH, dependencies={"user": provide_user}, opt={BEFORE_PASSWORD_CHOSEN: True})
    async def choose_password_form(self, user: SignedIn) -> Template | Redirect:
        """Where an account whose first password an administrator gave lands, until it has chosen its own."""
        if not user.must_change_password:
            return Redirect(home_for(user))
        return Template("accounts/choose_password.html", context={"email": user.email, "errors": {}})

    @post(CHOOSE_PASSWORD_PATH, dependencies={"user": provide_user}, opt={BEFORE_PASSWORD_CHOSEN: True})
    async def choose_password(self, request: Request, db: Db, user: SignedIn, data: Form) -> Response[Any]:
        try:
            await service.choose_first_password(db, user, parse_form(FirstPasswordIn, data).new_password)
        except InvalidInput as exc:
            context = {"email": user.email, "errors": exc.errors}
            return Template("accounts/choose_password.html", context=context, status_code=400)
        return await begin_session(request, db, user, Redirect(f"{home_for(user)}?password_chosen=1"))

    @post("/logout")
    async def logout(self, request: Request, db: Db) -> Response[Any]:
        return await end_session(request, db, Redirect("/login?signed_out=1"))

    @get("/account", dependencies={"user": provide_user})
    async def account(self, db: Db, user: SignedIn) -> Template:
        return await self._account(db, user)

    async def _account(
        self, db: Db, user: User, errors: dict[str, str] | None = None, password_errors: dict[str, str] | None = None,
        zone_errors: dict[str, str] | None = None, zone_value: str = "", email_errors: dict[str, str] | None = None,
        new_email: str = "",
    ) -> Template:  # fmt: skip
        """The account page; `errors` are the deletion form's, the others their own forms'."""
        me, clips_kept = await service.me(db, user), await kept_after_deletion(db, user.id)
        districts = await district_members.my_districts(db, user)  # which district sees what about them
        context = {
            "me": me, "errors": errors or {}, "password_errors": password_errors or {}, "clips_kept": clips_kept,
            "zone_errors": zone_errors or {}, "zone_values": {"time_zone": zone_value or me.time_zone},
            "time_zones": service.time_zones(), "email_errors": email_errors or {},
            "email_values": {"new_email": new_email}, "districts": districts,
        }  # fmt: skip
        failed = errors or password_errors or zone_errors or email_errors
        return Template("accounts/account.html", context=context, status_code=400 if failed else 200)

    @post("/account/email", dependencies={"user": provide_user})
    async def change_email(self, request: Request, db: Db, user: SignedIn, data: Form) -> Template | Redirect:
        """The address changes once the link sent to it is opened."""
        try:
            change = parse_form(EmailChangeIn, data)
            await confirmation.ask_to_change_email(
                db, settings_of(request), user, change.new_email, change.current_password
            )
        except InvalidInput as exc:
            return await self._account(db, user, email_errors=exc.errors, new_email=str(data.get("new_email", "")))
        return Redirect("/account?email_link_sent=1")

    @post("/account/email/confirm-again", dependencies={"user": provide_user})
    async def confirm_again(self, request: Request, db: Db, user: SignedIn) -> Redirect:
        await confirmation.send_confirmation(db, settings_of(request), user)
        return Redirect("/account?email_link_sent=1")

    @get(confirmation.CONFIRM_PATH + "{token:str}")
    async def confirm_email_form(self, db: Db, token: FromPath[str]) -> Template:
        """A page with a button, not a change on GET: mail scanners open links too."""
        pending = await confirmation.pending_confirmation(db, token)
        context = {
            "token": token,
            "email": pending.email if pending else "",
            "error": "" if pending else confirmation.EXPIRED,
        }
        return Template("accounts/confirm_email.html", context=context, status_code=200 if pending else 410)

    @post(confirmation.CONFIRM_PATH + "{token:str}")
    async def confirm_email(self, db: Db, token: FromPath[str]) -> Template:
        try:
            address = await confirmation.confirm(db, token)
        except InvalidInput as exc:
            context = {"token": token, "email": "", "error": exc.errors["token"]}
            return Template("accounts/confirm_email.html", context=context, status_code=410)
        return Template(
            "accounts/confirm_email.html", context={"token": "", "email": address, "error": "", "done": True}
        )

    @post("/account/time-zone", dependencies={"user": provide_user})
    async def time_zone(self, db: Db, user: SignedIn, data: Form) -> Template | Redirect:
        try:
            await service.set_time_zone(db, user, parse_form(TimeZoneIn, data).time_zone)
        except InvalidInput as exc:
            return await self._account(db, user, zone_errors=exc.errors, zone_value=str(data.get("time_zone", "")))
        return Redirect("/account?time_zone_saved=1")

    @post("/account/password", dependencies={"user": provide_user})
    async def change_password(self, request: Request, db: Db, user: SignedIn, data: Form) -> Template | Response[Any]:
        """A new password ends every session of this person's; this browser gets a new one."""
        try:
            change = parse_form(PasswordChangeIn, data)
            await service.change_password(db, user, change.current_password, change.new_password)
        except InvalidInput as exc:
            return await self._account(db, user, password_errors=exc.errors)
        return await begin_session(request, db, user, Redirect("/account?password_changed=1"))

    @get("/account/export", dependencies={"user": provide_user})
    async def export(self, db: Db, user: SignedIn) -> Response[bytes]:
        body = msgspec.json.format(msgspec.json.encode(await service.export(db, user)), indent=2)
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="porchlight-my-data.json"'},
        )

    @post("/account/delete", dependencies={"user": provide_user})
    async def delete_account(self, request: Request, db: Db, user: SignedIn, data: Form) -> Response[Any]:
        try:
            store = ClipStore(settings_of(request).evidence_path)
            await service.delete_account(db, store, user, parse_form(DeleteAccountIn, data).password)
        except InvalidInput as exc:
            return await self._account(db, user, exc.errors)
        return await end_session(request, db, Redirect("/account/deleted"))

    @get("/account/deleted")
    async def deleted(self) -> Template:
        return Template("accounts/deleted.html")

    @get("/console", dependencies={"user": provide_user})
    async def console(self, user: SignedIn) -> Redirect:
        """The address agency accounts used to start at: each person's own home now."""
        return Redirect(home_for(user))


class AdminUserPages(Controller):
    """Administrators create agency accounts, reset a lost second factor (after a confirmation), disable and enable
    accounts and change their roles."""

    include_in_schema = False
    dependencies = {"admin": provide_admin}

    @staticmethod
    async def _page(
        db: Db, admin: SignedIn, values: dict[str, Any], errors: dict[str, str] | None = None,
        refused: tuple[uuid.UUID, str] | None = None, status_code: int = 200,
    ) -> Template:  # fmt: skip
        """The list and the new-account form; `errors` are the form's, `refused` an action refused on one row."""
        context = {
            "accounts": await service.agency_accounts(db), "agencies": await service.agency_names(db),
            "values": values, "errors": errors or {}, "time_zone": admin.time_zone, "admin_id": admin.id,
            "refused": {"id": refused[0], "message": refused[1]} if refused else None,
        }  # fmt: skip
        return Template("accounts/admin_users.html", context=context, status_code=400 if errors else status_code)

    @get("/admin/users")
    async def users(self, db: Db, admin: SignedIn) -> Template:
        return await self._page(db, admin, {"role": "investigator"})

    @post("/admin/users")
    async def create(self, db: Db, admin: SignedIn, data: Form) -> Template | Redirect:
        try:
            account = parse_form(AgencyAccountIn, data)
        except InvalidInput as exc:  # said together with what is wrong with the agency chosen, in the form's order
            agency = await service.agency_choice_errors(
                db, str(data.get("agency", "")), str(data.get("new_agency", ""))
            )
            errors = service.in_form_order({**agency, **exc.errors})
            return await self._page(db, admin, _form_values(data, "password"), errors)
        try:
            await service.create_agency_account(db, admin, account)
        except InvalidInput as exc:
            return await self._page(db, admin, _form_values(data, "password"), exc.errors)
        return Redirect(f"/admin/users?{urlencode({'created': account.email})}")

    @get("/admin/users/{user_id:uuid}/reset-second-factor")
    async def confirm_reset_second_factor(self, db: Db, admin: SignedIn, user_id: FromPath[uuid.UUID]) -> Template:
        """A page that asks first: resetting signs the person out and they must scan a new QR code."""
        user = await service.agency_account(db, user_id)
        return Template("accounts/admin_reset_second_factor.html", context={"account": user})

    @post("/admin/users/{user_id:uuid}/reset-second-factor")
    async def reset_second_factor(self, db: Db, admin: SignedIn, user_id: FromPath[uuid.UUID]) -> Redirect:
        user = await service.reset_second_factor(db, user_id, admin_id=admin.id)
        return Redirect(f"/admin/users?{urlencode({'reset': user.email})}")

    @post("/admin/users/{user_id:uuid}/disable")
    async def disable(self, db: Db, admin: SignedIn, user_id: FromPath[uuid.UUID]) -> Template | Redirect:
        try:
            user = await service.set_disabled(db, user_id, True, admin_id=admin.id)
        except Forbidden as exc:
            return await self._page(db, admin, {"role": "investigator"}, refused=(user_id, exc.detail), status_code=403)
        return Redirect(f"/admin/users?{urlencode({'disabled': user.email})}")

    @post("/admin/users/{user_id:uuid}/enable")
    async def enable(self, db: Db, admin: SignedIn, user_id: FromPath[uuid.UUID]) -> Redirect:
        user = await service.set_disabled(db, user_id, False, admin_id=admin.id)
        return Redirect(f"/admin/users?{urlencode({'enabled': user.email})}")

    @post("/admin/users/{user_id:uuid}/roles")
    async def roles(self, db: Db, admin: SignedIn, user_id: FromPath[uuid.UUID], data: Form) -> Template | Redirect:
        """The ticked boxes are the roles the account holds from now on."""
        ticked = data.get("roles", [])
        try:
            user = await service.set_roles(db, admin, user_id, [ticked] if isinstance(ticked, str) else ticked)
        except InvalidInput as exc:
            return await self._page(db, admin, {"role": "investigator"}, refused=(user_id, exc.errors["roles"]),
                                    status_code=400)  # fmt: skip
        return Redirect(f"/admin/users?{urlencode({'roles_changed': user.email})}")
