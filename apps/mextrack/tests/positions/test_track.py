"""The batch judged against the stored track, in numpy: new points and jumps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from atriz_mextrack.positions.schemas import PointIn
from atriz_mextrack.positions.track import (
    Batch,
    Judged,
    StoredFix,
    great_circle_m,
    unix_microseconds,
)
from atriz_mextrack.positions.track import judge as judge_batch

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
LIMIT = 300.0


def fix(second: int, latitude: float = 19.43, longitude: float = -99.13) -> PointIn:
    return PointIn(
        recorded_at=START + timedelta(seconds=second),
        latitude=latitude,
        longitude=longitude,
        speed_kmh=30.0,
        heading=90.0,
    )


def stored(second: int, latitude: float = 19.43, longitude: float = -99.13) -> StoredFix:
    return StoredFix(START + timedelta(seconds=second), latitude, longitude)


def judge(points: list[PointIn], neighbours: list[StoredFix], limit: float) -> Judged:
    return judge_batch(Batch.of(points), neighbours, limit)


def new_points(judged: Judged) -> list[PointIn]:
    return [judged.batch.points[i] for i in judged.new]


def road(*seconds: int) -> list[PointIn]:
    """Fixes eastward at 36 km/h (10 m/s, about 0.0000946 degrees of longitude a second)."""
    return [fix(s, longitude=-99.13 + 0.0000946 * s) for s in seconds]


def test_new_points_come_in_time_order_each_time_once_the_first_sent_winning() -> None:
    first, repeat, later = fix(10, latitude=19.0), fix(10, latitude=19.5), fix(5)

    judged = judge([first, repeat, later, fix(20)], [stored(20)], LIMIT)

    assert new_points(judged) == [later, first]
    assert new_points(judged)[1].latitude == 19.0


def test_a_batch_already_stored_is_all_duplicates() -> None:
    points = road(0, 10, 20)

    judged = judge(points, [StoredFix(p.recorded_at, p.latitude, p.longitude) for p in points], 1)

    assert new_points(judged) == []
    assert judged.jump.tolist() == []
    assert judged.newest_ok() is None


def test_a_spike_out_and_back_is_a_jump_and_the_fix_after_it_is_not() -> None:
    points = road(0, 10, 20, 30)
    points.insert(2, fix(15, latitude=20.43))  # 111 km away for five seconds

    judged = judge(points, [], LIMIT)

    assert judged.jump.tolist() == [False, False, True, False, False]
    assert judged.newest_ok() == points[-1]


def test_a_gap_confirmed_by_the_next_fix_is_no_jump() -> None:
    # A ferry: 50 km in a minute, then driving on from there.
    points = [*road(0, 10), fix(70, latitude=19.88), fix(80, latitude=19.88, longitude=-99.129)]

    assert judge(points, [], LIMIT).jump.tolist() == [False, False, False, False]


def test_a_wild_first_fix_is_flagged_without_condemning_the_good_ones_after_it() -> None:
    points = [fix(0, latitude=10.0), *road(10, 20, 30)]

    assert judge(points, [], LIMIT).jump.tolist() == [True, False, False, False]


def test_the_ends_of_a_batch_are_judged_against_stored_neighbours() -> None:
    neighbours = [stored(0), stored(10, longitude=-99.13 + 0.000946)]
    wild_last = fix(20, latitude=10.0)

    judged = judge([wild_last], neighbours, LIMIT)
    after = judge([fix(-10, latitude=10.0)], neighbours, LIMIT)

    assert judged.jump.tolist() == [True]
    assert judged.newest_ok() is None
    assert after.jump.tolist() == [True], "a wild fix before the stored track"


def test_one_point_alone_or_with_one_neighbour_is_never_a_jump() -> None:
    assert judge([fix(0)], [], LIMIT).jump.tolist() == [False]
    assert judge([fix(5, latitude=10.0)], [stored(0)], LIMIT).jump.tolist() == [False]


def test_the_verdicts_do_not_depend_on_the_order_sent() -> None:
    rng = random.Random(9)  # noqa: S311 - test data, not a secret
    points = road(*range(0, 200, 5))
    points[7] = fix(35, latitude=21.0)
    points[30] = fix(150, latitude=18.0)
    expected = judge(points, [], LIMIT)
    shuffled = points[:]
    rng.shuffle(shuffled)

    judged = judge(shuffled, [], LIMIT)

    assert new_points(judged) == new_points(expected)
    assert judged.jump.tolist() == expected.jump.tolist()
    assert sum(expected.jump.tolist()) == 2


def test_fix_times_convert_to_microseconds_exactly() -> None:
    rng = random.Random(3)  # noqa: S311 - test data, not a secret
    span = int((datetime(2100, 1, 1, tzinfo=UTC) - START).total_seconds() * 1e6)
    moments = [START + timedelta(microseconds=rng.randrange(-span, span)) for _ in range(20_000)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    converted = unix_microseconds(moments).tolist()

    assert converted == [(moment - epoch) // timedelta(microseconds=1) for moment in moments]


async def test_the_distance_is_the_sql_functions(mextrack: Any) -> None:
    pairs = [
        (19.43, -99.13, 19.4301, -99.1299),
        (0.0, 179.999, 0.0, -179.999),
        (89.9, 0.0, 89.9, 180.0),
        (-33.87, 151.21, 51.51, -0.13),
        (10.0, 10.0, -10.0, -170.0),  # antipodal
    ]
    for pair in pairs:
        in_sql = await mextrack.sql("SELECT great_circle_m($1, $2, $3, $4)", *pair)
        assert great_circle_m(*pair) == pytest.approx(in_sql, rel=1e-12, abs=1e-6)
