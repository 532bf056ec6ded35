"""Metrics, request ids and structured logs for a service, as one set of parts to register.

    parts = observability("pshop", settings.environment, metrics_token=settings.metrics_token)
    app = Litestar(
        route_handlers=[*handlers, *parts.route_handlers],
        plugins=[*parts.plugins, AtrizAuth(verifier)],
        middleware=[*parts.middleware, *other_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    parts.metrics.track_consumer("user_events", consumer)  # or app_metrics(app).track_consumer

`parts.middleware` must come first, before any middleware that can raise (`AtrizAuth` appends
its own after the app's list, which is what puts it inside): the metrics middleware outermost,
then `RequestContextMiddleware`, which renders errors raised inside it with the app's exception
handlers, so a 401 carries the request id, is counted as a 401 and is on the request's log line.

`/metrics` is public to `AtrizAuth` (a Prometheus server holds no user token) and absent from
the OpenAPI schema. With `metrics_token` set (`ATRIZ_METRICS_TOKEN`), a scrape must send
`Authorization: Bearer <token>`; without it, restrict the path where the service is exposed
(serve it on an internal network only, or have the proxy refuse `/metrics`).

Several workers (granian `--workers 2`) are several registries: each scrape sees one worker.
Scrape each worker, or run one worker per process behind the balancer, as the docs say for
Prometheus' Python client.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from litestar import Litestar, Request, Response, get
from litestar.config.app import AppConfig
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import InitPluginProtocol, PluginProtocol
from litestar.types import Middleware
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from atriz_core.client.litestar import PUBLIC
from atriz_core.kit.logs import logging_plugin
from atriz_core.kit.metrics import AppMetrics, RequestMetricsMiddleware
from atriz_core.kit.request_ids import RequestContextMiddleware
from atriz_database import Environment

__all__ = ["METRICS_STATE_KEY", "ObservabilityParts", "app_metrics", "observability"]

METRICS_STATE_KEY = "metrics"


@dataclass(frozen=True)
class ObservabilityParts:
    """What `observability` returns for the app to register (see the module docstring)."""

    metrics: AppMetrics
    """The app's registry: `track_consumer`, `register`."""
    plugins: list[PluginProtocol]
    """Structured logging, and the binding of the metrics to the app's state."""
    middleware: list[Middleware]
    """Request metrics, then request ids and the request log line: first in the app's list."""
    route_handlers: list[HTTPRouteHandler]
    """`GET /metrics`."""


class _BindMetrics(InitPluginProtocol):
    """Puts the metrics in `app.state`, and gives them the state to find the pools in."""

    def __init__(self, metrics: AppMetrics) -> None:
        self.metrics = metrics

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state[METRICS_STATE_KEY] = self.metrics
        self.metrics.state = app_config.state  # the same object becomes `app.state`
        return app_config


def metrics_handler(metrics: AppMetrics, token: str | None) -> HTTPRouteHandler:
    """`GET /metrics`: the app's registry; with `token`, only for `Authorization: Bearer token`."""
    expected = f"Bearer {token}".encode() if token else None

    @get("/metrics", opt=PUBLIC, include_in_schema=False, sync_to_thread=False)
    def scrape(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus metrics of this process."""
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                raise NotAuthorizedException(
                    detail="the metrics token is required", headers={"WWW-Authenticate": "Bearer"}
                )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return scrape


def observability(
    service: str,
    environment: Environment,
    *,
    metrics_token: str | None = None,
    collectors: Sequence[Collector] = (),
    log_stream: IO[str] | None = None,
    log_level: int = logging.INFO,
) -> ObservabilityParts:
    """Metrics (`/metrics`, labelled `app_name=service`), request ids and structured logs.

    `collectors` join the app's registry (core passes `CORE_METRICS`). Logs are JSON lines in
    production and readable lines otherwise, written to `log_stream` (standard error).
    """
    metrics = AppMetrics()
    for collector in collectors:
        metrics.register(collector)
    return ObservabilityParts(
        metrics=metrics,
        plugins=[
            logging_plugin(environment, stream=log_stream, level=log_level),
            _BindMetrics(metrics),
        ],
        middleware=[RequestMetricsMiddleware(service, metrics), RequestContextMiddleware()],
        route_handlers=[metrics_handler(metrics, metrics_token)],
    )


def app_metrics(app: Litestar) -> AppMetrics:
    """The metrics that `observability` registered on `app`."""
    metrics: AppMetrics = app.state[METRICS_STATE_KEY]
    return metrics
