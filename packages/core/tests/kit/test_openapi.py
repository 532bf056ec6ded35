"""Error responses in the OpenAPI document are problem details, as the service sends them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.params import FromPath, JSONBody

from atriz_core.client import PUBLIC, requires_signed_in
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.problems import PROBLEM_JSON
from atriz_core.kit.service import create_service
from atriz_core.testing import TokenMinter, running_app


class Thing(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]


@post("/things", responses=problem_responses(409, 429))
async def add_thing(data: JSONBody[Thing]) -> Thing:
    """Declares its own conflict and limit."""
    return data


@get("/things/{thing_id:uuid}")
async def get_thing(thing_id: FromPath[uuid.UUID]) -> dict[str, str]:
    """A path parameter: 404 for an id that names nothing, or is no uuid."""
    return {"id": str(thing_id)}


@get("/open", opt=PUBLIC)
async def open_route() -> dict[str, str]:
    """Public, no parameters."""
    return {}


@get("/mine", guards=[requires_signed_in])
async def mine() -> dict[str, str]:
    """Behind a guard in an app that does not require sign-in everywhere."""
    return {}


def responses_of(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = schema["paths"][path][method]["responses"]
    return responses


async def test_error_responses_are_documented_as_problem_details(
    token_minter: TokenMinter, core_database_url: str
) -> None:
    app = create_service(
        name="things",
        route_handlers=[add_thing, get_thing, open_route],
        verifier=token_minter.verifier("pshop"),
        database_url=core_database_url,
    )
    async with running_app(app) as client:
        schema = (await client.get("/schema/openapi.json")).json()

    add = responses_of(schema, "/things", "post")
    assert set(add) == {"201", "400", "401", "403", "409", "429"}
    for status in ("400", "401", "403", "409", "429"):
        assert list(add[status]["content"]) == [PROBLEM_JSON], status
    # Litestar's own 400 shape (`status_code`, `detail`) is gone: it is what the service sends.
    problem = add["400"]["content"][PROBLEM_JSON]["schema"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "errors" in problem["properties"]
    assert "Retry-After" in add["429"]["headers"]
    assert set(responses_of(schema, "/things/{thing_id}", "get")) >= {"200", "404", "401"}
    assert set(responses_of(schema, "/open", "get")) == {"200"}


async def test_only_guarded_routes_get_401_where_sign_in_is_optional(
    token_minter: TokenMinter, core_database_url: str
) -> None:
    app = create_service(
        name="things",
        route_handlers=[mine, open_route],
        verifier=token_minter.verifier("pshop"),
        database_url=core_database_url,
        require_sign_in=False,
    )
    async with running_app(app) as client:
        schema = (await client.get("/schema/openapi.json")).json()

    assert set(responses_of(schema, "/mine", "get")) == {"200", "401", "403"}
    assert set(responses_of(schema, "/open", "get")) == {"200"}
