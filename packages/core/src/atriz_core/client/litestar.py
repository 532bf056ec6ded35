"""Litestar wiring for core's tokens: an app adds `AtrizAuth(verifier)` to its plugins and puts
`requires_signed_in` or `requires_role(...)` on its routes.

    app = Litestar(
        route_handlers=[VehicleController],
        plugins=[AtrizAuth(TokenVerifier(JwksKeys(url), issuer=..., audience="mextrack"))],
    )

    class VehicleController(Controller):
        guards = [requires_signed_in]

        @get("/")
        async def list_vehicles(self, current_user: Principal) -> ...: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins import InitPluginProtocol

from atriz_core.client.verifier import InvalidTokenError, Principal, TokenVerifier

__all__ = [
    "AtrizAuth",
    "CurrentUser",
    "authenticate",
    "provide_current_user",
    "requires_role",
    "requires_signed_in",
]

VERIFIER_STATE_KEY = "atriz_token_verifier"
_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

CurrentUser = NamedDependency[Principal]
"""Annotate a handler parameter `current_user: CurrentUser` to receive the signed-in user."""

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class AtrizAuth(InitPluginProtocol):
    """Registers the token verifier and the `current_user` dependency on an app."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state[VERIFIER_STATE_KEY] = self.verifier
        app_config.dependencies["current_user"] = Provide(provide_current_user)
        return app_config


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal of the request's bearer token; 401 if it has none or it is not valid."""
    known = connection.scope.get("user")
    if isinstance(known, Principal):
        return known
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            detail="a bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    verifier: TokenVerifier = connection.app.state[VERIFIER_STATE_KEY]
    try:
        principal = await verifier.verify(token.strip())
    except InvalidTokenError as exc:
        raise NotAuthorizedException(
            detail=f"invalid access token: {exc}", headers=_CHALLENGE
        ) from exc
    connection.scope["user"] = principal
    return principal


async def requires_signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: the request carries a valid access token."""
    await authenticate(connection)


def requires_role(*roles: str) -> Guard:
    """Guard: the request carries a valid access token whose user has one of `roles`."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if not principal.has_role(*roles):
            raise PermissionDeniedException(detail=f"requires role {' or '.join(roles)}")

    return guard


async def provide_current_user(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency `current_user`: the signed-in user (401 if the request has no valid token)."""
    return await authenticate(request)
