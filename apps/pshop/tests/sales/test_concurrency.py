"""Concurrent sellers, through real concurrent clients (asyncio tasks over `ASGITransport`,
overlapping in the app as in a server: `in_flight.peak` shows it): stock never goes negative,
sales never deadlock, and on-hand always equals the ledger's sum."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from typing import Any

import pytest

from atriz_core.testing import beside, lock_waiters
from atriz_pshop.settings import SETTINGS_STATE_KEY

RunningPshop = Any
# Straight and through PgBouncer in transaction mode: the sale's locks and its key hold there too.
pytestmark = pytest.mark.pgbouncer


async def test_100_buyers_of_10_units_sell_exactly_10(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=10)

    responses = await asyncio.gather(*(pshop.sell([(product["id"], 1)]) for _ in range(100)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 90, statuses
    assert pshop.in_flight.peak >= 10, f"requests overlapped: peak {pshop.in_flight.peak}"
    for refused in (r for r in responses if r.status_code == 409):
        (short,) = refused.json()["short"]
        assert (short["requested"], short["available"]) == (1, 0)
    assert await pshop.on_hand(product["id"]) == 0
    assert await pshop.ledger(product["id"]) == 0
    assert await pshop.sql("SELECT count(*) FROM sales") == 10
    await pshop.assert_reconciled()


async def test_50_sales_over_5_products_in_shuffled_orders_never_deadlock(
    pshop: RunningPshop,
) -> None:
    products = [await pshop.product(stock=12) for _ in range(5)]
    shuffler = random.Random(20261202)  # noqa: S311 - test data, not secrets

    def basket() -> list[tuple[str, int]]:
        lines = [(p["id"], shuffler.randint(1, 2)) for p in products]
        shuffler.shuffle(lines)
        return lines

    baskets = [basket() for _ in range(50)]

    responses = await asyncio.gather(*(pshop.sell(lines) for lines in baskets))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    assert pshop.in_flight.peak >= 10, f"requests overlapped: peak {pshop.in_flight.peak}"
    sold: dict[str, int] = dict.fromkeys((p["id"] for p in products), 0)
    for lines, response in zip(baskets, responses, strict=True):
        if response.status_code == 201:
            for product_id, quantity in lines:
                sold[product_id] += quantity
    for product in products:
        on_hand = await pshop.on_hand(product["id"])
        assert on_hand == 12 - sold[product["id"]] >= 0
        assert await pshop.ledger(product["id"]) == on_hand
    await pshop.assert_reconciled()


async def test_a_sale_failing_on_its_last_line_leaves_nothing(pshop: RunningPshop) -> None:
    products = [await pshop.product(stock=5) for _ in range(3)]
    last = max(products, key=lambda p: p["id"])  # taken last: ascending product order
    lines = [(p["id"], 6 if p is last else 1) for p in products]
    key = str(uuid.uuid4())

    response = await pshop.sell(lines, key=key)

    assert response.status_code == 409
    assert [s["product_id"] for s in response.json()["short"]] == [last["id"]]
    for product in products:
        assert await pshop.on_hand(product["id"]) == 5
    for table in ("sales", "sale_lines", "idempotency_keys"):
        assert await pshop.sql(f"SELECT count(*) FROM {table}") == 0, table
    assert await pshop.sql("SELECT count(*) FROM stock_movements WHERE reason <> 'restock'") == 0
    await pshop.assert_reconciled()


async def test_sales_racing_restocks_and_voids_keep_the_ledger_whole(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=5)
    first = (await pshop.sell([(product["id"], 2)])).json()

    async def restock() -> Any:
        return await pshop.client.post(
            f"/stock/{product['id']}/restock", json={"quantity": 1}, headers=pshop.manager.headers
        )

    async def void() -> Any:
        return await pshop.client.post(
            f"/sales/{first['id']}/void", json={"reason": "mistake"}, headers=pshop.manager.headers
        )

    work = [pshop.sell([(product["id"], 1)]) for _ in range(20)]
    work += [restock() for _ in range(5)] + [void(), void()]
    responses = await asyncio.gather(*work)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 201, 409}, statuses
    assert statuses[-2:].count(200) == 1, "voided once; the other void is a 409"
    assert await pshop.on_hand(product["id"]) >= 0
    assert await pshop.ledger(product["id"]) == await pshop.on_hand(product["id"])
    await pshop.assert_reconciled()


async def test_a_sale_waits_for_a_held_product_at_most_the_lock_timeout(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=5)
    # The app reads its settings on every request: a short timeout for this test only.
    pshop.app.state[SETTINGS_STATE_KEY] = replace(pshop.settings, lock_timeout=0.5)
    blocker = await beside(pshop.settings.database_url)
    try:
        async with blocker.transaction():
            await blocker.execute(
                "SELECT on_hand FROM inventory WHERE product_id = $1 FOR UPDATE",
                uuid.UUID(product["id"]),
            )
            response = await pshop.sell([(product["id"], 1)])
    finally:
        await blocker.close()

    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert await pshop.on_hand(product["id"]) == 5
    assert await pshop.sql("SELECT count(*) FROM sales") == 0
    assert (await pshop.sell([(product["id"], 1)])).status_code == 201


async def test_a_void_queued_behind_a_refund_sees_the_refund(pshop: RunningPshop) -> None:
    """A refund, then a void, of one sale queue behind a third holder of the sale's row: the
    refund goes first, and the void must then see it (it never updates the sale's row, so a
    void reading refunds in its locking statement missed it and cancelled a refunded sale:
    the stock and the money came back twice)."""
    product = await pshop.product(stock=2, price_minor=1000)
    sale = (await pshop.sell([(product["id"], 2)])).json()
    line = sale["lines"][0]["id"]
    holder = await beside(pshop.settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT FROM sales WHERE id = $1 FOR UPDATE", uuid.UUID(sale["id"])
            )
            refunding = asyncio.create_task(
                pshop.client.post(
                    f"/sales/{sale['id']}/refunds",
                    json={"lines": [{"sale_line_id": line, "quantity": 2, "restock": True}]},
                    headers=pshop.manager.headers,
                )
            )
            assert await lock_waiters(holder) >= 1
            voiding = asyncio.create_task(
                pshop.client.post(
                    f"/sales/{sale['id']}/void", json={}, headers=pshop.manager.headers
                )
            )
            assert await lock_waiters(holder, at_least=2) >= 2
        refunded, voided = await refunding, await voiding
    finally:
        await holder.close()

    assert refunded.status_code == 201, refunded.text
    assert voided.status_code == 409, voided.text
    assert "refunds" in voided.json()["detail"]
    assert await pshop.on_hand(product["id"]) == 2
    assert await pshop.sql("SELECT status FROM sales") == "completed"
    await pshop.assert_reconciled()


async def test_withdrawing_or_repricing_a_product_waits_for_its_sale_in_flight(
    pshop: RunningPshop,
) -> None:
    """A sale waits for another till's hold on the product's stock; the manager withdraws the
    product and reprices it meanwhile. Their answers come after the sale commits (at the price
    it read): never a sale committed after a withdrawal or repricing was answered."""
    product = await pshop.product(stock=5, price_minor=250)
    manager = pshop.manager.headers
    holder = await beside(pshop.settings.database_url)
    try:
        async with holder.transaction():  # another till's sale of the product, in flight
            await holder.execute(
                "SELECT FROM inventory WHERE product_id = $1 FOR UPDATE",
                uuid.UUID(product["id"]),
            )
            selling = asyncio.create_task(pshop.sell([(product["id"], 1)]))
            assert await lock_waiters(holder) >= 1
            withdrawing = asyncio.create_task(
                pshop.client.post(f"/products/{product['id']}/deactivate", headers=manager)
            )
            repricing = asyncio.create_task(
                pshop.client.patch(
                    f"/products/{product['id']}", json={"price_minor": 999}, headers=manager
                )
            )
            assert await lock_waiters(holder, at_least=3) >= 3
            assert not withdrawing.done()
            assert not repricing.done()
        sold, withdrawn, repriced = await asyncio.gather(selling, withdrawing, repricing)
    finally:
        await holder.close()

    assert sold.status_code == 201, sold.text
    assert sold.json()["total_minor"] == 250
    assert withdrawn.status_code == 200, withdrawn.text
    assert repriced.status_code == 200, repriced.text
    late = await pshop.sell([(product["id"], 1)])
    assert late.status_code == 422, late.text
    assert pshop.in_flight.peak >= 3
