from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db import Base, enum_check, utcnow, uuid_pk


class Role(enum.StrEnum):
    OWNER = "owner"
    COORDINATOR = "coordinator"
    INVESTIGATOR = "investigator"
    LIVE_DESK = "live_desk"
    ADMIN = "admin"


# Roles that act for a police agency: a user holding one must belong to an agency.
AGENCY_ROLES = frozenset({Role.INVESTIGATOR, Role.LIVE_DESK})
# Roles an administrator gives and takes on the accounts page (owners sign themselves up).
MANAGED_ROLES = (Role.INVESTIGATOR, Role.LIVE_DESK, Role.COORDINATOR, Role.ADMIN)


class LoginOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_EMAIL = "unknown_email"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    WRONG_CODE = "wrong_code"  # the second factor (TOTP) of an agency account
    DISABLED = "disabled"  # right password, but an administrator disabled the account


class Agency(Base):
    """A police agency; investigators and live desk operators act for one."""

    __tablename__ = "agencies"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # None: the account cannot sign in with a password (e.g. generated demo owners).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64), default="America/Chicago")
    # When the person opened the link sent to `email` (None: not yet confirmed).
    email_confirmed_at: Mapped[dt.datetime | None]
    agency_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("districts.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    # Set by an administrator: the account cannot sign in until enabled again.
    disabled_at: Mapped[dt.datetime | None]
    # Set when an administrator created the account with a first password they know: the person must choose their
    # own before using Porchlight. None once they have.
    must_change_password_since: Mapped[dt.datetime | None]
    # Agency accounts sign in with a TOTP second factor: the base32 secret (set up by QR code at the first
    # sign-in), when setup was confirmed, and the last time step used (a code works once).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    roles: Mapped[list[UserRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="UserRole.role"
    )

    @property
    def role_names(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.roles)

    def has_role(self, role: Role) -> bool:
        return role in self.role_names

    @property
    def must_change_password(self) -> bool:
        return self.must_change_password_since is not None


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (enum_check("role", Role, "role_known"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class UserSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = uuid_pk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")


class LoginAttempt(Base):
    """Every sign-in attempt: the evidence behind rate limits and account locks."""

    __tablename__ = "login_attempts"
    __table_args__ = (enum_check("outcome", LoginOutcome, "outcome_known"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip: Mapped[str] = mapped_column(String(45), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class PasswordReset(Base):
    """A password-reset link sent by email: used once, within 30 minutes. Only the token's SHA-256 is stored."""

    __tablename__ = "password_resets"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class EmailConfirmation(Base):
    """A link sent to an address to prove the person reads it: their own at sign-up, or the new one they asked to
    change to (the account's email changes only when it is opened). Used once, within 7 days; only the token's
    SHA-256 is stored."""

    __tablename__ = "email_confirmations"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
