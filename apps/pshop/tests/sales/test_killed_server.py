"""A real server process killed with `kill -9` in the middle of a sale leaves no partial sale:
the sale's transaction never commits, so PostgreSQL rolls every statement of it back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from atriz_core.testing import TokenMinter, beside, lock_waiters
from atriz_database.testing import free_port

RunningPshop = Any
HERE = Path(__file__).resolve().parent.parent
SESSIONS = """
SELECT COALESCE(array_agg(pid), '{}') FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


async def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not become healthy")


@pytest.mark.slow
async def test_a_server_killed_mid_sale_leaves_no_partial_sale(
    pshop: RunningPshop, token_minter: TokenMinter
) -> None:
    first, second = sorted(
        [await pshop.product(stock=5), await pshop.product(stock=5)], key=lambda p: p["id"]
    )
    port = free_port()
    settings = pshop.settings
    env = {
        **os.environ,
        "ATRIZ_ENV": "test",
        "PSHOP_DATABASE_URL": settings.database_url,
        "PSHOP_SHARED_DATABASE_URL": settings.shared_database_url,
        "ATRIZ_DB_POOL_MIN": "1",
        "ATRIZ_DB_POOL_MAX": "2",
        "PSHOP_TEST_JWKS": json.dumps(token_minter.jwks),
        "PSHOP_TEST_ISSUER": token_minter.issuer,
    }
    command = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
        "--working-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-log", "pshop_server:app_from_env",
    ]  # fmt: skip
    blocker = await beside(settings.database_url)
    # The sessions of the in-process app the fixture runs, to tell the server's apart.
    before = await blocker.fetchval(SESSIONS)
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, killed below
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, server)
        # Hold the second product's row: the sale takes the first product (ascending order),
        # then waits here, inside its transaction, when the server dies.
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute(
            "SELECT on_hand FROM inventory WHERE product_id = $1 FOR UPDATE",
            uuid.UUID(second["id"]),
        )
        async with httpx.AsyncClient(timeout=30) as client:
            sale = asyncio.create_task(
                client.post(
                    f"{url}/sales",
                    json={
                        "lines": [
                            {"product_id": first["id"], "quantity": 2},
                            {"product_id": second["id"], "quantity": 2},
                        ]
                    },
                    headers={**pshop.cashier.headers, "Idempotency-Key": "killed-1"},
                )
            )
            waiting = await lock_waiters(blocker)
            assert waiting == 1, "the sale is in flight, past its first product"

            os.killpg(server.pid, signal.SIGKILL)
            await asyncio.to_thread(server.wait, 10)
            with pytest.raises(httpx.HTTPError):
                await sale
        await holding.rollback()
        # The server's sessions notice their client is gone and end, rolling back.
        for _ in range(200):
            left = set(await blocker.fetchval(SESSIONS)) - set(before)
            if not left:
                break
            await asyncio.sleep(0.05)
        assert not left, "the killed server's sessions ended"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        await blocker.close()

    assert await pshop.on_hand(first["id"]) == 5
    assert await pshop.on_hand(second["id"]) == 5
    for table in ("sales", "sale_lines", "idempotency_keys"):
        assert await pshop.sql(f"SELECT count(*) FROM {table}") == 0, table
    assert await pshop.sql("SELECT count(*) FROM stock_movements WHERE reason = 'sale'") == 0
    await pshop.assert_reconciled()
