"""`AtrizAuth`'s middleware: every route needs a valid token unless it is marked public."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get, websocket
from litestar.connection import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient, TestClient

from atriz_core.client import (
    PUBLIC,
    AtrizAuth,
    CurrentUser,
    JwksKeys,
    Principal,
    TokenVerifier,
    requires_role,
)
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.testing import TokenMinter, assert_rejects_bad_tokens


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
    return app_trusting(minter.verifier("mextrack"), **options)


def app_trusting(verifier: TokenVerifier, **options: Any) -> Litestar:
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
        plugins=[AtrizAuth(verifier, **options)],
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


JWKS_URL = "https://core.test/.well-known/jwks.json"


def jwks_answering(content: bytes) -> httpx.AsyncClient:
    """A client for which core's JWKS URL answers `content` with status 200."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    "content",
    [b"<html>502 Bad Gateway</html>", b'["keys"]', b'{"keys": [{"kty": "OKP", "crv": "Ed25519"}]}'],
    ids=["not JSON", "not an object", "a bad key"],
)
async def test_without_usable_keys_a_token_gets_503_with_retry_after(
    token_minter: TokenMinter, content: bytes
) -> None:
    async with jwks_answering(content) as jwks_client:
        keys = JwksKeys(JWKS_URL, client=jwks_client)
        verifier = TokenVerifier(keys, issuer=token_minter.issuer, audience="mextrack")
        async with AsyncTestClient(app=app_trusting(verifier, require_sign_in=True)) as client:
            by_middleware = await client.get("/vehicles", headers=bearer(token_minter.mint()))
        guarded = app_trusting(verifier, require_sign_in=False)
        async with AsyncTestClient(app=guarded) as client:
            by_guard = await client.get("/fleet-report", headers=bearer(token_minter.mint()))

    for response in (by_middleware, by_guard):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert 1 <= int(response.headers["retry-after"]) <= 5
        assert response.json()["status"] == 503
        assert "signing keys are unavailable" in response.json()["detail"]


async def test_with_keys_at_hand_an_unknown_kid_is_still_401(token_minter: TokenMinter) -> None:
    async with jwks_answering(json.dumps(token_minter.jwks).encode()) as jwks_client:
        verifier = TokenVerifier(
            JwksKeys(JWKS_URL, client=jwks_client), issuer=token_minter.issuer, audience="mextrack"
        )
        async with AsyncTestClient(app=app_trusting(verifier)) as client:
            unknown = await client.get(
                "/vehicles", headers=bearer(token_minter.mint(headers={"kid": "not-core-s"}))
            )
            known = await client.get("/vehicles", headers=bearer(token_minter.mint()))

    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "invalid access token: token signed with an unknown key"
    assert known.status_code == 200
