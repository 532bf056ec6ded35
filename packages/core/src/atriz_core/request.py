"""Core's Litestar request class: the services and the caller, read off the request."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request
from litestar.datastructures import State

from atriz_core.client.verifier import Principal
from atriz_core.context import Core, RequestContext
from atriz_core.kit.forwarded import client_address

__all__ = ["CoreRequest"]


class CoreRequest(Request[Principal, Any, State]):
    """Core's request class: `request.core`, `request.context` and, behind a sign-in guard,
    `request.user`.

    Read off the request rather than injected: Litestar 2 resolves a handler's dependencies,
    when there are two or more, in an anyio task group, and that cost a login about 400 us of
    CPU, a third of all its work besides hashing (measured in-process).
    """

    @property
    def core(self) -> Core:
        core: Core = self.app.state.core
        return core

    @property
    def pool(self) -> asyncpg.Pool:
        """Core's pool, for services that must not hold a connection while they hash."""
        pool: asyncpg.Pool = self.app.state.db_pool
        return pool

    @property
    def context(self) -> RequestContext:
        agent = self.headers.get("user-agent")
        trusted = self.core.settings.trusted_proxies
        # Proxies may add a header line of their own rather than extend the first.
        forwarded = ", ".join(self.headers.getall("x-forwarded-for", [])) if trusted else None
        return RequestContext(
            client_address=client_address(
                self.client.host if self.client else None, forwarded, trusted
            ),
            user_agent=agent[:512] if agent else None,
        )
