"""Every domain's models, imported once so metadata is complete (Alembic, tests)."""

from backend.accounts.models import Agency, LoginAttempt, User, UserRole, UserSession
from backend.db import Base
from backend.districts.models import District
from backend.registry.models import Camera, Site

__all__ = ["Agency", "Base", "Camera", "District", "LoginAttempt", "Site", "User", "UserRole", "UserSession"]
