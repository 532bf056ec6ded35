"""`AtrizAuth`'s middleware: every route needs a valid token unless it is marked public."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, Request, get, websocket
from litestar.connection import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient, TestClient

from atriz_core.client import PUBLIC, AtrizAuth, CurrentUser, Principal, requires_role
from atriz_core.testing import TokenMinter, assert_rejects_bad_tokens
from atriz_core.web.problems import EXCEPTION_HANDLERS


@get("/vehicles")
async def list_vehicles(request: Request[Principal, Any, Any]) -> dict[str, Any]:
    # No guard and no `current_user`: only the middleware can have put the user there.
    return {"user": str(request.user.id)}


@get("/trips")
async def list_trips(current_user: CurrentUser) -> dict[str, Any]:
    return {"user": str(current_user.id)}


@get("/fleet-report", guards=[requires_role("mextrack.manager")])
async def fleet_report() -> dict[str, str]:
    return {"report": "ok"}


@get("/about", opt=PUBLIC)
async def about() -> dict[str, str]:
    return {"app": "mextrack"}


@get("/schemata")  # starts like the docs' /schema, which is public
async def schemata() -> dict[str, str]:
    return {}


@get("/depots")  # no guard, no opt
async def list_depots() -> dict[str, str]:
    return {"depots": "all"}


@websocket("/positions")
async def positions(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_json({"user": str(socket.user.id)})
    await socket.close()


def make_app(minter: TokenMinter, **options: Any) -> Litestar:
    return Litestar(
        route_handlers=[
            list_vehicles,
            list_trips,
            fleet_report,
            about,
            schemata,
            list_depots,
            positions,
        ],
        plugins=[AtrizAuth(minter.verifier("mextrack"), **options)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


@pytest.fixture
async def client(token_minter: TokenMinter) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app(token_minter)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_route_without_a_guard_still_needs_a_token(
    client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    user_id = uuid.uuid4()

    anonymous = await client.get("/vehicles")
    signed_in = await client.get("/vehicles", headers=bearer(token_minter.mint(user_id=user_id)))

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["detail"] == "a bearer access token is required"
    assert signed_in.status_code == 200
    assert signed_in.json() == {"user": str(user_id)}


async def test_current_user_is_the_token_s_user(
    client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    user_id = uuid.uuid4()

    response = await client.get("/trips", headers=bearer(token_minter.mint(user_id=user_id)))

    assert response.json() == {"user": str(user_id)}


async def test_every_bad_token_is_refused_without_any_guard(
    client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    await assert_rejects_bad_tokens(client, "GET", "/vehicles", token_minter, audience="mextrack")


async def test_role_guards_still_answer_403(
    client: AsyncTestClient[Litestar], token_minter: TokenMinter
) -> None:
    driver = await client.get(
        "/fleet-report", headers=bearer(token_minter.mint(roles=("mextrack.driver",)))
    )
    manager = await client.get(
        "/fleet-report", headers=bearer(token_minter.mint(roles=("mextrack.manager",)))
    )
    anonymous = await client.get("/fleet-report")

    assert (driver.status_code, manager.status_code, anonymous.status_code) == (403, 200, 401)


async def test_public_routes_and_the_api_docs_need_no_token(
    client: AsyncTestClient[Litestar],
) -> None:
    about_page = await client.get("/about")
    docs = await client.get("/schema/openapi.json")

    assert about_page.status_code == 200
    assert docs.status_code == 200


async def test_a_public_route_ignores_a_bad_token(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/about", headers=bearer("not.a.token"))

    assert response.status_code == 200


async def test_a_path_that_only_starts_like_a_public_one_is_protected(
    client: AsyncTestClient[Litestar],
) -> None:
    assert (await client.get("/schemata")).status_code == 401


async def test_without_require_sign_in_only_guarded_routes_need_a_token(
    token_minter: TokenMinter,
) -> None:
    app = make_app(token_minter, require_sign_in=False)
    async with AsyncTestClient(app=app) as client:
        unguarded = await client.get("/depots")
        guarded = await client.get("/fleet-report")

    assert unguarded.status_code == 200
    assert guarded.status_code == 401


def test_websockets_need_a_token_too(token_minter: TokenMinter) -> None:
    user_id = uuid.uuid4()
    with TestClient(app=make_app(token_minter)) as client:
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/positions"):
            pass
        with client.websocket_connect(
            "/positions", headers=bearer(token_minter.mint(user_id=user_id))
        ) as socket:
            assert socket.receive_json() == {"user": str(user_id)}
