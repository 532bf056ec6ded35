"""Core running in the test's own event loop, and the client that talks to it.

`running_core(settings)` starts core's app (its lifespan in a task of its own) with a frozen clock
and a mailbox, and hands back a `CoreHarness`: the app, an `httpx.AsyncClient` over
`httpx.ASGITransport` (requests sent together really overlap), the clock, the mail, and helpers
to register, sign in and read the database beside the app. `serving(app)` runs any app's lifespan
the same way, for an app's own tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import jwt
from httpx import ASGITransport, AsyncClient
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from atriz_core.admin import services as admin_services
from atriz_core.app import create_app
from atriz_core.client.revocations import Revocations
from atriz_core.client.user_events import EventCursor, read_user_events
from atriz_core.client.verifier import Principal
from atriz_core.context import RequestContext
from atriz_core.settings import CoreSettings
from atriz_core.testing.direct_sql import fetch_rows, fetch_value
from atriz_core.testing.doubles import FrozenClock, MemoryMailer
from atriz_core.testing.users import TEST_PASSWORD
from atriz_database import DatabaseSettings
from atriz_database.pool import connect

__all__ = ["CoreHarness", "InFlight", "running_app", "running_core", "serving"]


@dataclass
class InFlight:
    """Counts the requests an app is serving at once, so that a concurrency test can show its
    requests really overlapped."""

    current: int = 0
    peak: int = 0

    def wrap(self, app: ASGIApp) -> Callable[..., Awaitable[None]]:
        """`app`, counting the HTTP requests in it."""

        async def counting(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            self.current += 1
            self.peak = max(self.peak, self.current)
            try:
                await app(scope, receive, send)
            finally:
                self.current -= 1

        return counting


@dataclass
class CoreHarness:
    """The app under test and what the test may steer: time, mail, settings.

    `client` sends requests through `httpx.ASGITransport` in the test's own event loop, so
    requests sent together (`asyncio.gather`) really run at the same time, as in a server;
    `in_flight.peak` shows how many did. (Litestar's test client sends them one at a time.)
    """

    app: Litestar
    client: AsyncClient
    clock: FrozenClock
    mailer: MemoryMailer
    settings: CoreSettings
    in_flight: InFlight

    async def register(
        self, email: str = "ana@example.test", password: str = TEST_PASSWORD, name: str = "Ana"
    ) -> dict[str, Any]:
        """Register through `POST /auth/register` (201 asserted); the new user's body."""
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password, "name": name}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(
        self, email: str = "ana@example.test", password: str = TEST_PASSWORD
    ) -> dict[str, Any]:
        """Sign in through `POST /auth/login` (200 asserted); the token pair."""
        response = await self.client.post(
            "/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin_headers(self, email: str = "root@example.test") -> dict[str, str]:
        """Register `email`, grant it `admin` straight in the database, sign it in."""
        await self.register(email=email, name="Root")
        await self.sql_rows(
            "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r"
            " WHERE u.email = $1 AND r.name = 'admin'",
            email,
        )
        return self.bearer(await self.login(email=email))

    async def sql_value(self, sql: str, *args: Any) -> Any:
        """One value read (or written) straight in the test's database, beside the app."""
        return await fetch_value(self.settings.database_url, sql, *args)

    async def sql_rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows read (or written) straight in the test's database, beside the app."""
        return await fetch_rows(self.settings.database_url, sql, *args)

    @asynccontextmanager
    async def role_removal_held_open(
        self, user_id: uuid.UUID, role: str, *, admin_id: uuid.UUID
    ) -> AsyncIterator[None]:
        """Take `role` from the user as administrator `admin_id` does, in a transaction left
        open while the block runs (the user's row locked, the `roles_changed` event stamped with
        the harness's clock), committed after it: for what runs beside a role change."""
        admin = Principal(
            admin_id, "admin@example.test", frozenset({"admin"}), uuid.uuid4(), "jti", 0, 0
        )
        changer = await connect(self.settings.database_url)
        try:
            async with changer.transaction():
                await admin_services.revoke_role(
                    changer, admin, user_id, role, RequestContext(None, None), clock=self.clock
                )
                yield
        finally:
            await changer.close()

    async def apps_refuse(self, access_token: str) -> bool:
        """Whether an app that has read every event of `user_events` so far refuses
        `access_token`: issued at or before the newest event that refuses its user's tokens
        (`Revocations`, the apps' own judge, at the harness's clock)."""
        claims = jwt.decode(access_token, options={"verify_signature": False})
        revocations = Revocations(clock=lambda: self.clock.now().timestamp())
        connection = await connect(self.settings.database_url)
        try:
            for event in await read_user_events(connection, EventCursor(), limit=10_000):
                revocations.apply(event)
        finally:
            await connection.close()
        not_before = revocations.not_before(uuid.UUID(claims["sub"]))
        return not_before is not None and claims["iat"] <= not_before

    async def until_a_statement_waits_on_a_lock(
        self, seconds: float = 5, *, count: int = 1
    ) -> None:
        """Return once `count` statements on the test's database wait on a lock (a row's, a
        transaction's); AssertionError after `seconds`."""
        for _ in range(int(seconds * 100)):
            if await self.sql_value(
                "SELECT count(*) >= $1 FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()",
                count,
            ):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"fewer than {count} statements waited on a lock within {seconds} s")

    @staticmethod
    def bearer(tokens: dict[str, Any]) -> dict[str, str]:
        """The `Authorization` header for a token pair's access token."""
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@asynccontextmanager
async def running_core(
    settings: CoreSettings,
    *,
    peer: tuple[str, int] = ("testclient", 50000),
    database: DatabaseSettings | None = None,
) -> AsyncIterator[CoreHarness]:
    """Core started for a test (its lifespan in the test's event loop), with a frozen clock
    and a mailbox; `peer` is the address every request comes from."""
    clock, mailer, in_flight = FrozenClock(), MemoryMailer(), InFlight()
    app = create_app(settings, clock=clock, mailer=mailer, database=database)
    transport = ASGITransport(app=in_flight.wrap(app), client=peer)
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="https://auth.atriz.test") as client,
    ):
        yield CoreHarness(app, client, clock, mailer, settings, in_flight)


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[None]:
    """Run `app`'s lifespan (start-up, then shut-down when the block ends) in a task of its own.

    pytest-asyncio sets a fixture up and tears it down in different tasks, and the lifespan's
    anyio task group must be left in the task that entered it.
    """
    started, stopping = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stopping.wait()

    task = asyncio.create_task(lifespan(), name="app-lifespan")
    starting = asyncio.create_task(started.wait())
    await asyncio.wait({task, starting}, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        starting.cancel()
        await task  # start-up failed: raise its error here
    try:
        yield
    finally:
        stopping.set()
        await task


@asynccontextmanager
async def running_app(
    app: Litestar,
    *,
    base_url: str = "http://app.atriz.test",
    peer: tuple[str, int] = ("testclient", 50000),
) -> AsyncIterator[AsyncClient]:
    """An app's lifespan running in the test's event loop, and a client that talks to it
    in-process (`httpx.ASGITransport`: requests sent together really overlap)."""
    # Litestar types its `__call__` with its own scope types, which httpx's signature does not
    # name; the app is an ASGI app all the same.
    transport = ASGITransport(app=cast(Any, app), client=peer)
    async with serving(app), AsyncClient(transport=transport, base_url=base_url) as client:
        yield client
