"""Errors a service raises; the app turns them into problem details (API) or pages."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str] | None:
        """Response headers the error needs (Retry-After, WWW-Authenticate)."""
        return None


class InvalidInput(ServiceError):
    """One or more fields are wrong; `errors` maps each field to a message a person can act on."""

    title = "Some fields need a fix"

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


class NotFound(ServiceError):
    status_code = 404
    title = "Not found"


class Conflict(ServiceError):
    status_code = 409
    title = "Conflict"


class Gone(ServiceError):
    """It existed and has ended (a share that is over)."""

    status_code = 410
    title = "Gone"


class TooLarge(ServiceError):
    status_code = 413
    title = "Too large"


class Unprocessable(ServiceError):
    """The request was well-formed but its content is wrong (e.g. a file that does not match its checksum)."""

    status_code = 422
    title = "Content does not match"


class Locked(ServiceError):
    status_code = 423
    title = "Busy"


class NotAuthenticated(ServiceError):
    status_code = 401
    title = "Sign in required"


class Forbidden(ServiceError):
    status_code = 403
    title = "Not allowed"


class TooManyAttempts(ServiceError):
    status_code = 429
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = max(1, retry_after_seconds)

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_seconds)}
