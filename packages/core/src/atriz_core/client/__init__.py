"""What every app imports to trust core's tokens and to check user references."""

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
from atriz_core.client.users import UnknownUserError, check_users
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
    "provide_current_user",
    "read_user_events",
    "requires_role",
    "requires_signed_in",
]
