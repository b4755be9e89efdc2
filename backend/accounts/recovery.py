"""Forgotten passwords: a single-use link by email, valid for 30 minutes, that never tells anyone whether an
address has an account."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import PasswordReset, User
from backend.accounts.passwords import hash_password, password_problem
from backend.accounts.schemas import ResetPasswordIn
from backend.accounts.service import end_all_sessions, get_user_by_email
from backend.db import utcnow
from backend.errors import InvalidInput
from backend.notifications.mail import send_email
from backend.settings import Settings
from backend.tokens import new_token, token_hash
from backend.validation import labels

RESET_LIFETIME = dt.timedelta(minutes=30)
# Reset emails to one account per hour: asking again is fine, flooding someone's inbox is not.
RESETS_PER_HOUR = 3
RESET_PATH = "/password/reset/"
EXPIRED = "This link has expired or was already used. Ask for a new one below."


async def send_reset_link(db: AsyncSession, settings: Settings, email: str) -> None:
    """Email a reset link if the address has an account that may sign in; otherwise do nothing. The caller says
    the same thing either way."""
    user = await get_user_by_email(db, email)
    if user is None or user.disabled_at is not None:
        return
    since = utcnow() - dt.timedelta(hours=1)
    recent = await db.scalar(
        select(func.count()).where(PasswordReset.user_id == user.id, PasswordReset.created_at > since)
    )
    if recent >= RESETS_PER_HOUR:
        return
    token = new_token()
    db.add(PasswordReset(user_id=user.id, token_hash=token_hash(token), expires_at=utcnow() + RESET_LIFETIME))
    text = (
        f"Hello {user.display_name},\n\n"
        "Someone, we hope you, asked to reset the password of your Porchlight account. Open this link within "
        f"30 minutes to choose a new one:\n\n{settings.link(RESET_PATH + token)}\n\n"
        "The link works once. If you did not ask, ignore this email: your password stays as it is.\n"
    )
    await send_email(
        db, to=user.email, user_id=user.id, subject="Reset your Porchlight password", text=text, ttl=RESET_LIFETIME
    )
    await db.commit()


async def user_for_reset(db: AsyncSession, token: str) -> User | None:
    """The account a reset link is for, while the link is unused and unexpired."""
    return await db.scalar(
        select(User)
        .join(PasswordReset, PasswordReset.user_id == User.id)
        .where(
            PasswordReset.token_hash == token_hash(token),
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > utcnow(),
            User.disabled_at.is_(None),
        )
    )


async def reset_password(db: AsyncSession, token: str, new_password: str) -> User:
    """Set the new password: the link and every other unused link of the account stop working, and every session
    of the account ends (whoever else was signed in is out). The person then signs in, with their second factor
    if they have one."""
    user = await user_for_reset(db, token)
    if user is None:
        raise InvalidInput({"new_password": EXPIRED})
    if problem := password_problem(new_password, user.email, labels(ResetPasswordIn)["new_password"]):
        raise InvalidInput({"new_password": problem})
    user.password_hash = hash_password(new_password)
    user.must_change_password_since = None  # a password they chose themselves, as on the first-password page
    await db.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow())
    )
    await end_all_sessions(db, user.id)
    await db.commit()
    return user
