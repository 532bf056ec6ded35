"""Reads from a real streaming replica (`kit.replica`): a primary and a hot standby of their
own (`ScratchCluster`, the second a `pg_basebackup` of the first), and a small app built by the
kit whose marked route says which server answered (`pg_is_in_recovery()`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar, Request, get, post
from litestar.params import FromPath, JSONBody

from atriz_core.client import PUBLIC
from atriz_core.errors import NotFoundError
from atriz_core.kit.database import Db
from atriz_core.kit.replica import REPLICA_READS, current_reader, wrote_cookie
from atriz_core.kit.service import create_service
from atriz_core.testing import TokenMinter, eventually, serving
from atriz_database import DatabaseSettings, Environment
from atriz_database.connections import create_database
from atriz_database.scratch_cluster import ScratchCluster

pytestmark = pytest.mark.slow  # two clusters of their own, and waits for replay
SERVICE = "items"
_ITEM = "SELECT id, name, pg_is_in_recovery() AS replica FROM items WHERE id = $1"


@get("/items/{item_id:int}", opt={**PUBLIC, **REPLICA_READS})
async def get_item(item_id: FromPath[int], conn: Db) -> dict[str, Any]:
    row = await conn.fetchrow(_ITEM, item_id)
    if row is None:
        raise NotFoundError(f"no item {item_id}")
    return dict(row)


@get("/current-reader", opt={**PUBLIC, **REPLICA_READS})
async def which_current_reader(request: Request[Any, Any, Any], conn: Db) -> dict[str, Any]:
    """Which server serves the read, and where it would ask what must be current."""
    reader = current_reader(request, conn)
    replica = await conn.fetchval("SELECT pg_is_in_recovery()")
    return {"replica": replica, "current": "own connection" if reader is conn else "primary pool"}


@get("/items/{item_id:int}/fresh", opt=PUBLIC)
async def get_fresh_item(item_id: FromPath[int], conn: Db) -> dict[str, Any]:
    row = await conn.fetchrow(_ITEM, item_id)
    if row is None:
        raise NotFoundError(f"no item {item_id}")
    return dict(row)


@get("/slow", opt={**PUBLIC, **REPLICA_READS})
async def slow_read(conn: Db) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT pg_is_in_recovery() AS replica, pg_sleep(1.5)")
    return {"replica": row["replica"]}


@post("/items", opt=PUBLIC)
async def create_item(data: JSONBody[dict[str, str]], conn: Db) -> dict[str, Any]:
    row = await conn.fetchrow("INSERT INTO items (name) VALUES ($1) RETURNING id", data["name"])
    return {"id": row["id"]}


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchCluster]:
    with ScratchCluster.running(tmp_path_factory.mktemp("replica") / "primary") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def replica(
    primary: ScratchCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScratchCluster]:
    folder = tmp_path_factory.mktemp("replica") / "standby"
    with ScratchCluster.running(folder, replica_of=primary) as cluster:
        yield cluster


@pytest.fixture
def database(primary: ScratchCluster) -> str:
    """A database of this test's own on the primary, with the app's table."""
    name = f"items_{uuid.uuid4().hex[:8]}"
    create_database(primary.url(name))
    return name


async def sql(url: str, statement: str, *args: Any) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


@asynccontextmanager
async def replay_paused(replica: ScratchCluster, database: str) -> AsyncIterator[None]:
    """The replica stops replaying the primary's changes inside the block."""
    await sql(replica.url(database), "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await sql(replica.url(database), "SELECT pg_wal_replay_resume()")


@asynccontextmanager
async def items_app(
    primary: ScratchCluster, replica_url: str, database: str, *, max_lag: float = 30.0
) -> AsyncIterator[tuple[Litestar, Callable[[], AsyncClient]]]:
    """The app serving, with a factory of clients (each a caller with its own cookies)."""
    await sql(primary.url(database), "CREATE TABLE items (id serial PRIMARY KEY, name text)")
    app = create_service(
        name=SERVICE,
        route_handlers=[get_item, get_fresh_item, slow_read, create_item, which_current_reader],
        verifier=TokenMinter(audiences=(SERVICE,)).verifier(SERVICE),
        database_url=primary.url(database),
        replica_url=replica_url,
        database=DatabaseSettings(pool_max_size=4, replica_max_lag=max_lag),
        environment=Environment.TEST,
        require_sign_in=False,
    )
    clients: list[AsyncClient] = []

    def caller() -> AsyncClient:
        client = AsyncClient(transport=ASGITransport(app=app), base_url="http://items.test")  # type: ignore[arg-type]
        clients.append(client)
        return client

    async with serving(app):
        await eventually(lambda: app.state.replica.status == "up")
        try:
            yield app, caller
        finally:
            for client in clients:
                await client.aclose()


async def test_marked_reads_come_from_the_replica_the_others_from_the_primary(
    primary: ScratchCluster, replica: ScratchCluster, database: str
) -> None:
    async with items_app(primary, replica.url(database), database) as (_, caller):
        client = caller()
        item = await sql(
            primary.url(database), "INSERT INTO items (name) VALUES ('a') RETURNING id"
        )
        await eventually(async_status(client, f"/items/{item}", 200))

        marked = await client.get(f"/items/{item}")
        fresh = await client.get(f"/items/{item}/fresh")
        assert marked.json() == {"id": item, "name": "a", "replica": True}
        assert fresh.json() == {"id": item, "name": "a", "replica": False}

        async with replay_paused(replica, database):
            newer = await sql(
                primary.url(database), "INSERT INTO items (name) VALUES ('b') RETURNING id"
            )
            # Not replayed yet: the replica answers, and has not got it.
            assert (await client.get(f"/items/{newer}")).status_code == 404
            assert (await client.get(f"/items/{newer}/fresh")).status_code == 200
        await eventually(async_status(client, f"/items/{newer}", 200))

        metrics = (await client.get("/metrics")).text
        assert 'atriz_replica_reads_total{served_by="replica"}' in metrics
        assert "atriz_replica_usable 1.0" in metrics


async def test_a_caller_reads_their_own_write_and_others_the_replica(
    primary: ScratchCluster, replica: ScratchCluster, database: str
) -> None:
    async with items_app(primary, replica.url(database), database) as (app, caller):
        writer, other = caller(), caller()
        async with replay_paused(replica, database):
            created = await writer.post("/items", json={"name": "mine"})
            assert created.status_code == 201
            cookie = created.headers["set-cookie"]
            assert cookie.startswith(f"{wrote_cookie(SERVICE)}=")
            assert "HttpOnly" in cookie
            assert "Max-Age=32" in cookie  # the longest lag allowed, and two probes
            item = created.json()["id"]

            mine = await writer.get(f"/items/{item}")
            assert mine.status_code == 200, "the writer reads their write (from the primary)"
            assert mine.json()["replica"] is False
            assert (await other.get(f"/items/{item}")).status_code == 404, "others: the replica"
            # Served by the primary, a read asks it what must be current on its own connection
            # (a second one from the pool could wait for itself); by the replica, of the pool.
            assert (await writer.get("/current-reader")).json() == {
                "replica": False,
                "current": "own connection",
            }
            assert (await other.get("/current-reader")).json() == {
                "replica": True,
                "current": "primary pool",
            }

        # Once the replica has replayed the write, the writer reads from it again.
        await eventually(
            lambda: app.state.replica.serves(int(writer.cookies[wrote_cookie(SERVICE)]))
        )
        assert (await writer.get(f"/items/{item}")).json()["replica"] is True


async def test_a_lagging_replica_sends_reads_to_the_primary_and_ready_says_degraded(
    primary: ScratchCluster, replica: ScratchCluster, database: str
) -> None:
    async with items_app(primary, replica.url(database), database, max_lag=1) as (app, caller):
        client = caller()
        assert (await client.get("/ready")).json()["status"] == "healthy"
        async with replay_paused(replica, database):
            item = await sql(
                primary.url(database), "INSERT INTO items (name) VALUES ('late') RETURNING id"
            )
            await eventually(lambda: app.state.replica.status == "lagging")

            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["replica"]["status"] == "lagging"
            served = await client.get(f"/items/{item}")
            assert served.status_code == 200
            assert served.json()["replica"] is False
        await eventually(lambda: app.state.replica.status == "up")
        assert (await client.get("/ready")).json()["status"] == "healthy"


async def test_stopping_the_replica_changes_nothing_for_clients_but_ready(
    primary: ScratchCluster, database: str, tmp_path: Path
) -> None:
    with ScratchCluster.running(tmp_path / "standby", replica_of=primary) as doomed:
        async with items_app(primary, doomed.url(database), database) as (app, caller):
            client = caller()
            item = await sql(
                primary.url(database), "INSERT INTO items (name) VALUES ('kept') RETURNING id"
            )
            await eventually(async_status(client, f"/items/{item}", 200))
            assert (await client.get(f"/items/{item}")).json()["replica"] is True

            # A read in progress on the replica when it stops runs again on the primary.
            slow = asyncio.create_task(client.get("/slow"))
            await asyncio.sleep(0.5)
            stopping = asyncio.create_task(asyncio.to_thread(doomed.stop))
            during = await asyncio.gather(*(client.get(f"/items/{item}") for _ in range(20)))
            await stopping
            after = await asyncio.gather(*(client.get(f"/items/{item}") for _ in range(10)))
            interrupted = await slow
            answers = during + after

            assert interrupted.status_code == 200, interrupted.text
            assert interrupted.json() == {"replica": False}
            assert {answer.status_code for answer in answers} == {200}
            assert {answer.json()["name"] for answer in answers} == {"kept"}
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["replica"]["status"] == "down"
            assert ready.json()["checks"]["database"]["status"] == "up"
            assert app.state.replica.failures >= 1


async def test_a_service_starts_without_its_replica_and_reads_from_the_primary(
    primary: ScratchCluster, database: str
) -> None:
    nowhere = primary.url(database).replace(f":{primary.port}/", ":1/")
    await sql(primary.url(database), "CREATE TABLE items (id serial PRIMARY KEY, name text)")
    app = create_service(
        name=SERVICE,
        route_handlers=[get_item],
        verifier=TokenMinter(audiences=(SERVICE,)).verifier(SERVICE),
        database_url=primary.url(database),
        replica_url=nowhere,
        environment=Environment.TEST,
        require_sign_in=False,
    )
    item = await sql(primary.url(database), "INSERT INTO items (name) VALUES ('x') RETURNING id")
    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://items.test") as client,  # type: ignore[arg-type]
    ):
        assert (await client.get(f"/items/{item}")).json()["replica"] is False
        ready = await client.get("/ready")
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["replica"]["status"] == "down"


def async_status(client: AsyncClient, path: str, status: int) -> Callable[[], Awaitable[bool]]:
    async def answered() -> bool:
        return (await client.get(path)).status_code == status

    return answered
