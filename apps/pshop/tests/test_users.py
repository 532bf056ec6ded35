"""The shop's user policy, driven by core's real admin routes: a deleted cashier's sales keep
their history (the cashier shown as removed), a deleted customer is unlinked, and a
deactivated cashier is refused within seconds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from atriz_core.kit.events import CONSUMERS_STATE_KEY
from atriz_core.settings import CoreSettings
from atriz_core.testing import eventually, running_core
from atriz_pshop.sales import services

RunningPshop = Any


async def test_a_deleted_cashiers_sales_keep_their_history(
    pshop: RunningPshop, make_user: Any, core_settings: CoreSettings
) -> None:
    product = await pshop.product(stock=10)
    cashier = await make_user(roles=("pshop.cashier",))
    customer = await make_user()
    sale = (
        await pshop.sell([(product["id"], 2)], user=cashier, customer_id=str(customer.id))
    ).json()
    kept = (await pshop.sell([(product["id"], 1)])).json()

    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        for user in (cashier, customer):
            deleted = await core.client.delete(f"/admin/users/{user.id}", headers=admin)
            assert deleted.status_code == 204

        consumer = pshop.app.state[CONSUMERS_STATE_KEY]["pshop"]

        async def applied() -> bool:
            return bool(consumer.applied >= 2)

        await eventually(applied, seconds=15)

    read = await pshop.client.get(f"/sales/{sale['id']}", headers=pshop.manager.headers)
    other = await pshop.client.get(f"/sales/{kept['id']}", headers=pshop.manager.headers)
    listed = await pshop.client.get("/sales", headers=pshop.manager.headers)

    body = read.json()
    assert body["cashier_id"] == str(cashier.id), "the id stays for the till's history"
    assert body["cashier_removed"] is True
    assert body["customer_id"] is None, "a deleted customer is unlinked"
    assert body["total_minor"] == sale["total_minor"]
    assert other.json()["cashier_removed"] is False
    assert {s["id"]: s["cashier_removed"] for s in listed.json()["items"]} == {
        sale["id"]: True,
        kept["id"]: False,
    }
    assert await pshop.ledger(product["id"]) == await pshop.on_hand(product["id"]) == 7


async def test_a_deactivated_cashier_is_refused_within_seconds(
    pshop: RunningPshop, core_settings: CoreSettings
) -> None:
    product = await pshop.product(stock=10)
    assert (await pshop.sell([(product["id"], 1)])).status_code == 201

    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        response = await core.client.post(
            f"/admin/users/{pshop.cashier.id}/deactivate", headers=admin
        )
        assert response.status_code == 204

        async def refused() -> bool:
            answer = await pshop.sell([(product["id"], 1)])
            return bool(answer.status_code == 401)

        took = await eventually(refused, seconds=5)

    assert took < 5
    assert await pshop.on_hand(product["id"]) <= 9
    await pshop.assert_reconciled()


@pytest.mark.parametrize("route", ["sale", "void"])
async def test_a_user_deleted_during_their_write_leaves_no_idempotency_key(
    pshop: RunningPshop, make_user: Any, core_database_url: str, monkeypatch: Any, route: str
) -> None:
    """The request was signed in before core deleted its user, and its key was claimed after
    the shop applied the deletion (which drops the user's keys): a key of a deleted user
    stayed. The write holds its user before it claims the key, so it is refused (401)."""
    product = await pshop.product(stock=10)
    sale = (await pshop.sell([(product["id"], 1)])).json()
    user = await make_user(roles=("pshop.manager",))
    started, go_on = asyncio.Event(), asyncio.Event()
    hold = services.hold_sale_users

    async def paused(*args: Any, **kwargs: Any) -> Any:
        started.set()  # signed in, its transaction open, nothing written or held yet
        await go_on.wait()
        return await hold(*args, **kwargs)

    monkeypatch.setattr(services, "hold_sale_users", paused)
    consumer = pshop.app.state[CONSUMERS_STATE_KEY]["pshop"]
    before = consumer.applied
    writing = asyncio.create_task(
        pshop.sell([(product["id"], 1)], user=user)
        if route == "sale"
        else pshop.client.post(
            f"/sales/{sale['id']}/void",
            headers={**user.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    core = await asyncpg.connect(core_database_url)
    try:
        async with core.transaction():
            await core.execute("UPDATE users SET deleted_at = now() WHERE id = $1", user.id)
            await core.execute(
                "INSERT INTO user_events (user_id, event_type) VALUES ($1, 'deleted')", user.id
            )
    finally:
        await core.close()
    await eventually(lambda: _true(consumer.applied > before))
    go_on.set()
    written = await asyncio.wait_for(writing, 10)

    assert written.status_code == 401, written.text
    keys = await pshop.sql("SELECT count(*) FROM idempotency_keys WHERE user_id = $1", user.id)
    assert keys == 0


async def _true(value: bool) -> bool:
    return value
