"""JSON API: push subscriptions (what the PWA's settings screen and service worker call) and the in-app list."""

from __future__ import annotations

import uuid

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, RequestBody

from backend.notifications import service
from backend.notifications.schemas import (
    NotificationList,
    SubscriptionChangeIn,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    VapidKeyOut,
)
from backend.validation import set_fields
from backend.web import Db, SignedIn, provide_user


class PushController(Controller):
    path = "/api/v1/push"
    tags = ["notifications"]

    @get("/key")
    async def public_key(self, request: Request) -> VapidKeyOut:
        """The applicationServerKey for PushManager.subscribe()."""
        return VapidKeyOut(public_key=request.app.state.vapid_public_key)

    @post("/subscriptions", dependencies={"user": Provide(provide_user)})
    async def subscribe(
        self, request: Request, db: Db, user: SignedIn, data: RequestBody[SubscriptionIn]
    ) -> SubscriptionOut:
        """Save this browser's subscription (PushSubscription.toJSON()); subscribing again replaces it."""
        return await service.save_subscription(
            db, user.id, request.state.session_id, data,
            user_agent=request.headers.get("user-agent", ""), allowed_hosts=request.app.state.push_hosts,
        )  # fmt: skip

    @get("/subscriptions", dependencies={"user": Provide(provide_user)})
    async def list_subscriptions(self, request: Request, db: Db, user: SignedIn) -> list[SubscriptionOut]:
        return await service.list_subscriptions(db, user.id, request.state.session_id)

    @patch("/subscriptions/{subscription_id:uuid}", dependencies={"user": Provide(provide_user)})
    async def update_subscription(
        self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID], data: RequestBody[SubscriptionPatch]
    ) -> SubscriptionOut:
        """Rename a device or choose the kinds it receives (`muted_kinds` are switched off)."""
        return await service.update_subscription(db, user.id, subscription_id, **set_fields(data))

    @delete("/subscriptions/{subscription_id:uuid}", dependencies={"user": Provide(provide_user)})
    async def delete_subscription(self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID]) -> None:
        await service.delete_subscription(db, user.id, subscription_id)

    @post("/subscriptions/{subscription_id:uuid}/test", status_code=202, dependencies={"user": Provide(provide_user)})
    async def send_test(self, db: Db, user: SignedIn, subscription_id: FromPath[uuid.UUID]) -> None:
        """Queue a test notification to that device."""
        await service.send_test(db, user.id, subscription_id)

    @post("/subscription-change", status_code=204)
    async def subscription_change(self, request: Request, db: Db, data: RequestBody[SubscriptionChangeIn]) -> None:
        """Called by the service worker when the browser renewed its subscription."""
        await service.replace_subscription(
            db, data.old_endpoint, data.old_auth, data.subscription, allowed_hosts=request.app.state.push_hosts
        )


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]
    dependencies = {"user": Provide(provide_user)}

    @get("")
    async def list_notifications(
        self, db: Db, user: SignedIn, before: FromQuery[str | None] = None
    ) -> NotificationList:
        """The in-app list (newest first, 50 at a time: `next_cursor` names the next page, asked for with
        ?before=) and the unread count: the record, whether or not a push arrived."""
        return await service.list_notifications(db, user.id, before)

    @post("/{notification_id:uuid}/read", status_code=204)
    async def mark_read(self, db: Db, user: SignedIn, notification_id: FromPath[uuid.UUID]) -> None:
        await service.mark_read(db, user.id, notification_id)

    @post("/read-all", status_code=204)
    async def mark_all_read(self, db: Db, user: SignedIn) -> None:
        await service.mark_read(db, user.id)
