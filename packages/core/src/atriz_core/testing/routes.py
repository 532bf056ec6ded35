"""Every protected route of an app, found by walking its route handlers, and the bad-token check
run over all of them.

A route is protected unless its handler (or its controller or router) is marked public
(`opt=PUBLIC`, i.e. `exclude_from_auth`), or its path is one of the service's own public ones
(`/schema`, `/health`, `/ready`, `/metrics`, and anything under them). In an app whose
`AtrizAuth` does not require sign-in everywhere (core: `require_sign_in=False`), only the routes
with a guard are protected, as `create_service` documents them. Path parameters get a plausible
value of their declared type, so the request reaches the route and not a 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from atriz_core.client.litestar import PUBLIC_OPT_KEY, AtrizAuth
from atriz_core.kit.replica import REPLICA_OPT_KEY
from atriz_core.testing.tokens import TokenMinter, bad_token_failures, bad_tokens

__all__ = [
    "PUBLIC_PATHS",
    "Route",
    "assert_every_route_rejects_bad_tokens",
    "placeholder",
    "protected_routes",
    "replica_routes",
]

PUBLIC_PATHS = ("/schema", "/health", "/ready", "/metrics")
"""Paths every service serves to anyone (with everything under them)."""
_SKIPPED_METHODS = frozenset({"OPTIONS", "HEAD"})  # Litestar answers these for every route

_PLACEHOLDERS: dict[type, Any] = {
    uuid.UUID: uuid.UUID("5c0b4d4e-8f0e-4c1b-9a57-2f3a4c5d6e7f"),
    int: 1,
    float: 1.5,
    Decimal: Decimal("1.50"),
    str: "example",
    Path: "example",
    date: date(2026, 1, 1),
    datetime: datetime(2026, 1, 1, 12, 0, 0),
    time: time(12, 0, 0),
    timedelta: "PT1M",
}


def placeholder(kind: type) -> str:
    """A plausible path value for a path parameter of type `kind`."""
    value = _PLACEHOLDERS.get(kind, "example")
    return value.isoformat() if isinstance(value, date | time) else str(value)


@dataclass(frozen=True)
class Route:
    """One method of one route of the app."""

    method: str
    path: str
    """The route's path as Litestar formats it: `/users/{user_id}`."""
    url: str
    """The path with every parameter filled in: `/users/5c0b4d4e-...`."""
    handler: HTTPRouteHandler

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _is_public_path(path: str, public_paths: Sequence[str]) -> bool:
    return any(path == public or path.startswith(f"{public}/") for public in public_paths)


def protected_routes(
    app: Litestar,
    *,
    public_paths: Sequence[str] = PUBLIC_PATHS,
    path_values: Mapping[str, Any] | None = None,
) -> list[Route]:
    """Every method of every HTTP route of `app` that is not public, in path order.

    `path_values` names the value of a path parameter (by name) where a placeholder of its type
    would not reach the route."""
    auth = next((plugin for plugin in app.plugins if isinstance(plugin, AtrizAuth)), None)
    everywhere = auth is None or auth.require_sign_in
    if auth is not None:
        public_paths = (*public_paths, *auth.public_paths)
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or _is_public_path(route.path, public_paths):
            continue
        url = route.path_format
        for name, definition in route.path_parameters.items():
            value = (path_values or {}).get(name)
            url = url.replace(
                f"{{{name}}}", str(value) if value is not None else placeholder(definition.type)
            )
        for handler in route.route_handlers:
            if handler.opt.get(PUBLIC_OPT_KEY) or not (everywhere or handler.resolve_guards()):
                continue
            for method in sorted(handler.http_methods - _SKIPPED_METHODS):
                found.append(Route(method, route.path_format, url, handler))
    return sorted(found, key=lambda r: (r.path, r.method))


async def assert_every_route_rejects_bad_tokens(
    client: AsyncClient,
    app: Litestar,
    minter: TokenMinter,
    audience: str,
    *,
    public_paths: Sequence[str] = PUBLIC_PATHS,
    path_values: Mapping[str, Any] | None = None,
) -> list[Route]:
    """`assert_rejects_bad_tokens` over every protected route of `app`: no token and each bad
    token get 401 with a problem details body, on every route. Every failure of every route is
    listed in one assertion; returns the routes checked."""
    routes = protected_routes(app, public_paths=public_paths, path_values=path_values)
    assert routes, "the app has no protected route: is every route marked public?"
    attempts = {"no token": None, **bad_tokens(minter, audience)}
    report: list[str] = []
    for route in routes:
        failures = await bad_token_failures(client, route.method, route.url, attempts)
        report.extend(f"{route}: {failure}" for failure in failures)
    assert not report, (
        f"{len(report)} bad tokens not refused with 401 on {len(routes)} protected routes:\n"
        + "\n".join(report)
    )
    return routes


def replica_routes(app: Litestar) -> set[str]:
    """`METHOD /path` of every route whose reads a replica may serve (`opt=REPLICA_READS`)."""
    return {
        f"{method} {route.path_format}"
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if handler.opt.get(REPLICA_OPT_KEY)
        for method in handler.http_methods - _SKIPPED_METHODS
    }
