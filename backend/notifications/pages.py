"""Pages: notification settings (this device, my devices, kinds) and the in-app notification list."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from backend.errors import InvalidInput, NotFound
from backend.notifications import service
from backend.notifications.mail import mailbox_folder, saved_emails
from backend.web import Db, SignedIn, provide_admin, provide_user, settings_of

Form = URLEncodedBody[dict[str, Any]]
SETTINGS = "/settings/notifications"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _settings_page(devices: list, errors: dict[str, str] | None = None, notice: str = "") -> Template:
    return Template(
        "notifications/settings.html",
        context={
            "devices": devices,
            "kinds": [(kind, service.KIND_RULES[kind].label) for kind in service.SWITCHABLE_KINDS],
            "errors": errors or {},
            "notice": notice,
        },
        status_code=400 if errors else 200,
    )


NOTICES = {
    "renamed": "Device renamed.",
    "kinds": "Saved: this device gets the kinds ticked.",
    "test": "Test notification sent. It should arrive within a few seconds.",
    "removed": "Device removed: it gets no more notifications.",
}


class NotificationPages(Controller):
    include_in_schema = False
    dependencies = {"user": provide_user}

    @get(SETTINGS)
    async def settings(self, request: Request, db: Db, user: SignedIn, done: FromQuery[str] = "") -> Template:
        devices = await service.list_subscriptions(db, user.id, request.state.session_id)
        return _settings_page(devices, notice=NOTICES.get(done, ""))

    @post(SETTINGS + "/{subscription_id:uuid}/rename")
    async def rename(
        self, request: Request, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID], data: Form
    ) -> Template | Redirect:
        try:
            await service.update_subscription(db, user.id, subscription_id, name=str(data.get("name", "")))
        except InvalidInput as exc:
            devices = await service.list_subscriptions(db, user.id, request.state.session_id)
            return _settings_page(devices, {f"name-{subscription_id}": exc.errors["name"]})
        return Redirect(f"{SETTINGS}?done=renamed")

    @post(SETTINGS + "/{subscription_id:uuid}/kinds")
    async def kinds(self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID], data: Form) -> Redirect:
        wanted = {key.removeprefix("kind-") for key in data if key.startswith("kind-")}
        muted = [kind for kind in service.SWITCHABLE_KINDS if kind.value not in wanted]
        await service.update_subscription(db, user.id, subscription_id, muted_kinds=muted)
        return Redirect(f"{SETTINGS}?done=kinds")

    @post(SETTINGS + "/{subscription_id:uuid}/test")
    async def test(self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID]) -> Redirect:
        await service.send_test(db, user.id, subscription_id)
        return Redirect(f"{SETTINGS}?done=test")

    @post(SETTINGS + "/{subscription_id:uuid}/remove")
    async def remove(self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID]) -> Redirect:
        await service.delete_subscription(db, user.id, subscription_id)
        return Redirect(f"{SETTINGS}?done=removed")

    @get("/notifications/{notification_id:uuid}")
    async def open_one(self, db: Db, user: SignedIn, notification_id: FromPath[uuid.UUID]) -> Redirect:
        """From the list: the notification is read, and the person lands where it points."""
        return Redirect(await service.open_notification(db, user.id, notification_id))

    @get("/notifications")
    async def notifications(self, db: Db, user: SignedIn, before: FromQuery[str | None] = None) -> Template:
        listed = await service.list_notifications(db, user.id, before)
        older = f"/notifications?{urlencode({'before': listed.next_cursor})}" if listed.next_cursor else None
        return Template(
            "notifications/list.html", context={"notifications": listed, "older": older, "time_zone": user.time_zone}
        )

    @post("/notifications/read-all")
    async def read_all(self, db: Db, user: SignedIn) -> Redirect:
        await service.mark_read(db, user.id)
        return Redirect("/notifications")


class PushAdminPages(Controller):
    include_in_schema = False
    dependencies = {"admin": provide_admin}

    @get("/admin/push")
    async def push_report(self, db: Db, admin: SignedIn) -> Template:
        """Push delivery health: rows by status and the deliveries given up on (no one's notification text)."""
        counts, failed = await service.delivery_report(db)
        return Template(
            "notifications/admin.html", context={"counts": counts, "failed": failed, "time_zone": admin.time_zone}
        )


class DevMailboxPage(Controller):
    """Development without SMTP: the emails Porchlight would have sent (a reset link, an invitation), readable
    without signing in, since someone who forgot their password needs it. Only asked from this machine (a
    development server reachable from elsewhere must not hand out reset links); never in production, nor with SMTP."""

    include_in_schema = False

    @get("/dev/mailbox")
    async def mailbox(self, request: Request) -> Template:
        settings = settings_of(request)
        folder = mailbox_folder(settings)
        from_here = request.client is not None and request.client.host in LOOPBACK
        if folder is None or settings.environment == "production" or not from_here:
            raise NotFound("No such page")
        return Template("notifications/mailbox.html", context={"emails": saved_emails(folder), "folder": folder})
