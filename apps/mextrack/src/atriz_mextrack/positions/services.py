"""Position rules: what a batch must be, how it is stored, and what the readers get."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import msgspec

from atriz_core.client.verifier import Principal
from atriz_core.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
)
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_core.kit.times import checked_time, checked_time_zone
from atriz_mextrack.access import sees_all
from atriz_mextrack.devices import services as devices
from atriz_mextrack.devices.services import DEVICE_TOKEN_CHALLENGE, INVALID_DEVICE_TOKEN, Tracker
from atriz_mextrack.positions import partitions, repository, track
from atriz_mextrack.positions.schemas import (
    MAX_POINTS,
    IngestResult,
    LatestPosition,
    PointIn,
    Position,
    StatsReport,
)
from atriz_mextrack.vehicles import repository as vehicles
from atriz_mextrack.vehicles.schemas import Vehicle
from atriz_mextrack.vehicles.services import may_see, visible_vehicle

__all__ = [
    "EARLIEST",
    "MAX_BATCH_DAYS",
    "MAX_FUTURE",
    "MAX_TRACK_POINTS",
    "TimeRange",
    "decode_points",
    "latest_positions",
    "list_positions",
    "record_positions",
    "time_range",
    "track_points",
    "vehicle_stats",
]

MAX_FUTURE = timedelta(minutes=5)
"""How far ahead of the server's clock a fix may be (trackers' clocks drift a little)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Fixes before this are a tracker's clock fault (GPS week rollover), not history."""
LATEST_BOUND = datetime(9999, 12, 31, tzinfo=UTC)
MAX_BATCH_DAYS = 31
"""The most calendar days (UTC) one batch may span: each day is a partition."""
MAX_TRACK_POINTS = 100_000
"""The most points a track export holds; a wider range is refused (422), never cut short."""

NORTH_IN_REAL = 360 - 2**-16
"""Headings from here to 360 (excluded) round to 360.0 in the `real` column, which holds
[0, 360): they are stored as 0, the same direction."""

_decoder = msgspec.json.Decoder(list[PointIn])
_AT = re.compile(r"^(?P<reason>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_NAMED = re.compile(r"field `(?P<name>[^`]+)`")


class MalformedBodyError(DomainError):
    """A body that is not JSON at all: 400 naming `body`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"body {reason}", [FieldProblem("body", reason)])


def _invalid(field: str, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"the batch was refused, nothing was stored: {field} {reason}",
        [FieldProblem(field, reason)],
    )


def _validation_problem(exc: msgspec.ValidationError) -> InvalidInputError:
    """msgspec's `Expected ... - at `$[3].latitude`` as the field `[3].latitude`."""
    message = str(exc)
    match = _AT.match(message)
    if match is None:
        return _invalid("body", message)
    reason, path = match["reason"], match["path"]
    named = _NAMED.search(reason)  # a missing or unknown field is named in the reason
    if named is not None:
        path = f"{path}.{named['name']}"
    return _invalid(path or "body", reason)


def decode_points(body: bytes, *, now: datetime, oldest: datetime) -> list[PointIn]:
    """The batch's points, each checked; 422 naming the first bad point's index and field."""
    try:
        points = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_problem(exc) from None
    # msgspec refuses bytes that are not UTF-8 with UnicodeDecodeError, not DecodeError.
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedBodyError(f"is not valid JSON: {exc}") from None
    if not points:
        raise _invalid("body", "holds no points")
    if len(points) > MAX_POINTS:
        raise _invalid(
            "body", f"holds {len(points):,} points; a batch holds at most {MAX_POINTS:,}"
        )
    newest = now + MAX_FUTURE
    for index, point in enumerate(points):
        if point.heading >= NORTH_IN_REAL:
            point.heading = 0.0
        if point.recorded_at > newest:
            raise _invalid(f"[{index}].recorded_at", "is more than 5 minutes in the future")
        if point.recorded_at < oldest:
            raise _invalid(
                f"[{index}].recorded_at",
                f"is before {oldest:%Y-%m-%d %H:%M} UTC: older than the retention period, or a"
                " tracker's clock fault",
            )
    return points


def oldest_accepted(now: datetime, retention_days: int | None) -> datetime:
    """The oldest fix a batch may carry: the retention cutoff, and never before 2000."""
    if retention_days is None:
        return EARLIEST
    return max(EARLIEST, now - timedelta(days=retention_days))


def _imports_history(writer: Principal | Tracker) -> bool:
    return isinstance(writer, Principal) and sees_all(writer)


def _check_accepts(vehicle: Vehicle) -> None:
    if vehicle.status != "active":
        raise ConflictError(f"vehicle {vehicle.id} is inactive: it accepts no positions")
    if vehicle.owner_suspended_at is not None:
        raise ConflictError(
            f"the owner of vehicle {vehicle.id} is deactivated: it accepts no positions until"
            " the owner is reactivated"
        )


async def record_positions(
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    vehicle_id: uuid.UUID,
    writer: Principal | Tracker,
    points: list[PointIn],
    *,
    max_speed_kmh: float,
    backfill_from: date,
) -> IngestResult:
    """Store a batch in the request's one transaction: every new point (judged `ok` or
    `jump`), none twice, and the latest position moved only by a newer fix.

    `writer` is the signed-in user, or the tracker whose device token the guard checked; who
    may write is asked again once the batch holds the vehicle, so a reassignment or a token's
    rotation or revocation that committed meanwhile refuses the batch. Partitions the batch
    lacks are created first, each in a short transaction of its own (`partitions`), before
    this transaction touches `positions`: only for the days that hold one of its points, and
    before `backfill_from` (`MEXTRACK_BACKFILL_DAYS`) only for a dispatcher or an admin.
    """
    first = min(point.recorded_at for point in points)
    last = max(point.recorded_at for point in points)
    days = [point.recorded_at.astimezone(UTC).date() for point in points]  # UTC, per point
    if (max(days) - min(days)).days >= MAX_BATCH_DAYS:
        raise _invalid(
            "body", f"spans more than {MAX_BATCH_DAYS} days; send older history in other batches"
        )
    vehicle = await vehicles.lock_vehicle(conn, vehicle_id)
    if isinstance(writer, Tracker):
        if vehicle is None or not await devices.still_live(conn, writer):
            raise AuthenticationError(INVALID_DEVICE_TOKEN, challenge=DEVICE_TOKEN_CHALLENGE)
    elif vehicle is None or not may_see(writer, vehicle):
        raise NotFoundError(f"no vehicle {vehicle_id}")
    _check_accepts(vehicle)
    missing = await partitions.missing_days(conn, sorted(set(days)))
    if missing and missing[0] < backfill_from and not _imports_history(writer):
        raise _invalid(
            f"[{days.index(missing[0])}].recorded_at",
            f"is on {missing[0]:%Y-%m-%d}, a day before {backfill_from:%Y-%m-%d} that no"
            " batch has opened yet (it has no partition): older history is imported by a"
            " dispatcher",
        )
    if missing:
        await partitions.ensure_partitions(pool, missing)
    # Under the vehicle's lock (READ COMMITTED: this statement sees every batch of the vehicle
    # committed before the lock was granted), so no other batch can store one of these fix
    # times between this read and the COPY.
    stored = await repository.stored_neighbours(conn, vehicle_id, first, last)
    judged = track.judge(track.Batch.of(points), stored, max_speed_kmh)
    if len(judged.new):
        await repository.copy_positions(conn, vehicle_id, judged)
    newest = judged.newest_ok()
    latest_moved = newest is not None and await repository.move_latest(conn, vehicle_id, newest)
    return IngestResult(
        received=len(points),
        new=len(judged.new),
        duplicate=len(points) - len(judged.new),
        jump=int(judged.jump.sum()),
        latest_moved=latest_moved,
    )


class TimeRange(msgspec.Struct, frozen=True):
    start: datetime
    end: datetime


def time_range(start: datetime | None, end: datetime | None) -> TimeRange:
    """`[from, to)`; either side open when not given. Times need a UTC offset and a year
    that PostgreSQL and Python both hold (`atriz_core.kit.times`)."""
    start = checked_time(start, "from") if start is not None else EARLIEST
    end = checked_time(end, "to") if end is not None else LATEST_BOUND
    resolved = TimeRange(start, end)
    if resolved.end <= resolved.start:
        raise _range_problem("to", "must be after from")
    return resolved


def _range_problem(field: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"{field} {reason}", [FieldProblem(field, reason)])


async def _narrowed(
    conn: asyncpg.Connection, vehicle_id: uuid.UUID, window: TimeRange
) -> TimeRange:
    """`window` narrowed to the days on which the vehicle has points (empty if none): a range
    left open, or wider than the track, would otherwise plan and lock every partition in it."""
    span = await repository.track_span(conn, vehicle_id, window.start, window.end)
    if span is None:
        return TimeRange(window.start, window.start)
    return TimeRange(max(window.start, span[0]), min(window.end, span[1]))


async def list_positions(
    conn: asyncpg.Connection,
    current: asyncpg.Connection | asyncpg.Pool,
    cursors: CursorCodec,
    principal: Principal,
    vehicle_id: uuid.UUID,
    window: TimeRange,
    include_jumps: bool,
    limit: int,
    cursor: str | None,
) -> Page[Position]:
    """A vehicle's points in time order, a page at a time, every point exactly once (`conn`
    may be the replica's; who may see the vehicle is asked of `current`, `kit.replica`'s
    `current_reader`)."""
    await visible_vehicle(current, principal, vehicle_id)
    after = cursors.position(cursor, repository.BY_TIME)
    window = await _narrowed(conn, vehicle_id, window)
    rows = await repository.list_positions(
        conn, vehicle_id, window.start, window.end, include_jumps, after, limit + 1
    )
    return cursors.page(rows, limit, repository.BY_TIME, lambda p: (p.recorded_at,))


async def track_points(
    conn: asyncpg.Connection,
    current: asyncpg.Connection | asyncpg.Pool,
    principal: Principal,
    vehicle_id: uuid.UUID,
    window: TimeRange,
) -> tuple[Vehicle, list[Position]]:
    """The vehicle and its `ok` points in the range, all of them (422 past the limit); who may
    see the vehicle is asked of `current` (see `list_positions`)."""
    vehicle = await visible_vehicle(current, principal, vehicle_id)
    window = await _narrowed(conn, vehicle_id, window)
    rows = await repository.list_positions(
        conn, vehicle_id, window.start, window.end, False, None, MAX_TRACK_POINTS + 1
    )
    if len(rows) > MAX_TRACK_POINTS:
        raise _range_problem(
            "to",
            f"the range holds more than {MAX_TRACK_POINTS:,} points: narrow from/to, or page"
            " through /positions",
        )
    return vehicle, rows


async def latest_positions(
    conn: asyncpg.Connection,
    current: asyncpg.Connection | asyncpg.Pool,
    cursors: CursorCodec,
    principal: Principal,
    limit: int,
    cursor: str | None,
) -> Page[LatestPosition]:
    """The latest position of every vehicle the caller sees (one row per vehicle)."""
    after = cursors.position(cursor, repository.BY_VEHICLE)
    owner = None if sees_all(principal) else principal.id
    rows = await repository.list_latest(conn, owner, after, limit + 1)
    if owner is not None and current is not conn:
        # Read from the replica: a vehicle it still has as the caller's may have been
        # reassigned since (see `list_positions`). The page's vehicles, checked on `current`.
        owned = await vehicles.still_owned(current, [row.vehicle_id for row in rows], owner)
        rows = [row for row in rows if row.vehicle_id in owned]
    return cursors.page(rows, limit, repository.BY_VEHICLE, lambda p: (p.vehicle_id,))


def time_zone(name: str) -> str:
    """An IANA time zone name, checked (422 naming `tz`)."""
    return checked_time_zone(name, "tz")


async def vehicle_stats(
    conn: asyncpg.Connection,
    principal: Principal,
    vehicle_id: uuid.UUID,
    window: TimeRange,
    by_day: bool,
    tz: str,
) -> StatsReport:
    """Distance, speeds, counts and first and last fix over `ok` points; by calendar day in
    `tz` with `by_day`."""
    await visible_vehicle(conn, principal, vehicle_id)
    window = await _narrowed(conn, vehicle_id, window)
    total = await repository.stats(conn, vehicle_id, window.start, window.end)
    jumps = await repository.count_jumps(conn, vehicle_id, window.start, window.end)
    days = (
        await repository.stats_by_day(conn, vehicle_id, window.start, window.end, tz)
        if by_day
        else None
    )
    return StatsReport(
        vehicle_id=vehicle_id, total=total, jump_count=jumps, days=days, tz=tz if by_day else None
    )
