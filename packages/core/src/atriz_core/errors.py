"""Domain errors, raised by services and mapped to RFC 9457 problem details once, centrally.

Core and every app raise these; `atriz_core.kit.problems` turns them into HTTP responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DomainError",
    "FieldProblem",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "ServiceBusyError",
    "TooManyRequestsError",
]


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of the input."""

    field: str
    reason: str


class DomainError(Exception):
    """Base class; `status` and `title` say how it reaches the client.

    `extensions` are RFC 9457 extension members added to the problem's body (e.g. the short
    lines of a sale: `{"short": [...]}`); they never replace a standard member.
    """

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        problems: list[FieldProblem] | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []
        self.extensions: dict[str, Any] = dict(extensions or {})


class InvalidInputError(DomainError):
    """Input that is well-formed but breaks a rule (a common password, an unknown user id)."""

    status = 422
    title = "Invalid input"

    @classmethod
    def for_field(cls, field: str, reason: str) -> InvalidInputError:
        return cls(f"{field} {reason}", [FieldProblem(field, reason)])


class AuthenticationError(DomainError):
    """Credentials or a token that do not identify an active user. `challenge`: the
    `WWW-Authenticate` value to answer with, where the request sent a bearer token (RFC 6750)."""

    status = 401
    title = "Not authenticated"

    def __init__(self, detail: str, *, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.challenge = challenge


class ForbiddenError(DomainError):
    status = 403
    title = "Forbidden"


class NotFoundError(DomainError):
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    title = "Conflict"


class PreconditionFailedError(DomainError):
    """A conditional write whose precondition (`If-Match`) no longer holds: the resource changed
    since the client read it. `extensions` tell the client what it is now (`current_version`)."""

    status = 412
    title = "Precondition failed"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, extensions=extensions)


class PreconditionRequiredError(DomainError):
    """A write that must be conditional (send `If-Match` with the version read) and was not."""

    status = 428
    title = "Precondition required"


class TooManyRequestsError(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = max(1, retry_after_seconds)


class ServiceBusyError(DomainError):
    """The service is overloaded right now; the client should retry after a while."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = max(1, retry_after_seconds)
