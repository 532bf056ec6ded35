"""`/health` (the process is alive) and `/ready` (its databases answer)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg
import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

from atriz_core.client.litestar import PUBLIC
from atriz_core.kit.problems import RETRY_AFTER_SECONDS
from atriz_core.kit.replica import REPLICA_STATE_KEY, ReplicaMonitor
from atriz_database.pool import BoundedPool

__all__ = ["Check", "Health", "Readiness", "health_handlers"]

CHECK_TIMEOUT_SECONDS = 2.0
logger = logging.getLogger(__name__)


class Health(msgspec.Struct):
    status: str


class Check(msgspec.Struct):
    status: str
    """`up`, `busy` (every connection of the pool serves a request, and one of its own answers:
    the service stays ready, `degraded`) or `down`; a read replica also `lagging` (further behind
    than `ATRIZ_REPLICA_MAX_LAG`) or `not a standby`."""
    ms: float
    """How long the check took, in milliseconds."""


class Readiness(msgspec.Struct):
    status: str
    """`healthy`, `degraded` (a secondary database is down, or the read replica does not
    serve reads: they go to the primary) or `unhealthy`."""
    checks: dict[str, Check]


def _saturated(pool: asyncpg.Pool) -> bool:
    return bool(pool.get_size() >= pool.get_max_size() and pool.get_idle_size() == 0)


async def _check(pool: asyncpg.Pool | None) -> Check:
    started = time.perf_counter()
    status = "down"
    if pool is not None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                if isinstance(pool, BoundedPool) and _saturated(pool):
                    # Every connection serves a request. Load, not a fault: under a burst every
                    # pod's pool is full at once, and failing then would take every pod out of
                    # the Service together. So a connection of its own asks whether the
                    # database answers (a dead one behind a full pool is still down).
                    await pool.answers_apart()
                    status = "busy"
                else:
                    await pool.fetchval("SELECT 1")
                    status = "up"
        except Exception as exc:  # a probe reports any failure as "down", never as a 500
            logger.warning("readiness check failed: %s", type(exc).__name__)
    return Check(status=status, ms=round((time.perf_counter() - started) * 1000, 2))


async def _check_replica(monitor: ReplicaMonitor) -> Check:
    """The replica answers, and its monitor lets it serve reads (not lagging)."""
    check = await _check(monitor.pool)
    if check.status == "up":
        check.status = monitor.status
    return check


def health_handlers(
    primary: str, secondary: dict[str, str] | None = None
) -> list[HTTPRouteHandler]:
    """Handlers for `/health` and `/ready`.

    `primary` and `secondary` map a database's name in the report to its pool's state key.
    The primary database down makes the service `unhealthy` (503); a secondary one `degraded`,
    and so does a read replica (`app.state["replica"]`, when the service has one) that does not
    serve reads.
    """
    secondary = secondary or {}

    @get("/health", sync_to_thread=False, tags=["health"], opt=PUBLIC)
    def health() -> Health:
        """The process is alive."""
        return Health(status="ok")

    @get("/ready", tags=["health"], opt=PUBLIC)
    async def ready(state: State) -> Response[Readiness]:
        """Whether this service's databases answer: healthy, degraded or unhealthy."""
        keys: dict[str, Any] = {"database": primary, **secondary}
        probes = [_check(state.get(key)) for key in keys.values()]
        monitor: ReplicaMonitor | None = state.get(REPLICA_STATE_KEY)
        if monitor is not None:
            keys["replica"] = REPLICA_STATE_KEY
            probes.append(_check_replica(monitor))
        results = await asyncio.gather(*probes)
        checks = dict(zip(keys, results, strict=True))
        if checks["database"].status not in {"up", "busy"}:
            # Like every 503 of the kit: when to ask again (a balancer or a client may honour it).
            return Response(
                Readiness(status="unhealthy", checks=checks),
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        degraded = any(check.status != "up" for check in checks.values())
        status = "degraded" if degraded else "healthy"
        return Response(Readiness(status=status, checks=checks), status_code=200)

    return [health, ready]
