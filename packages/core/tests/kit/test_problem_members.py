"""Problem details name a missing header parameter, and carry a domain error's extension
members (RFC 9457) beside the standard ones."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import HeaderParameter

from atriz_core.client import PUBLIC
from atriz_core.errors import ConflictError, FieldProblem
from atriz_core.kit.service import create_service
from atriz_core.testing import TokenMinter, running_app


@get("/keyed", opt=PUBLIC)
async def keyed(key: Annotated[str, HeaderParameter(name="Request-Key")]) -> dict[str, str]:
    """Needs a header."""
    return {"key": key}


@get("/short", opt=PUBLIC)
async def short() -> None:
    """Fails with extension members, one of which tries to replace a standard member."""
    raise ConflictError(
        "not enough",
        [FieldProblem("lines[0].quantity", "is more than there is")],
        extensions={"short": [{"requested": 2, "available": 1}], "status": 200},
    )


async def test_a_missing_header_is_named_and_extensions_are_added(
    token_minter: TokenMinter, core_database_url: str
) -> None:
    app = create_service(
        name="members",
        route_handlers=[keyed, short],
        verifier=token_minter.verifier("pshop"),
        database_url=core_database_url,
    )
    async with running_app(app) as client:
        missing = await client.get("/keyed?secret=x")
        conflict = await client.get("/short")

    assert missing.status_code == 400
    assert missing.json()["errors"] == [
        {"field": "Request-Key", "reason": "is required (a header parameter)"}
    ]
    assert "secret" not in missing.text, "the query string is not echoed"
    body = conflict.json()
    assert conflict.status_code == 409
    assert body["short"] == [{"requested": 2, "available": 1}]
    assert body["status"] == 409, "an extension never replaces a standard member"
    assert body["errors"] == [{"field": "lines[0].quantity", "reason": "is more than there is"}]
