"""What a service says when it will not or cannot do what it was asked.

A ServiceError carries a kind (what sort of refusal), a machine-readable code and a sentence for
people. Services know nothing of HTTP: the API turns the kind into a status code, the console into
a page or a form message.
"""

from enum import Enum
from typing import Any


class ErrorKind(Enum):
    INVALID = "invalid"
    """The request names something that does not fit (a package that does not exist, a value
    out of range): the caller must change it."""
    NOT_FOUND = "not_found"
    """The thing addressed does not exist."""
    CONFLICT = "conflict"
    """The request is valid but the thing's state does not allow it now."""
    FORBIDDEN = "forbidden"
    """The caller may not do this."""
    RATE_LIMITED = "rate_limited"
    """Too many requests; retry after `retry_after_seconds`."""
    UNAVAILABLE = "unavailable"
    """A service we depend on did not answer; nothing was done, retry later."""


class ServiceError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after_seconds = retry_after_seconds


def invalid(code: str, message: str, details: dict[str, Any] | None = None) -> ServiceError:
    return ServiceError(ErrorKind.INVALID, code, message, details)


def not_found(code: str, message: str, details: dict[str, Any] | None = None) -> ServiceError:
    return ServiceError(ErrorKind.NOT_FOUND, code, message, details)


def conflict(code: str, message: str, details: dict[str, Any] | None = None) -> ServiceError:
    return ServiceError(ErrorKind.CONFLICT, code, message, details)


def unavailable(code: str, message: str, details: dict[str, Any] | None = None) -> ServiceError:
    return ServiceError(ErrorKind.UNAVAILABLE, code, message, details)


def organization_not_found(organization_id: int, kind: ErrorKind) -> ServiceError:
    """An organization named in the path (NOT_FOUND) or in the body (INVALID) that is not there."""
    return ServiceError(
        kind, "organization_not_found", f"Organization {organization_id} does not exist."
    )


def organization_inactive(organization_id: int) -> ServiceError:
    return conflict(
        "organization_inactive",
        f"Organization {organization_id} is deactivated; an admin can reactivate it.",
        {"organization_id": organization_id},
    )
