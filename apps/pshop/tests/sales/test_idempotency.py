"""`Idempotency-Key`: required on sales, replayed for the same body, refused for another,
409 while the first is in flight, written in the sale's transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from atriz_core.testing import beside, lock_waiters
from atriz_pshop.idempotency import purge_expired_keys

RunningPshop = Any


async def test_a_sale_without_a_key_is_refused(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)

    response = await pshop.client.post(
        "/sales",
        json={"lines": [{"product_id": product["id"], "quantity": 1}]},
        headers=pshop.cashier.headers,
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "Idempotency-Key", "reason": "is required (a header parameter)"}
    ]
    assert await pshop.on_hand(product["id"]) == 5


@pytest.mark.pgbouncer  # and through PgBouncer: the key is written with the sale there too
async def test_the_same_key_and_body_replay_the_first_response(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)
    key = str(uuid.uuid4())

    first = await pshop.sell([(product["id"], 2)], key=key)
    second = await pshop.sell([(product["id"], 2)], key=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert await pshop.on_hand(product["id"]) == 3, "sold once"
    assert await pshop.sql("SELECT count(*) FROM sales") == 1


async def test_the_same_key_with_another_body_is_refused(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)
    key = str(uuid.uuid4())
    await pshop.sell([(product["id"], 1)], key=key)

    other = await pshop.sell([(product["id"], 2)], key=key)

    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await pshop.on_hand(product["id"]) == 4


async def test_keys_are_per_user(pshop: RunningPshop, make_user: Any) -> None:
    product = await pshop.product(stock=5)
    other = await make_user(roles=("pshop.cashier",))

    mine = await pshop.sell([(product["id"], 1)], key="shared-key")
    theirs = await pshop.sell([(product["id"], 1)], key="shared-key", user=other)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert await pshop.on_hand(product["id"]) == 3


async def test_a_failed_sale_leaves_its_key_free(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=1)
    key = str(uuid.uuid4())

    short = await pshop.sell([(product["id"], 2)], key=key)
    retried = await pshop.sell([(product["id"], 2)], key=key)
    restocked = await pshop.client.post(
        f"/stock/{product['id']}/restock", json={"quantity": 1}, headers=pshop.manager.headers
    )
    sold = await pshop.sell([(product["id"], 2)], key=key)

    assert short.status_code == retried.status_code == 409
    assert restocked.status_code == 200
    assert sold.status_code == 201
    assert "idempotent-replayed" not in sold.headers


@pytest.mark.pgbouncer
async def test_a_key_in_flight_answers_409(pshop: RunningPshop) -> None:
    """A first request holding the key (its transaction open, blocked on a locked product):
    the second gets 409 at once instead of queueing behind it."""
    product = await pshop.product(stock=5)
    key = str(uuid.uuid4())
    blocker = await beside(pshop.settings.database_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "SELECT on_hand FROM inventory WHERE product_id = $1 FOR UPDATE",
            uuid.UUID(product["id"]),
        )
        first = asyncio.create_task(pshop.sell([(product["id"], 1)], key=key))
        assert await lock_waiters(blocker) == 1, "the first request waits behind the lock"
        second = await pshop.sell([(product["id"], 1)], key=key)
        await transaction.rollback()
        first_response = await first
    finally:
        await blocker.close()

    assert second.status_code == 409, second.text
    assert second.json()["errors"][0]["field"] == "Idempotency-Key"
    assert first_response.status_code == 201
    assert await pshop.on_hand(product["id"]) == 4


@pytest.mark.pgbouncer
async def test_ten_concurrent_requests_with_one_key_make_one_sale(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=50)
    key = str(uuid.uuid4())

    responses = await asyncio.gather(
        *(pshop.sell([(product["id"], 1)], key=key) for _ in range(10))
    )

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1, "every 201 is the one sale"
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    assert pshop.in_flight.peak >= 2, "the requests overlapped"
    assert await pshop.sql("SELECT count(*) FROM sales") == 1
    assert await pshop.on_hand(product["id"]) == 49
    assert await pshop.sql("SELECT count(*) FROM idempotency_keys") == 1


async def test_voids_and_refunds_take_a_key_too(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)
    sale = (await pshop.sell([(product["id"], 3)])).json()
    headers = {**pshop.manager.headers, "Idempotency-Key": "refund-1"}
    body = {"lines": [{"sale_line_id": sale["lines"][0]["id"], "quantity": 1}]}

    first = await pshop.client.post(f"/sales/{sale['id']}/refunds", json=body, headers=headers)
    again = await pshop.client.post(f"/sales/{sale['id']}/refunds", json=body, headers=headers)
    other = await pshop.client.post(
        f"/sales/{sale['id']}/refunds",
        json={"lines": [{"sale_line_id": sale["lines"][0]["id"], "quantity": 2}]},
        headers=headers,
    )
    void_headers = {**pshop.manager.headers, "Idempotency-Key": "void-1"}
    sale2 = (await pshop.sell([(product["id"], 1)])).json()
    void = await pshop.client.post(f"/sales/{sale2['id']}/void", json={}, headers=void_headers)
    void_again = await pshop.client.post(
        f"/sales/{sale2['id']}/void", json={}, headers=void_headers
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert await pshop.sql("SELECT count(*) FROM refunds") == 1
    assert void.status_code == void_again.status_code == 200
    assert void_again.headers["idempotent-replayed"] == "true"
    assert await pshop.on_hand(product["id"]) == 3  # 5 - 3 + 1 refunded, -1 + 1 voided
    await pshop.assert_reconciled()


async def test_expired_keys_are_purged_and_can_be_used_again(pshop: RunningPshop) -> None:

    product = await pshop.product(stock=5)
    await pshop.sell([(product["id"], 1)], key="old")
    await pshop.sell([(product["id"], 1)], key="fresh")
    await pshop.sql(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 s' WHERE key = 'old'"
    )

    reused = await pshop.sell([(product["id"], 2)], key="old")
    await pshop.sql(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 s' WHERE key = 'old'"
    )
    connection = await beside(pshop.settings.database_url)
    try:
        purged = await purge_expired_keys(connection, batch=1)
    finally:
        await connection.close()

    assert reused.status_code == 201, "an expired key is a new key, whatever its old body"
    assert "idempotent-replayed" not in reused.headers
    assert purged == 1
    assert await pshop.sql("SELECT array_agg(key) FROM idempotency_keys") == ["fresh"]


async def test_a_malformed_key_is_named_as_the_header_it_came_in(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)

    response = await pshop.sell([(product["id"], 1)], key="a b")

    assert response.status_code == 400
    (problem,) = response.json()["errors"]
    assert problem["field"] == "Idempotency-Key"
    assert await pshop.on_hand(product["id"]) == 5


@pytest.mark.parametrize("change", ["is_active = false", "deleted_at = now()"])
async def test_a_retried_sale_replays_whatever_became_of_its_customer(
    pshop: RunningPshop, make_user: Any, core_database_url: str, change: str
) -> None:
    """The till never got the first answer and retries: the sale was made, so its response is
    replayed. Checking the customer before the key gave a 422 on `customer_id` instead, and
    the till, told the sale failed, would ring it up again."""
    product = await pshop.product(stock=10)
    customer = await make_user()
    key = str(uuid.uuid4())
    first = await pshop.sell([(product["id"], 1)], key=key, customer_id=str(customer.id))
    assert first.status_code == 201, first.text
    core = await asyncpg.connect(core_database_url)
    try:  # the customer leaves: deactivated, or deleted before the shop applied it
        await core.execute(f"UPDATE users SET {change} WHERE id = $1", customer.id)
    finally:
        await core.close()

    retry = await pshop.sell([(product["id"], 1)], key=key, customer_id=str(customer.id))

    assert retry.status_code == 201, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert await pshop.on_hand(product["id"]) == 9
