"""Litestar wiring for core's tokens: an app adds `AtrizAuth(verifier)` to its plugins; from then
on every route needs a valid access token (401 otherwise) except those marked public, and
`requires_role(...)` guards what needs a role (403).

    app = Litestar(
        route_handlers=[VehicleController, about],
        plugins=[AtrizAuth(TokenVerifier(JwksKeys(url), issuer=..., audience="mextrack"))],
    )

    class VehicleController(Controller):
        @get("/")
        async def list_vehicles(self, current_user: CurrentUser) -> ...: ...

        @delete("/{vehicle_id:uuid}", guards=[requires_role("mextrack.manager")])
        async def remove_vehicle(self, ...) -> None: ...

    @get("/about", opt=PUBLIC)
    async def about() -> ...: ...

Sign-in is checked by a middleware rather than a guard: Litestar 2 copies the route handler
for every guard it calls, and with the rest of a guard's work that cost a one-SELECT route
about 15% of its throughput (`scripts/bench/token_verification.py`). An app whose routes are
mostly public (core itself) passes `require_sign_in=False` and guards the others with
`requires_signed_in`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.enums import ScopeType
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.plugins import InitPluginProtocol
from litestar.types import ASGIApp, Receive, Scope, Send

from atriz_core.client.verifier import (
    InvalidTokenError,
    KeysUnavailableError,
    Principal,
    TokenVerifier,
)

__all__ = [
    "PUBLIC",
    "AtrizAuth",
    "BearerAuthentication",
    "CurrentUser",
    "authenticate",
    "provide_current_user",
    "requires_role",
    "requires_signed_in",
]

VERIFIER_STATE_KEY = "atriz_token_verifier"
_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
PUBLIC_OPT_KEY = "exclude_from_auth"  # Litestar's own name for the same opt-out
PUBLIC = {PUBLIC_OPT_KEY: True}
"""`opt=PUBLIC` on a route handler, controller or router: no token needed there."""

CurrentUser = NamedDependency[Principal]
"""Annotate a handler parameter `current_user: CurrentUser` to receive the signed-in user.

On a hot route, read `request.user` instead (a `Request[Principal, Any, Any]`; the middleware or
a guard put the principal there): beside another dependency, such as a database connection,
Litestar 2 resolves the two in an anyio task group, which cost core's login about 0.4 ms of CPU.
"""

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class AtrizAuth(InitPluginProtocol):
    """Registers the token verifier and the `current_user` dependency on an app and, unless
    `require_sign_in` is false, requires a valid token on every route but the public ones:
    those marked `opt=PUBLIC`, and paths under `public_paths` (the OpenAPI docs by default)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        require_sign_in: bool = True,
        public_paths: Sequence[str] = ("/schema",),
    ) -> None:
        self.verifier = verifier
        self.require_sign_in = require_sign_in
        self.public_paths = tuple(public_paths)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state[VERIFIER_STATE_KEY] = self.verifier
        app_config.dependencies["current_user"] = Provide(provide_current_user)
        if self.require_sign_in:
            app_config.middleware.append(BearerAuthentication(self.verifier, self.public_paths))
        return app_config


class BearerAuthentication(ASGIMiddleware):
    """Puts the token's principal in `scope["user"]`, or answers 401 (through the app's
    exception handlers) when the token is missing or not valid."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)
    exclude_opt_key = PUBLIC_OPT_KEY

    def __init__(self, verifier: TokenVerifier, public_paths: tuple[str, ...]) -> None:
        self.verifier = verifier
        self.public_paths = public_paths
        self.should_bypass_for_scope = self._is_public_path

    def _is_public_path(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return any(path == public or path.startswith(f"{public}/") for public in self.public_paths)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not isinstance(scope.get("user"), Principal):
            authorization = next(
                (value for name, value in scope["headers"] if name == b"authorization"), b""
            )
            scope["user"] = await _verified(self.verifier, authorization.decode("latin-1"))
        await next_app(scope, receive, send)


async def _verified(verifier: TokenVerifier, authorization: str) -> Principal:
    """The principal of an `Authorization` header's bearer token; 401 for anything else, but
    503 with `Retry-After` while core's keys are unavailable: the token may well be good."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            detail="a bearer access token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        return await verifier.verify(token.strip())
    except InvalidTokenError as exc:
        raise NotAuthorizedException(
            detail=f"invalid access token: {exc}", headers=_CHALLENGE
        ) from exc
    except KeysUnavailableError as exc:
        raise ServiceUnavailableException(
            detail="cannot verify access tokens now: core's signing keys are unavailable",
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from exc


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], verifier: TokenVerifier | None = None
) -> Principal:
    """The principal of the request's bearer token; 401 if it has none or it is not valid.
    Checked by the app's verifier, or by `verifier` (a route that accepts other audiences)."""
    known = connection.scope.get("user")
    if isinstance(known, Principal):
        return known
    verifier = verifier or connection.app.state[VERIFIER_STATE_KEY]
    principal = await _verified(verifier, connection.headers.get("authorization", ""))
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
