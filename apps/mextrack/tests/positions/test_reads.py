"""Reading positions: pages, tracks, the latest positions and the statistics."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import gpxpy
import pytest

from atriz_core.client.verifier import Principal
from atriz_core.errors import NotFoundError
from atriz_core.kit.pagination_params import CURSORS_STATE_KEY
from atriz_core.testing import UserFactory, replica_routes
from atriz_mextrack.positions import services

Mextrack = Any
DISPATCHER = "mextrack.dispatcher"


@pytest.mark.pgbouncer
async def test_pages_give_every_point_exactly_once(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    start = now - timedelta(hours=3)
    track = helpers.drive(start, 45)
    track[20] = helpers.point(start + timedelta(seconds=200), 25.0, -99.13)  # a jump
    await mextrack.store(vehicle["id"], track, owner.headers)

    async def walk(**params: Any) -> list[str]:
        seen, cursor = [], None
        while True:
            page = await mextrack.client.get(
                f"/vehicles/{vehicle['id']}/positions",
                params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})},
                headers=owner.headers,
            )
            assert page.status_code == 200, page.text
            seen += [p["recorded_at"] for p in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return seen

    everything = await walk(include="jump")
    good = await walk()
    window = await walk(
        **{
            "from": (start + timedelta(seconds=100)).isoformat(),
            "to": (start + timedelta(seconds=150)).isoformat(),
        }
    )

    assert len(everything) == 45
    assert len(set(everything)) == 45
    assert everything == sorted(everything)
    assert len(good) == 44
    assert len(window) == 5
    naive = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/positions",
        params={"from": "2026-01-01T00:00:00"},
        headers=owner.headers,
    )
    backwards = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/positions",
        params={"from": now.isoformat(), "to": start.isoformat()},
        headers=owner.headers,
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "from"
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "to"


async def test_the_track_as_geojson_and_gpx(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner, name="Blue van")
    start = now - timedelta(hours=1)
    track = [
        helpers.point(
            start + timedelta(seconds=10 * i), 19.43, -99.13 + 0.0001 * i, altitude_m=2240.0
        )
        for i in range(5)
    ]
    await mextrack.store(vehicle["id"], track, owner.headers)

    geo = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/track.geojson", headers=owner.headers
    )
    gpx = await mextrack.client.get(f"/vehicles/{vehicle['id']}/track.gpx", headers=owner.headers)

    assert geo.headers["content-type"].startswith("application/geo+json")
    feature = json.loads(geo.content)["features"][0]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][1] == [track[1]["longitude"], 19.43, 2240.0]
    assert len(feature["properties"]["coordTimes"]) == 5
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    parsed = gpxpy.parse(gpx.text)
    points = parsed.tracks[0].segments[0].points
    assert len(points) == 5
    assert (points[0].latitude, points[0].longitude) == (19.43, -99.13)
    assert points[0].time == start
    assert parsed.tracks[0].name.startswith("Blue van")


@pytest.mark.pgbouncer
async def test_latest_positions_for_the_owner_and_for_a_dispatcher(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    ana, ben = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    anas, bens = await mextrack.vehicle(ana), await mextrack.vehicle(ben)
    await mextrack.vehicle(ana)  # no position yet: not listed
    await mextrack.store(anas["id"], helpers.drive(now - timedelta(minutes=5), 3), ana.headers)
    await mextrack.store(bens["id"], helpers.drive(now - timedelta(minutes=5), 3), ben.headers)

    own = (await mextrack.client.get("/positions/latest", headers=ana.headers)).json()
    everyone = (await mextrack.client.get("/positions/latest", headers=dispatcher.headers)).json()
    paged = (
        await mextrack.client.get("/positions/latest?limit=1", headers=dispatcher.headers)
    ).json()

    assert [p["vehicle_id"] for p in own["items"]] == [anas["id"]]
    assert {p["vehicle_id"] for p in everyone["items"]} == {anas["id"], bens["id"]}
    assert len(paged["items"]) == 1
    assert paged["next_cursor"] is not None


async def test_stats_match_hand_computed_distances_and_leave_jumps_out(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any
) -> None:
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    # Two fixes on 1 December (Mexico City), one spike, two on 2 December local time.
    day = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 14:00 in Mexico City (UTC-6)
    fixes = [
        (day, 19.4300, -99.1300, 20.0),
        (day + timedelta(minutes=2), 19.4400, -99.1300, 40.0),
        (day + timedelta(hours=11), 19.4400, -99.1400, 30.0),  # 01:00 on the 2nd, local time
        (day + timedelta(hours=11, minutes=1), 21.0, -99.13, 50.0),  # spike: 170 km in a minute
        (day + timedelta(hours=11, minutes=3), 19.4500, -99.1400, 10.0),
    ]
    points = [helpers.point(at, lat, lon, speed_kmh=speed) for at, lat, lon, speed in fixes]
    counts = await mextrack.store(vehicle["id"], points, owner.headers)
    assert counts["jump"] == 1
    good = [(lat, lon) for _, lat, lon, _ in fixes[:3] + fixes[4:]]
    steps = [helpers.haversine_m(a, b) for a, b in itertools.pairwise(good)]

    total = await mextrack.client.get(f"/vehicles/{vehicle['id']}/stats", headers=owner.headers)
    by_day = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/stats",
        params={"by": "day", "tz": "America/Mexico_City"},
        headers=owner.headers,
    )
    bad_tz = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/stats",
        params={"by": "day", "tz": "Mars/Olympus"},
        headers=owner.headers,
    )

    figures = total.json()["total"]
    assert figures["point_count"] == 4
    assert abs(figures["distance_m"] - sum(steps)) < 0.01
    assert figures["max_speed_kmh"] == 40.0
    assert figures["avg_speed_kmh"] == 25.0
    assert total.json()["jump_count"] == 1
    days = by_day.json()["days"]
    assert [d["day"] for d in days] == ["2026-12-01", "2026-12-02"]
    assert abs(days[0]["distance_m"] - steps[0]) < 0.01
    # The step across midnight counts on the day it ends.
    assert abs(days[1]["distance_m"] - steps[1] - steps[2]) < 0.01
    assert bad_tz.status_code == 422
    assert bad_tz.json()["errors"][0]["field"] == "tz"
    # A folder of the zone database (was a 500), a copy PostgreSQL does not know (named body).
    for tz in ("Europe", "right/UTC", "posix/Europe/Madrid"):
        refused = await mextrack.client.get(
            f"/vehicles/{vehicle['id']}/stats",
            params={"by": "day", "tz": tz},
            headers=owner.headers,
        )
        assert refused.status_code == 422, (tz, refused.text)
        assert refused.json()["errors"][0]["field"] == "tz"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("from", "0001-01-01T00:00:00+14:00"),
        ("to", "9999-12-31T23:59:59-14:00"),
        ("from", "0001-01-01T00:00:00Z"),
    ],
)
async def test_a_range_beyond_the_years_stored_is_refused_naming_its_end(
    mextrack: Mextrack, make_user: UserFactory, name: str, value: str
) -> None:
    """Out of Python's range once in UTC, asyncpg's conversion overflowed: a 500 on every read."""
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    for route in ("positions", "track.geojson", "track.gpx", "stats"):
        response = await mextrack.client.get(
            f"/vehicles/{vehicle['id']}/{route}", params={name: value}, headers=owner.headers
        )
        assert response.status_code == 422, (route, response.text)
        assert response.json()["errors"][0]["field"] == name


async def test_latest_positions_and_tracks_may_be_read_from_a_replica(mextrack: Mextrack) -> None:
    assert replica_routes(mextrack.app) == {
        "GET /positions/latest",
        "GET /vehicles/{vehicle_id}/positions",
        "GET /vehicles/{vehicle_id}/track.geojson",
        "GET /vehicles/{vehicle_id}/track.gpx",
    }


async def test_reads_a_lagging_replica_serves_ask_the_primary_who_may_see_the_vehicle(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    """A replica up to ATRIZ_REPLICA_MAX_LAG behind still has a reassigned vehicle as its
    previous owner's. Here a snapshot taken before the reassignment stands in for it: the reads
    the replica serves get it as their connection, and must still refuse the previous owner."""
    previous, newcomer = await make_user(), await make_user()
    dispatcher = await make_user(roles=(DISPATCHER,))
    vehicle = await mextrack.vehicle(previous)
    await mextrack.store(
        vehicle["id"], helpers.drive(now - timedelta(minutes=5), 3), previous.headers
    )
    primary = mextrack.app.state.db_pool
    cursors = mextrack.app.state[CURSORS_STATE_KEY]
    was_owner = Principal(
        id=previous.id,
        email=previous.email,
        roles=frozenset(previous.roles),
        session_id=previous.session_id,
        token_id="previous-owner",
        expires_at=0,
        issued_at=0,
    )
    window = services.time_range(now - timedelta(hours=1), now + timedelta(minutes=1))
    vehicle_id = uuid.UUID(vehicle["id"])

    async with primary.acquire() as stale, stale.transaction(isolation="repeatable_read"):
        await stale.fetchval("SELECT count(*) FROM vehicles")  # the snapshot is taken here
        reassigned = await mextrack.client.patch(
            f"/vehicles/{vehicle['id']}",
            json={"owner_id": str(newcomer.id)},
            headers=dispatcher.headers,
        )
        assert reassigned.status_code == 200, reassigned.text
        assert await stale.fetchval("SELECT owner_id FROM vehicles WHERE id = $1", vehicle_id) == (
            previous.id
        ), "the stand-in is stale"

        with pytest.raises(NotFoundError):
            await services.list_positions(
                stale, primary, cursors, was_owner, vehicle_id, window, False, 10, None
            )
        with pytest.raises(NotFoundError):
            await services.track_points(stale, primary, was_owner, vehicle_id, window)
        latest = await services.latest_positions(stale, primary, cursors, was_owner, 10, None)

    assert latest.items == []
