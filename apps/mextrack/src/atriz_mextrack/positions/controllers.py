"""Position routes: HTTP only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, Parameter, QueryParameter

from atriz_core.client.litestar import PUBLIC
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    page_limit,
    schema_name,
)
from atriz_core.kit.replica import REPLICA_READS, current_reader
from atriz_core.kit.service import BEARER_SCHEME
from atriz_mextrack.devices.auth import requires_tracker_or_user, signed_in_tracker
from atriz_mextrack.positions import exports, services
from atriz_mextrack.positions.openapi import PositionsBatchOperation
from atriz_mextrack.positions.partitions import PARTITIONS_POOL_KEY
from atriz_mextrack.positions.schemas import IngestResult, LatestPosition, Position, StatsReport
from atriz_mextrack.settings import MextrackSettings

__all__ = ["SETTINGS_STATE_KEY", "LatestController", "PositionController"]

SETTINGS_STATE_KEY = "mextrack_settings"
PositionPage = Annotated[Page[Position], schema_name("PositionPage")]
LatestPage = Annotated[Page[LatestPosition], schema_name("LatestPositionPage")]
From = Annotated[
    datetime | None,
    QueryParameter(name="from", description="Start of the range (inclusive), with a UTC offset."),
]
To = Annotated[
    datetime | None,
    QueryParameter(name="to", description="End of the range (exclusive), with a UTC offset."),
]
LatestLimit = Annotated[int, page_limit(5000)]
GEOJSON = "application/geo+json"
GPX = "application/gpx+xml"


def _settings(request: Request[Any, Any, Any]) -> MextrackSettings:
    settings: MextrackSettings = request.app.state[SETTINGS_STATE_KEY]
    return settings


class PositionController(Controller):
    path = "/vehicles/{vehicle_id:uuid}"
    tags = ["positions"]

    @post(
        "/positions",
        opt=PUBLIC,  # signed in by the guard: a user's access token or the device token
        guards=[requires_tracker_or_user],
        security=[{BEARER_SCHEME: []}],
        status_code=200,
        operation_class=PositionsBatchOperation,
        responses=problem_responses(401, 404, 409, 413, 422),
    )
    async def record_positions(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Any, Any, Any],
    ) -> IngestResult:
        """Store a batch of up to 10,000 GPS points of the vehicle, all or nothing.

        Signed in with the owner's (or a dispatcher's, an admin's) access token, or with the
        vehicle's device token. One bad point refuses the whole batch with a 422 naming its
        index and field (`[3].latitude`), storing nothing. A point already stored (same
        `recorded_at`) is counted as a duplicate, not stored twice; a point whose implied
        speed from its neighbours exceeds the limit is stored with quality `jump`. The
        vehicle's latest position moves only to a newer fix. An inactive vehicle, or one whose
        owner is deactivated, accepts nothing (409)."""
        settings = _settings(request)
        tracker = signed_in_tracker(request)
        now = datetime.now(UTC)
        points = services.decode_points(
            await request.body(),
            now=now,
            oldest=services.oldest_accepted(now, settings.retention_days),
        )
        return await services.record_positions(
            conn,
            request.app.state[PARTITIONS_POOL_KEY],
            vehicle_id,
            tracker or request.user,
            points,
            max_speed_kmh=settings.max_speed_kmh,
            backfill_from=(now - timedelta(days=settings.backfill_days)).astimezone(UTC).date(),
        )

    @get("/positions", opt=REPLICA_READS, responses=problem_responses(404, 422))
    async def list_positions(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        start: From = None,
        end: To = None,
        include: Annotated[
            Literal["jump"] | None,
            Parameter(description="`jump` to include the points flagged as jumps."),
        ] = None,
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> PositionPage:
        """The vehicle's points in `[from, to)`, oldest first, a page at a time: every point
        exactly once across the pages. Points flagged `jump` are left out unless
        `include=jump`."""
        return await services.list_positions(
            conn,
            current_reader(request, conn),
            cursors_of(request),
            request.user,
            vehicle_id,
            services.time_range(start, end),
            include == "jump",
            limit,
            cursor,
        )

    @get(
        "/track.geojson",
        media_type=GEOJSON,
        opt=REPLICA_READS,
        responses=problem_responses(404, 422),
    )
    async def track_geojson(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        start: From = None,
        end: To = None,
    ) -> Response[dict[str, Any]]:
        """The track in `[from, to)` as GeoJSON: a FeatureCollection with one LineString
        (times in `properties.coordTimes`); jumps left out. More than 100,000 points is a 422
        (narrow the range), never a cut-short track."""
        vehicle, points = await services.track_points(
            conn,
            current_reader(request, conn),
            request.user,
            vehicle_id,
            services.time_range(start, end),
        )
        return Response(exports.track_geojson(vehicle, points), media_type=GEOJSON)

    @get("/track.gpx", media_type=GPX, opt=REPLICA_READS, responses=problem_responses(404, 422))
    async def track_gpx(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        start: From = None,
        end: To = None,
    ) -> Response[str]:
        """The track in `[from, to)` as GPX 1.1 (one track, one segment); jumps left out.
        More than 100,000 points is a 422 (narrow the range)."""
        vehicle, points = await services.track_points(
            conn,
            current_reader(request, conn),
            request.user,
            vehicle_id,
            services.time_range(start, end),
        )
        return Response(exports.track_gpx(vehicle, points), media_type=GPX)

    @get("/stats", responses=problem_responses(404, 422))
    async def vehicle_stats(
        self,
        vehicle_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        start: From = None,
        end: To = None,
        by: Annotated[
            Literal["day"] | None,
            Parameter(description="`day` to split the figures by calendar day in `tz`."),
        ] = None,
        tz: Annotated[
            str, Parameter(max_length=64, description="IANA time zone name for `by=day`.")
        ] = "UTC",
    ) -> StatsReport:
        """Distance (great-circle, jumps left out), maximum and mean reported speed, point
        count, first and last fix in `[from, to)`; with `by=day`, also per calendar day in
        `tz` (an IANA name such as `America/Mexico_City`)."""
        return await services.vehicle_stats(
            conn,
            request.user,
            vehicle_id,
            services.time_range(start, end),
            by == "day",
            services.time_zone(tz),
        )


class LatestController(Controller):
    path = "/positions"
    tags = ["positions"]

    @get("/latest", opt=REPLICA_READS)
    async def latest_positions(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: LatestLimit = 1000,
        cursor: PageCursor = None,
    ) -> LatestPage:
        """The latest position of every vehicle the caller sees (their own; every vehicle for
        a dispatcher or an admin), by vehicle id, up to `limit` (at most 5,000) a page.
        Served from one row per vehicle, never from the history."""
        return await services.latest_positions(
            conn, current_reader(request, conn), cursors_of(request), request.user, limit, cursor
        )
