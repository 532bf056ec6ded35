"""One call builds a service: `create_service(...)`.

What every Atriz service gets from it: token checks (`AtrizAuth`; routes protected unless marked
`opt=PUBLIC`), problem details for every error, `/health` and `/ready`, OpenAPI at `/schema` with
the bearer scheme declared on each protected operation (so the docs' Authorize button works), a
request body limit, a pool on its own database and, for the apps, one on `atriz_shared` through
the reader role, and a graceful stop (the server drains requests, then the pools close, waiting
for connections in use).

    app = create_service(
        name="pshop",
        route_handlers=[ProductController, SaleController],
        verifier=verifier,
        database_url=settings.database_url,
        shared_database_url=settings.shared_database_url,
    )
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import PluginProtocol
from litestar.types import ControllerRouterHandler, Middleware
from prometheus_client.registry import Collector

from atriz_core.client.litestar import PUBLIC_OPT_KEY, AtrizAuth
from atriz_core.client.revocations import Revocations
from atriz_core.client.verifier import JwksKeys, TokenVerifier
from atriz_core.kit.browser_sign_in import (
    BrowserClient,
    BrowserSignInController,
    browser_sign_in,
)
from atriz_core.kit.database import (
    database_dependencies,
    pool_lifespan,
    provide_connection,
    transaction_retry,
)
from atriz_core.kit.event_stream import LISTEN_POOL_KEY
from atriz_core.kit.events import (
    CONSUMERS_STATE_KEY,
    UserEventHandler,
    revocation_feed,
    user_event_consumer,
)
from atriz_core.kit.health import health_handlers
from atriz_core.kit.observability import app_metrics, observability
from atriz_core.kit.openapi import ProblemResponses
from atriz_core.kit.pagination import CursorCodec
from atriz_core.kit.pagination_params import CURSORS_STATE_KEY
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.kit.replica import replica_lifespan, replica_routing
from atriz_core.kit.settings import AppSettings
from atriz_database import DatabaseSettings, Environment

__all__ = ["BEARER_SCHEME", "DEFAULT_MAX_BODY_BYTES", "app_service", "create_service"]

BEARER_SCHEME = "BearerToken"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Paths that are never behind a token: the docs, liveness and readiness probes.
PUBLIC_PATHS = ("/schema",)

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
logger = logging.getLogger(__name__)


def create_service(
    *,
    name: str,
    route_handlers: Sequence[ControllerRouterHandler],
    verifier: TokenVerifier,
    database_url: str,
    shared_database_url: str | None = None,
    shared_direct_url: str | None = None,
    replica_url: str | None = None,
    database: DatabaseSettings | None = None,
    cursor_secret: bytes | None = None,
    environment: Environment = Environment.DEVELOPMENT,
    metrics_token: str | None = None,
    collectors: Sequence[Collector] = (),
    title: str | None = None,
    description: str = "",
    version: str = "0.1.0",
    require_sign_in: bool = True,
    transaction_per_write: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    user_events: UserEventHandler | None = None,
    lifespan: Sequence[Lifespan] = (),
    on_shutdown: Sequence[Callable[[], Any]] = (),
    state: Mapping[str, Any] | None = None,
    request_class: type[Request[Any, Any, Any]] | None = None,
    plugins: Sequence[PluginProtocol] = (),
    middleware: Sequence[Middleware] = (),
) -> Litestar:
    """A Litestar app with everything a service of Atriz stands on; see the module docstring.

    `database_url` is the service's own database (pool `state.db_pool`, handlers take
    `conn: DbConnection`); `shared_database_url`, for apps, is `atriz_shared` through their
    reader login (pool `state.shared_pool`; `/ready` reports it as `shared`, and the service is
    `degraded`, not down, without it). Core passes `require_sign_in=False`: most of its routes
    are for signed-out callers, and the others carry guards. `cursor_secret` signs the
    pagination cursors of the service's lists (`cursors_of(request)`).

    With `transaction_per_write` (the default), `conn` is a plain connection for reads and one
    transaction around the handler for POST, PUT, PATCH and DELETE, retried whole (body
    replayed, at most three runs) when it dies of a serialization failure or a deadlock. Core
    turns it off: its services own their transactions, because a failed login must commit its
    bookkeeping while the request fails.

    With `shared_database_url`, every worker follows `user_events` to refuse the tokens of a
    user deactivated, deleted, signed out everywhere or given other roles, within seconds
    (`verifier.revocations`), and `user_events`, the app's policy, is applied to each event
    exactly once across the app's workers, in its own database's transaction with its cursor.
    Through PgBouncer (`database.pooled`) the worker's `LISTEN` for them needs a connection
    of its own, `shared_direct_url`; without one, the followers poll (every 2 s).

    With `replica_url`, the GETs of routes marked `REPLICA_READS` read from that streaming
    replica while it keeps up (`atriz_core.kit.replica`).
    """
    parts = observability(
        name, environment, metrics_token=metrics_token, collectors=list(collectors)
    )
    state = dict(state or {})
    if cursor_secret is not None:
        state[CURSORS_STATE_KEY] = CursorCodec(cursor_secret)
    database = database or DatabaseSettings.from_env()
    lifespans: list[Lifespan] = [pool_lifespan("db_pool", database_url, database)]
    secondary: dict[str, str] = {}
    if replica_url is not None:
        lifespans.append(replica_lifespan(replica_url, database))
        middleware = [*middleware, replica_routing(service=name, max_lag=database.replica_max_lag)]
    if shared_database_url is not None:
        lifespans.append(pool_lifespan("shared_pool", shared_database_url, database))
        secondary["shared"] = "shared_pool"
        lifespans += _listen_pool(name, database, shared_direct_url)
        if verifier.revocations is None:
            verifier.revocations = Revocations()
        lifespans.append(revocation_feed(verifier.revocations))
        if user_events is not None:
            lifespans += [user_event_consumer(user_events, name=name), _track_consumers]
    elif user_events is not None:
        raise ValueError("user_events need shared_database_url: they are read there")
    app = Litestar(
        route_handlers=[
            *route_handlers,
            *health_handlers("db_pool", secondary),
            *parts.route_handlers,
        ],
        dependencies=(
            database_dependencies(shared=shared_database_url is not None)
            if transaction_per_write
            else {"conn": Provide(provide_connection)}
        ),
        plugins=[
            AtrizAuth(verifier, require_sign_in=require_sign_in, public_paths=PUBLIC_PATHS),
            ProblemResponses(),
            *parts.plugins,
            *plugins,
        ],
        # Metrics and the request id outermost (AtrizAuth's middleware comes after these, so its
        # 401s carry the id and are counted); the retry innermost, so that each request is
        # logged and counted once.
        middleware=[
            *parts.middleware,
            *middleware,
            *([transaction_retry(max_body_bytes=max_body_bytes)] if transaction_per_write else []),
        ],
        lifespan=[*lifespans, *lifespan],
        on_shutdown=list(on_shutdown),
        state=State(state),
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=request_class,
        request_max_body_size=max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=title or f"Atriz {name}",
            version=version,
            description=description,
            path="/schema",
            use_handler_docstrings=True,
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    BEARER_SCHEME: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="An access token from core (`POST /auth/login`).",
                    )
                }
            ),
        ),
    )
    _declare_bearer_security(app, require_sign_in)
    return app


def app_service(
    settings: AppSettings,
    *,
    route_handlers: Sequence[ControllerRouterHandler],
    verifier: TokenVerifier | None = None,
    user_events: UserEventHandler | None = None,
    description: str = "",
    lifespan: Sequence[Lifespan] = (),
) -> Litestar:
    """An app's service, from its settings: its database and `atriz_shared` through its reader
    login, core's tokens checked with the keys at `settings.jwks_url` for the app's audience,
    and browser sign-in through core (`/auth/login`, `/auth/callback`, `/auth/logout`: see
    `atriz_core.kit.browser_sign_in`; the app's pages call `signed_in_user`).
    Tests pass a `verifier` that trusts their own signing key."""
    browser_client = BrowserClient(
        service=settings.service,
        client_id=settings.oidc_client_id or settings.service,
        client_secret=settings.oidc_client_secret,
        public_url=settings.public_url or f"http://127.0.0.1:{settings.port}",
        core_url=settings.core_url,
        issuer=settings.issuer,
    )
    return create_service(
        name=settings.service,
        description=description,
        route_handlers=[*route_handlers, BrowserSignInController],
        verifier=verifier
        or TokenVerifier(
            JwksKeys(settings.jwks_url), issuer=settings.issuer, audience=settings.service
        ),
        database_url=settings.database_url,
        shared_database_url=settings.shared_database_url,
        shared_direct_url=settings.shared_direct_url,
        replica_url=settings.replica_url,
        database=settings.database,
        cursor_secret=settings.cursor_secret,
        environment=settings.environment,
        metrics_token=settings.metrics_token,
        max_body_bytes=settings.max_body_bytes,
        user_events=user_events,
        lifespan=[browser_sign_in(browser_client), *lifespan],
    )


def _listen_pool(
    name: str, database: DatabaseSettings, shared_direct_url: str | None
) -> list[Lifespan]:
    """The lifespan of the direct pool the worker's `LISTEN` holds a connection of, when the
    shared pool goes through PgBouncer; none when it does not (it listens on the shared pool)."""
    if not database.pooled:
        return []
    if shared_direct_url is None:
        logger.warning(
            "%s: ATRIZ_DB_POOLER=transaction and no %s_SHARED_DIRECT_URL: user events are"
            " polled (every 2 s), not listened for (LISTEN cannot go through PgBouncer)",
            name,
            name.upper(),
        )
        return []
    direct = replace(database, pooler=None, pool_min_size=0, pool_max_size=1)
    return [pool_lifespan(LISTEN_POOL_KEY, shared_direct_url, direct, lazy=True)]


@asynccontextmanager
async def _track_consumers(app: Litestar) -> AsyncIterator[None]:
    """Export each event consumer's progress (events applied, lag) in `/metrics`."""
    for consumer_name, consumer in app.state.get(CONSUMERS_STATE_KEY, {}).items():
        app_metrics(app).track_consumer(consumer_name, consumer)
    yield


def _declare_bearer_security(app: Litestar, require_sign_in: bool) -> None:
    """Mark each protected operation as needing the bearer token in OpenAPI (generated later,
    on first request for it): every route but the public ones when sign-in is required;
    otherwise only those behind a sign-in or role guard."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and _is_protected(handler, require_sign_in):
                handler.security = [{BEARER_SCHEME: []}]


def _is_protected(handler: HTTPRouteHandler, require_sign_in: bool) -> bool:
    if any((layer.opt or {}).get(PUBLIC_OPT_KEY) for layer in handler.ownership_layers):
        return False
    return require_sign_in or bool(handler.resolve_guards())
