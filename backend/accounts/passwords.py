"""Argon2id password hashing and the rules a new password must meet."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PASSWORD_MIN = 8
PASSWORD_MAX = 128

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified when an email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str = "", label: str = "Password") -> str | None:
    """Why a new password is refused, or None when it is acceptable; `label` is the field's, as its form says it."""
    if len(password) < PASSWORD_MIN:
        return f"{label} must be at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"{label} must be at most {PASSWORD_MAX} characters"
    lowered = password.lower()
    if lowered in _common_passwords():
        return f"{label} is one of the most common passwords; choose another"
    if email and lowered == email.lower():
        return f"{label} must not be your email address"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
