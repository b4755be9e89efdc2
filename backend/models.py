"""Every domain's models, imported once so metadata is complete (Alembic, tests)."""

from backend.accounts.models import (
    Agency,
    EmailConfirmation,
    LoginAttempt,
    PasswordReset,
    User,
    UserRole,
    UserSession,
)
from backend.db import Base
from backend.devices.models import DeviceCamera, DeviceEvent, DeviceOutage, EdgeDevice, PairingCode, PairingFailure
from backend.districts.models import District
from backend.notifications.models import Notification
from backend.registry.models import Camera, Site
from backend.requests.models import AccessReceipt, CustodyEvent, EvidenceClip, FootageRequest, RequestedCamera
from backend.sharing.models import ShareCamera, ShareSession, ShareViewer
from push.models import Delivery, PushSubscription

__all__ = [
    "AccessReceipt",
    "Agency",
    "Base",
    "Camera",
    "CustodyEvent",
    "DeviceCamera",
    "DeviceEvent",
    "DeviceOutage",
    "EmailConfirmation",
    "EdgeDevice",
    "FootageRequest",
    "District",
    "EvidenceClip",
    "LoginAttempt",
    "Notification",
    "PairingCode",
    "PairingFailure",
    "PasswordReset",
    "Delivery",
    "PushSubscription",
    "RequestedCamera",
    "ShareCamera",
    "ShareSession",
    "ShareViewer",
    "Site",
    "User",
    "UserRole",
    "UserSession",
]
