"""Prometheus metrics, one registry per app: requests, pools, event consumers, sign-in.

- Requests, through `RequestMetricsMiddleware`: `atriz_requests_total` and
  `atriz_request_duration_seconds` by method, route template (never the raw path:
  `/vehicles/{vehicle_id}`, one series for every vehicle), status code and app;
  `atriz_requests_error_total` (5xx) likewise; `atriz_requests_in_progress` by method, route
  and app.
- Pools, read when scraped: `atriz_db_pool_size`, `_max_size`, `_idle`, `_in_use`, labelled by
  the pool's key in `app.state` (`db_pool`, `shared_pool`). Callers waiting for a connection are
  not counted: asyncpg keeps them in a private queue (see the report: `BoundedPool._acquire` is
  where a counter would go).
- Event consumers registered with `AppMetrics.track_consumer(name, consumer)`: any object with
  `applied` (events applied so far) and `lag_seconds` (age of the oldest unapplied event, or
  None), read when scraped: `atriz_events_applied_total`, `atriz_consumer_lag_seconds`.
- A service's own collectors, registered with `AppMetrics.register` (core's sign-in counters,
  `atriz_core.metrics.CORE_METRICS`, which its services increment without importing Litestar).
- The process's own (CPU, memory, open files, garbage collector).

Each app has its own `CollectorRegistry`, which `/metrics` serves: two apps in one process
(tests, or a second app mounted beside) count their requests apart. (Litestar's own Prometheus
middleware keeps one process-wide registry, and cost a request about 110 µs of CPU, a fifth of
an app's cheapest route, `scripts/bench/kit_overhead.py`: it builds a `Request` and resolves
five labelled series per request; this one resolves each series once and keeps it.)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, cast

import asyncpg
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "AppMetrics",
    "ConsumerStats",
    "RequestMetricsMiddleware",
]

PREFIX = "atriz"


class ConsumerStats(Protocol):
    """What a consumer of user events shows: read when `/metrics` is scraped."""

    @property
    def applied(self) -> int: ...

    @property
    def lag_seconds(self) -> float | None: ...


class AppMetrics:
    """One app's registry, and what is read from the app when it is scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.state: State | None = None
        self.consumers: dict[str, ConsumerStats] = {}
        self.registry.register(_ScrapeTimeCollector(self))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def track_consumer(self, name: str, consumer: ConsumerStats) -> None:
        """Export `consumer.applied` and `consumer.lag_seconds` under `consumer=name`; a second
        consumer under the same name replaces the first (a restarted consumer)."""
        self.consumers[name] = consumer

    def register(self, collector: Collector) -> None:
        """Add a collector (a service's own counters) to this app's registry."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class _ScrapeTimeCollector:
    """Pool and consumer gauges, computed when scraped: no task runs between scrapes."""

    def __init__(self, metrics: AppMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        size, max_size, idle, in_use, applied, lag = families
        for key, pool in self._pools():
            size.add_metric([key], pool.get_size())
            max_size.add_metric([key], pool.get_max_size())
            idle.add_metric([key], pool.get_idle_size())
            in_use.add_metric([key], pool.get_size() - pool.get_idle_size())
        for name, consumer in list(self.metrics.consumers.items()):
            applied.add_metric([name], consumer.applied)
            if consumer.lag_seconds is not None:
                lag.add_metric([name], consumer.lag_seconds)
        yield from families

    def _pools(self) -> list[tuple[str, asyncpg.Pool]]:
        state = self.metrics.state
        if state is None:
            return []
        return [
            (key, value)
            for key, value in state.dict().items()
            if isinstance(value, asyncpg.Pool) and not value.is_closing()
        ]

    @staticmethod
    def _families() -> list[Any]:
        pool, consumer = ["pool"], ["consumer"]
        return [
            GaugeMetricFamily(
                f"{PREFIX}_db_pool_size", "Connections open in the pool", labels=pool
            ),
            GaugeMetricFamily(
                f"{PREFIX}_db_pool_max_size", "Most connections the pool opens", labels=pool
            ),
            GaugeMetricFamily(f"{PREFIX}_db_pool_idle", "Open connections not in use", labels=pool),
            GaugeMetricFamily(
                f"{PREFIX}_db_pool_in_use", "Connections acquired by a caller", labels=pool
            ),
            CounterMetricFamily(
                f"{PREFIX}_events_applied", "User events applied by the consumer", labels=consumer
            ),
            GaugeMetricFamily(
                f"{PREFIX}_consumer_lag_seconds",
                "Age of the oldest event the consumer has not applied",
                labels=consumer,
            ),
        ]


class RequestMetricsMiddleware(ASGIMiddleware):
    """Counts and times every request of a route into the app's registry (see the module
    docstring). One instance serves every route; each labelled series is resolved once."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, service: str, metrics: AppMetrics) -> None:
        self.service = service
        labels = ["method", "path", "status_code", "app_name"]
        registry = metrics.registry
        self._total = Counter(
            f"{PREFIX}_requests_total", "Requests answered", labels, registry=registry
        )
        self._duration = Histogram(
            f"{PREFIX}_request_duration_seconds", "Request duration", labels, registry=registry
        )
        self._errors = Counter(
            f"{PREFIX}_requests_error_total", "Requests answered 5xx", labels, registry=registry
        )
        self._in_progress = Gauge(
            f"{PREFIX}_requests_in_progress",
            "Requests being served",
            ["method", "path", "app_name"],
            registry=registry,
        )
        # (method, route, status): its count, its duration, and its error count for a 5xx.
        self._answered: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._serving: dict[tuple[str, str], Any] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method, route = cast("HTTPScope", scope)["method"], scope.get("path_template", "")
        status = 500  # until a response starts: a failure that sent nothing

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        serving = self._serving.get((method, route))
        if serving is None:
            serving = self._serving[method, route] = self._in_progress.labels(
                method, route, self.service
            )
        started = time.perf_counter()
        serving.inc()
        try:
            await next_app(scope, receive, send_noting_status)
        finally:
            serving.dec()
            total, duration, errors = self._series(method, route, status)
            total.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, route, status)
        series = self._answered.get(key)
        if series is None:
            values = (method, route, str(status), self.service)
            errors = self._errors.labels(*values) if status >= 500 else None
            series = (self._total.labels(*values), self._duration.labels(*values), errors)
            self._answered[key] = series
        return series
