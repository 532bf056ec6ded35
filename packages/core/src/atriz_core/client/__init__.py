"""What every app imports to trust core's tokens and to check user references.

The names are imported from here (`from atriz_core.client import TokenVerifier`) or from their
module; each is loaded only when first asked for, so that core's services, which import
`atriz_core.client.verifier` and `atriz_core.client.user_events`, do not load Litestar:

| module | what it holds |
|---|---|
| `verifier` | `TokenVerifier`, `JwksKeys`, `StaticKeys`, `Principal`, the token errors |
| `litestar` | `AtrizAuth`, `CurrentUser`, `PUBLIC`, `requires_role`, `requires_signed_in`, ... |
| `revocations` | `Revocations` |
| `user_events` | `UserEvent`, `EventCursor`, `read_user_events` |
| `users` | `hold_users`, `check_users`, `hold_for_events`, `UnknownUserError` |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atriz_core.lazy import lazy_exports

if TYPE_CHECKING:
    from atriz_core.client.litestar import (
        PUBLIC,
        AtrizAuth,
        BearerAuthentication,
        CurrentUser,
        authenticate,
        provide_current_user,
        requires_role,
        requires_signed_in,
    )
    from atriz_core.client.revocations import Revocations
    from atriz_core.client.user_events import EventCursor, UserEvent, read_user_events
    from atriz_core.client.users import (
        UnknownUserError,
        check_users,
        hold_for_events,
        hold_users,
    )
    from atriz_core.client.verifier import (
        InvalidTokenError,
        JwksKeys,
        Principal,
        RevokedTokenError,
        StaticKeys,
        TokenVerifier,
    )

__all__ = [
    "PUBLIC",
    "AtrizAuth",
    "BearerAuthentication",
    "CurrentUser",
    "EventCursor",
    "InvalidTokenError",
    "JwksKeys",
    "Principal",
    "Revocations",
    "RevokedTokenError",
    "StaticKeys",
    "TokenVerifier",
    "UnknownUserError",
    "UserEvent",
    "authenticate",
    "check_users",
    "hold_for_events",
    "hold_users",
    "provide_current_user",
    "read_user_events",
    "requires_role",
    "requires_signed_in",
]

_HOMES = {
    "PUBLIC": "litestar",
    "AtrizAuth": "litestar",
    "BearerAuthentication": "litestar",
    "CurrentUser": "litestar",
    "authenticate": "litestar",
    "provide_current_user": "litestar",
    "requires_role": "litestar",
    "requires_signed_in": "litestar",
    "Revocations": "revocations",
    "EventCursor": "user_events",
    "UserEvent": "user_events",
    "read_user_events": "user_events",
    "UnknownUserError": "users",
    "check_users": "users",
    "hold_for_events": "users",
    "hold_users": "users",
    "InvalidTokenError": "verifier",
    "JwksKeys": "verifier",
    "Principal": "verifier",
    "RevokedTokenError": "verifier",
    "StaticKeys": "verifier",
    "TokenVerifier": "verifier",
}


__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
