"""Bad tokens on every route, the authorization matrix, and fuzzing from the OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from atriz_core.testing import (
    TokenMinter,
    UserFactory,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    assert_openapi_fuzzing_passes,
    assert_rejects_bad_tokens,
    make_actors,
)
from atriz_core.testing.tokens import bad_token_failures

Mextrack = Any
DISPATCHER = "mextrack.dispatcher"


async def test_every_protected_route_refuses_bad_tokens(
    mextrack: Mextrack, token_minter: TokenMinter
) -> None:
    routes = await assert_every_route_rejects_bad_tokens(
        mextrack.client, mextrack.app, token_minter, "mextrack"
    )

    checked = {str(route) for route in routes}
    assert "GET /positions/latest" in checked
    assert "POST /vehicles/{vehicle_id}/device-token/rotate" in checked
    assert "GET /vehicles/{vehicle_id}/track.gpx" in checked


async def test_the_positions_route_refuses_bad_tokens_and_bad_device_tokens(
    mextrack: Mextrack,
    token_minter: TokenMinter,
    make_user: UserFactory,
    helpers: Any,
    now: datetime,
) -> None:
    # Public to the kit's middleware (a device token is not a JWT): its guard signs it in.
    owner = await make_user()
    vehicle, other = await mextrack.vehicle(owner), await mextrack.vehicle(owner)
    path = f"/vehicles/{vehicle['id']}/positions"
    base = f"/vehicles/{other['id']}/device-token"
    others_token = (await mextrack.client.post(base, headers=owner.headers)).json()["token"]
    revoked = (await mextrack.client.post(f"{base}/rotate", headers=owner.headers)).json()["token"]
    await mextrack.client.delete(base, headers=owner.headers)
    points = helpers.drive(now - timedelta(minutes=5), 2)

    await assert_rejects_bad_tokens(
        mextrack.client, "POST", path, token_minter, "mextrack", json=points
    )
    failures = await bad_token_failures(
        mextrack.client,
        "POST",
        path,
        {
            "another vehicle's device token": others_token,
            "a revoked device token": revoked,
            "a made-up device token": "mxd_" + "A" * 43,
            "the prefix alone": "mxd_",
        },
        json=points,
    )
    assert not failures, failures
    assert await mextrack.sql("SELECT count(*) FROM positions") == 0


async def test_the_authorization_matrix(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    actors = await make_actors(make_user, roles=(DISPATCHER, "admin"))
    owner = actors["owner"]
    assert owner is not None
    vehicle = await mextrack.vehicle(owner)
    path = f"/vehicles/{vehicle['id']}"
    readers = {"anonymous": 401, "owner": 200, "other_user": 404, DISPATCHER: 200, "admin": 200}

    for suffix in ("", "/positions", "/track.geojson", "/track.gpx", "/stats"):
        await assert_authorization_matrix(mextrack.client, "GET", path + suffix, readers, actors)
    await assert_authorization_matrix(
        mextrack.client,
        "POST",
        f"{path}/positions",
        readers,
        actors,
        json=helpers.drive(now - timedelta(minutes=5), 2),
    )
    await assert_authorization_matrix(
        mextrack.client,
        "POST",
        f"{path}/device-token/rotate",
        {"anonymous": 401, "other_user": 404, "owner": 201, DISPATCHER: 201, "admin": 201},
        actors,
    )

    async def fresh_vehicle() -> str:
        return f"/vehicles/{(await mextrack.vehicle(owner))['id']}"

    await assert_authorization_matrix(
        mextrack.client,
        "DELETE",
        fresh_vehicle,
        {"anonymous": 401, "other_user": 404, "owner": 204, DISPATCHER: 204, "admin": 204},
        actors,
    )
    await assert_authorization_matrix(
        mextrack.client,
        "PATCH",
        path,
        {"anonymous": 401, "other_user": 404, "owner": 200, DISPATCHER: 200, "admin": 200},
        actors,
        json={"name": "Renamed"},
    )


@pytest.mark.slow
async def test_the_openapi_passes_fuzzing_with_a_real_token(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    dispatcher = await make_user(roles=(DISPATCHER,))

    await assert_openapi_fuzzing_passes(
        mextrack.client, headers=dispatcher.headers, max_examples=15
    )
