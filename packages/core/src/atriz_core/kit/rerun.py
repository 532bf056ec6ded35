"""Running a request again inside the app: its body replayed, its scope as it first came.

The transaction retry (`kit.database`) runs a write again after a serialization failure; the
replica routing (`kit.replica`) runs a read again on the primary after the replica failed it.
Both need the request as it reached them, not as the failed attempt left it.
"""

from __future__ import annotations

import copy
from typing import Any

from litestar.types import Receive, Scope
from litestar.utils.scope.state import CONNECTION_STATE_KEY

__all__ = ["SAFE_METHODS", "declared_length", "fresh_scope", "read_body", "replay"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def declared_length(scope: Scope) -> int:
    """The request's `Content-Length`, 0 when absent or malformed."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def read_body(receive: Receive, limit: int) -> tuple[list[Any], bool]:
    """The request's body messages; False when it ended in a disconnect or passed `limit`."""
    messages: list[Any] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > limit:
            return messages, False
        if not message.get("more_body", False):
            return messages, True


def replay(messages: list[Any], receive: Receive) -> Receive:
    """A `receive` that hands out `messages` first, then waits on the real one (a disconnect)."""
    pending = list(messages)

    async def replaying() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying


def fresh_scope(scope: Scope, **extra: Any) -> Scope:
    """The scope as it reached the caller, for one attempt of its own, with `extra` keys.

    Litestar keeps per-request state in `scope["state"]` (the parsed body, whether the response
    started, cached dependencies): each attempt gets a copy of it as it was before the first,
    so that an attempt starts where the first one did, not where the last one failed.
    """
    state = dict(scope.get("state", {}))
    if CONNECTION_STATE_KEY in state:
        state[CONNECTION_STATE_KEY] = copy.copy(state[CONNECTION_STATE_KEY])
    fresh: dict[str, Any] = {**scope, "state": state, **extra}
    return fresh  # type: ignore[return-value]  # a Scope with keys of ours added
