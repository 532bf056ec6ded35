"""Mextrack's settings: `AppSettings` and what tracking adds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from atriz_core.kit.settings import AppSettings, Env, app_fields
from atriz_mextrack.db import target

__all__ = ["DEFAULT_MAX_BODY_BYTES", "MextrackSettings"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""A batch of 10,000 points with every field is about 2 MB of JSON; room for pretty-printing."""


@dataclass(frozen=True, kw_only=True)
class MextrackSettings(AppSettings):
    """What mextrack needs to serve: the kit's fields and the tracking rules below."""

    max_speed_kmh: float = 300.0
    """`MEXTRACK_MAX_SPEED_KMH`: a point whose implied speed from its neighbours exceeds this
    is stored with quality `jump` (kept, left out of tracks and distances)."""
    retention_days: int | None = None
    """`MEXTRACK_RETENTION_DAYS`: positions older than this many days are dropped, a whole day's
    partition at a time, by `atriz mextrack retention`; unset, everything is kept. Points older
    than the retention period are refused on arrival."""
    backfill_days: int = 90
    """`MEXTRACK_BACKFILL_DAYS`: how far back a vehicle's owner or tracker may send a day that
    has no positions yet (each such day is a partition, made by the batch); older history is
    imported by a dispatcher or an admin. It bounds the partitions anyone can have made: every
    query that time does not narrow locks each one."""
    partitions_ahead_days: int = 7
    """`MEXTRACK_PARTITIONS_AHEAD_DAYS`: how many days of partitions the service creates ahead
    (at start and every hour), so that a batch rarely has to create one."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MextrackSettings:
        env = Env(environ)
        fields = app_fields(
            env, prefix="MEXTRACK", service="mextrack", target=target, default_port=8002
        )
        fields["max_body_bytes"] = env.integer(
            "MEXTRACK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, low=1024, high=256 * 1024 * 1024
        )
        retention = (
            None
            if env.raw("MEXTRACK_RETENTION_DAYS") is None
            else env.integer("MEXTRACK_RETENTION_DAYS", 0, low=1, high=100_000)
        )
        return cls(
            **fields,
            max_speed_kmh=env.number("MEXTRACK_MAX_SPEED_KMH", 300.0, low=1.0, high=100_000.0),
            retention_days=retention,
            backfill_days=env.integer("MEXTRACK_BACKFILL_DAYS", 90, low=1, high=100_000),
            partitions_ahead_days=env.integer("MEXTRACK_PARTITIONS_AHEAD_DAYS", 7, low=1, high=366),
        )
