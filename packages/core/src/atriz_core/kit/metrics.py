"""Prometheus metrics, one registry per app: requests, pools, event consumers, sign-in.

- Requests, through Litestar's Prometheus middleware (`PrometheusConfig(group_path=True)`):
  `atriz_requests_total` and `atriz_request_duration_seconds` by method, route template (never
  the raw path: `/vehicles/{vehicle_id:uuid}`, one series for every vehicle), status code and
  app; `atriz_requests_in_progress`, `atriz_requests_error_total` (5xx).
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

Litestar's middleware keeps its metrics in a class attribute registered in prometheus_client's
process-wide registry, and its controller serves that registry: two apps in one process (tests,
or a second app mounted beside) would share their request counts. Here each app gets its
own `CollectorRegistry`, and `/metrics` serves that.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

import asyncpg
from litestar import Request
from litestar.datastructures import State
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "AppMetrics",
    "ConsumerStats",
    "prometheus_config",
]

PREFIX = "atriz"
_M = TypeVar("_M", bound=MetricWrapperBase)


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


@dataclass
class _AppPrometheusConfig(PrometheusConfig):
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    metrics: dict[str, MetricWrapperBase] = field(default_factory=dict)


class _AppPrometheusMiddleware(PrometheusMiddleware):
    """Litestar's middleware with its metrics in the app's registry (see the module docstring).
    Litestar builds one instance per route; the config, shared by all, holds the metrics."""

    def _metric(
        self, kind: type[_M], suffix: str, documentation: str, labels: dict[str, Any], **kw: Any
    ) -> _M:
        config = cast(_AppPrometheusConfig, self._config)
        name = f"{config.prefix}_{suffix}"
        if name not in config.metrics:
            config.metrics[name] = kind(
                name, documentation, labelnames=[*labels], registry=config.registry, **kw
            )
        return cast(_M, config.metrics[name])

    def _get_default_labels(self, request: Request[Any, Any, Any]) -> dict[str, str | int | float]:
        # As Litestar's with `group_path`, without building the request's URL first (a tenth
        # of this middleware's time) only to replace its path by the route's template.
        scope = request.scope
        return {
            "method": scope.get("method") or scope["type"],
            "path": scope["path_template"],
            "status_code": 200,
            "app_name": self._config.app_name,
        }

    def request_count(self, labels: dict[str, str | int | float]) -> Counter:
        return self._metric(Counter, "requests_total", "Requests answered", labels)

    def request_time(self, labels: dict[str, str | int | float]) -> Histogram:
        return self._metric(
            Histogram, "request_duration_seconds", "Request duration", labels, **self._kwargs
        )

    def requests_in_progress(self, labels: dict[str, str | int | float]) -> Gauge:
        return self._metric(Gauge, "requests_in_progress", "Requests being served", labels)

    def requests_error_count(self, labels: dict[str, str | int | float]) -> Counter:
        return self._metric(Counter, "requests_error_total", "Requests answered 5xx", labels)


def prometheus_config(service: str, metrics: AppMetrics) -> PrometheusConfig:
    """Litestar's Prometheus config for `service`, its metrics in `metrics.registry`."""
    return _AppPrometheusConfig(
        app_name=service,
        prefix=PREFIX,
        group_path=True,
        middleware_class=_AppPrometheusMiddleware,
        registry=metrics.registry,
    )
