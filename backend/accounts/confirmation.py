"""Email addresses people prove they read: a link to their address at sign-up, and to the new one when they change
it (the account's email changes only when that link is opened; the old address is told)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import EmailConfirmation, User
from backend.accounts.passwords import verify_password
from backend.accounts.schemas import SignupIn
from backend.accounts.service import get_user_by_email, normalize_email, signup
from backend.db import utcnow
from backend.errors import InvalidInput
from backend.notifications.mail import send_email
from backend.settings import Settings
from backend.tokens import new_token, token_hash

CONFIRMATION_LIFETIME = dt.timedelta(days=7)
CONFIRM_PATH = "/account/email/confirm/"
EXPIRED = "This link has expired or was already used. Ask for a new one on your account page."
TAKEN = "Another account uses this address"


async def sign_up(db: AsyncSession, settings: Settings, data: SignupIn) -> User:
    """A new camera owner, and a link emailed to confirm their address."""
    user = await signup(db, data)
    await send_confirmation(db, settings, user)
    return user


async def send_confirmation(db: AsyncSession, settings: Settings, user: User, email: str | None = None) -> None:
    """Email a confirmation link to `email` (a new address) or to the account's own. A change also tells the
    current address, so a stolen session cannot move it quietly."""
    address = normalize_email(email or user.email)
    token = new_token()
    db.add(
        EmailConfirmation(
            user_id=user.id, email=address, token_hash=token_hash(token), expires_at=utcnow() + CONFIRMATION_LIFETIME
        )
    )
    link = settings.link(CONFIRM_PATH + token)
    if address == user.email:
        subject = "Confirm your email address for Porchlight"
        text = f"Hello {user.display_name},\n\nOpen this link to confirm this is your address:\n\n{link}\n"
    else:
        subject = "Confirm your new email address for Porchlight"
        text = (
            f"Hello {user.display_name},\n\nYou asked to sign in to Porchlight with this address from now on. "
            f"Open this link within 7 days to confirm it:\n\n{link}\n\nIf you did not ask, ignore this email.\n"
        )
        await send_email(
            db, to=user.email, user_id=user.id, subject="Your Porchlight email address is being changed",
            text=(
                f"Hello {user.display_name},\n\nSomeone signed in to your account asked to change its email address. "
                "It changes only if the link sent to the new address is opened. If this was not you, change your "
                "password now: that signs everyone else out.\n"
            ),
        )  # fmt: skip
    await send_email(db, to=address, user_id=user.id, subject=subject, text=text, ttl=CONFIRMATION_LIFETIME)
    await db.commit()


async def ask_to_change_email(db: AsyncSession, settings: Settings, user: User, new_email: str, password: str) -> str:
    """The person asks to sign in with `new_email`; returns it (normalised). Nothing changes until they open the
    link sent there."""
    new_email = normalize_email(new_email)
    errors = {}
    if not verify_password(user.password_hash, password):
        errors["current_password"] = "Wrong password; the address was not changed"
    if new_email == user.email:
        errors["new_email"] = "This is already your address"
    elif await get_user_by_email(db, new_email) is not None:
        errors["new_email"] = TAKEN
    if errors:
        raise InvalidInput(errors)
    await send_confirmation(db, settings, user, new_email)
    return new_email


async def pending_confirmation(db: AsyncSession, token: str) -> EmailConfirmation | None:
    return await db.scalar(
        select(EmailConfirmation).where(
            EmailConfirmation.token_hash == token_hash(token),
            EmailConfirmation.used_at.is_(None),
            EmailConfirmation.expires_at > utcnow(),
        )
    )


async def confirm(db: AsyncSession, token: str) -> str:
    """Open a confirmation link: the address is confirmed (and becomes the account's, for a change); the links it
    makes moot stop working. Returns the address."""
    confirmation = await pending_confirmation(db, token)
    if confirmation is None:
        raise InvalidInput({"token": EXPIRED})
    user = await db.get(User, confirmation.user_id)
    if user is None:
        raise InvalidInput({"token": EXPIRED})
    stale = [EmailConfirmation.user_id == user.id, EmailConfirmation.used_at.is_(None)]
    if confirmation.email != user.email:  # a change: every older link is moot
        if await get_user_by_email(db, confirmation.email) is not None:
            raise InvalidInput({"token": TAKEN})
        user.email = confirmation.email
    else:  # the address itself: a change asked for meanwhile still waits for its own link
        stale.append(EmailConfirmation.email == confirmation.email)
    user.email_confirmed_at = utcnow()
    await db.execute(update(EmailConfirmation).where(*stale).values(used_at=utcnow()))
    await db.commit()
    return user.email
