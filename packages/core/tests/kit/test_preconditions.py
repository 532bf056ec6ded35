"""Conditional writes: a stale precondition is a 412 whose problem details carry extension
members (the current version), a missing one a 428."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.testing import TestClient

from atriz_core.errors import PreconditionFailedError, PreconditionRequiredError
from atriz_core.kit.problems import EXCEPTION_HANDLERS


@get("/stale", sync_to_thread=False)
def stale() -> None:
    raise PreconditionFailedError("the article is at version 3", current_version=3)


@get("/blind", sync_to_thread=False)
def blind() -> None:
    raise PreconditionRequiredError("send If-Match")


def test_412_carries_extension_members_and_428_is_plain() -> None:
    app = Litestar([stale, blind], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        failed = client.get("/stale")
        required = client.get("/blind")

    assert failed.status_code == 412
    assert failed.headers["content-type"].startswith("application/problem+json")
    body = failed.json()
    assert body["current_version"] == 3
    assert (body["status"], body["title"]) == (412, "Precondition failed")
    assert required.status_code == 428
    assert "current_version" not in required.json()
