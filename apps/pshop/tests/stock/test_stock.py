"""Stock: restock, adjust and count by managers, each with its movement; levels and the
low-stock list; a product's movements a page at a time; the reconciliation report; and a
ledger that refuses to be changed."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from atriz_database.urls import with_credentials

RunningPshop = Any


async def test_restock_adjust_and_count_each_write_their_movement(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)
    url = f"/stock/{product['id']}"
    headers = pshop.manager.headers

    restocked = await pshop.client.post(f"{url}/restock", json={"quantity": 10}, headers=headers)
    adjusted = await pshop.client.post(
        f"{url}/adjust", json={"quantity": -3, "note": "broken in transit"}, headers=headers
    )
    counted = await pshop.client.post(
        f"{url}/count", json={"counted": 9, "note": "monthly count"}, headers=headers
    )
    same = await pshop.client.post(f"{url}/count", json={"counted": 9}, headers=headers)

    assert [r.json()["on_hand"] for r in (restocked, adjusted, counted, same)] == [15, 12, 9, 9]
    movements = await pshop.client.get(f"{url}/movements", headers=headers)
    assert [(m["reason"], m["quantity"]) for m in movements.json()["items"]] == [
        ("count", 0),
        ("count", -3),
        ("adjustment", -3),
        ("restock", 10),
        ("restock", 5),
    ]
    assert movements.json()["items"][2]["note"] == "broken in transit"
    assert {m["user_id"] for m in movements.json()["items"]} == {str(pshop.manager.id)}
    assert await pshop.ledger(product["id"]) == 9
    await pshop.assert_reconciled()


async def test_an_adjustment_below_zero_is_refused(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=2)
    url = f"/stock/{product['id']}/adjust"

    below = await pshop.client.post(
        url, json={"quantity": -3, "note": "lost"}, headers=pshop.manager.headers
    )
    zero = await pshop.client.post(
        url, json={"quantity": 0, "note": "nothing"}, headers=pshop.manager.headers
    )
    no_reason = await pshop.client.post(url, json={"quantity": -1}, headers=pshop.manager.headers)

    assert below.status_code == 409
    assert below.json()["errors"][0]["field"] == "quantity"
    assert zero.status_code == 422
    assert no_reason.status_code == 400
    assert no_reason.json()["errors"][0]["field"] == "note"
    assert await pshop.on_hand(product["id"]) == 2


async def test_bad_stock_input_is_refused_naming_the_field(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=2)
    url = f"/stock/{product['id']}"
    cases = [
        ("restock", {"quantity": 0}, "quantity"),
        ("restock", {"quantity": -5}, "quantity"),
        ("restock", {"quantity": 5, "note": "x" * 501}, "note"),
        ("count", {"counted": -1}, "counted"),
        ("adjust", {"quantity": 1, "note": ""}, "note"),
        # PostgreSQL text holds no NUL: refused as the body is read, naming the field.
        ("adjust", {"quantity": 1, "note": "nul \x00 inside"}, "note"),
        ("restock", {"quantity": 5, "note": "\x00"}, "note"),
    ]
    for action, body, field in cases:
        response = await pshop.client.post(
            f"{url}/{action}", json=body, headers=pshop.manager.headers
        )
        assert response.status_code == 400, (action, body, response.text)
        assert response.json()["errors"][0]["field"] == field
    missing = await pshop.client.post(
        f"/stock/{uuid.uuid4()}/restock", json={"quantity": 1}, headers=pshop.manager.headers
    )
    assert missing.status_code == 404
    assert await pshop.on_hand(product["id"]) == 2


async def test_levels_and_the_low_stock_list(pshop: RunningPshop) -> None:
    low = await pshop.product(stock=2, reorder_level=2, sku="A-LOW")
    fine = await pshop.product(stock=9, reorder_level=2, sku="B-FINE")
    empty = await pshop.product(stock=0, sku="C-EMPTY")
    retired = await pshop.product(stock=0, sku="D-RETIRED")
    await pshop.client.post(f"/products/{retired['id']}/deactivate", headers=pshop.manager.headers)

    levels = await pshop.client.get("/stock?limit=2", headers=pshop.cashier.headers)
    rest = await pshop.client.get(
        "/stock", params={"cursor": levels.json()["next_cursor"]}, headers=pshop.cashier.headers
    )
    lows = await pshop.client.get("/stock/low", headers=pshop.cashier.headers)
    one = await pshop.client.get(f"/stock/{fine['id']}", headers=pshop.cashier.headers)

    skus = [item["sku"] for page in (levels, rest) for item in page.json()["items"]]
    assert skus == ["A-LOW", "B-FINE", "C-EMPTY", "D-RETIRED"]
    assert [item["product_id"] for item in lows.json()["items"]] == [low["id"], empty["id"]]
    assert one.json()["on_hand"] == 9
    assert one.json()["low"] is False


async def test_movements_come_a_page_at_a_time(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=1)
    for _ in range(4):
        await pshop.client.post(
            f"/stock/{product['id']}/restock", json={"quantity": 1}, headers=pshop.manager.headers
        )
    url = f"/stock/{product['id']}/movements"

    first = await pshop.client.get(f"{url}?limit=3", headers=pshop.manager.headers)
    second = await pshop.client.get(
        url,
        params={"limit": 3, "cursor": first.json()["next_cursor"]},
        headers=pshop.manager.headers,
    )
    missing = await pshop.client.get(
        f"/stock/{uuid.uuid4()}/movements", headers=pshop.manager.headers
    )

    ids = [m["id"] for page in (first, second) for m in page.json()["items"]]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)
    assert second.json()["next_cursor"] is None
    assert missing.status_code == 404


async def test_the_reconciliation_report_shows_drift_made_behind_the_apps_back(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=5)
    await pshop.sell([(product["id"], 2)])
    await pshop.assert_reconciled()

    # What the design forbids, done by hand: on-hand changed without a movement.
    await pshop.sql(
        "UPDATE inventory SET on_hand = on_hand + 1 WHERE product_id = $1", uuid.UUID(product["id"])
    )
    report = await pshop.client.get("/stock/reconciliation", headers=pshop.manager.headers)

    assert report.json()["drift"] == [{"product_id": product["id"], "on_hand": 4, "ledger": 3}]
    assert report.json()["products"] == 1


async def test_the_ledger_refuses_update_and_delete_even_from_its_owner(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=5)

    for statement in (
        "UPDATE stock_movements SET quantity = 50",
        "DELETE FROM stock_movements",
        "UPDATE stock_movements SET note = 'x' WHERE false",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pshop.sql(statement)
    assert await pshop.ledger(product["id"]) == 5


async def test_the_apps_role_may_only_append_to_the_ledger(pshop: RunningPshop) -> None:
    """A login in `pshop_writer` (the app's production role) lacks UPDATE and DELETE on the
    ledger: the privilege check refuses before the trigger runs."""
    name = f"pshop_test_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    await pshop.sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE pshop_writer")
    product = await pshop.product(stock=1)
    url = with_credentials(pshop.settings.database_url, name, password)
    try:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "INSERT INTO stock_movements (product_id, quantity, reason, user_id)"
                " VALUES ($1, 1, 'restock', $2)",
                uuid.UUID(product["id"]),
                pshop.manager.id,
            )
            for statement in (
                "UPDATE stock_movements SET quantity = 2",
                "DELETE FROM stock_movements",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await connection.execute(statement)
        finally:
            await connection.close()
    finally:
        await pshop.sql(f"DROP OWNED BY {name}")
        await pshop.sql(f"DROP ROLE {name}")


async def test_stock_past_what_on_hand_can_hold_is_refused_naming_the_request(
    pshop: RunningPshop,
) -> None:
    """On-hand is an integer: a restock, or a refund's or void's restock, that would take it
    past 2**31 - 1 is a 409 saying so (it was a 400 naming a `body` the request did not have,
    or none at all), and nothing is written."""
    product = await pshop.product(stock=3)
    sale = (await pshop.sell([(product["id"], 1)])).json()
    product_id = uuid.UUID(product["id"])
    room = 2**31 - 1 - 2
    # Goods received behind the app's back, ledger and on-hand together, as the app would.
    await pshop.sql(
        "INSERT INTO stock_movements (product_id, quantity, reason, user_id, note)"
        " VALUES ($1, $2, 'restock', $3, 'a big delivery')",
        product_id,
        room,
        pshop.manager.id,
    )
    await pshop.sql(
        "UPDATE inventory SET on_hand = on_hand + $2 WHERE product_id = $1", product_id, room
    )
    manager = pshop.manager.headers

    restocked = await pshop.client.post(
        f"/stock/{product['id']}/restock", json={"quantity": 1}, headers=manager
    )
    refunded = await pshop.client.post(
        f"/sales/{sale['id']}/refunds",
        json={"lines": [{"sale_line_id": sale["lines"][0]["id"], "quantity": 1, "restock": True}]},
        headers=manager,
    )
    voided = await pshop.client.post(f"/sales/{sale['id']}/void", json={}, headers=manager)
    lowered = await pshop.client.post(
        f"/stock/{product['id']}/adjust", json={"quantity": -1, "note": "broken"}, headers=manager
    )

    assert restocked.status_code == 409, restocked.text
    assert restocked.json()["errors"][0]["field"] == "quantity"
    assert str(2**31 - 1) in restocked.json()["errors"][0]["reason"]
    assert refunded.status_code == 409, refunded.text
    assert refunded.json()["errors"][0]["field"] == "lines"
    assert voided.status_code == 409, voided.text
    assert lowered.status_code == 200, lowered.text
    assert await pshop.on_hand(product["id"]) == 2**31 - 2
    assert await pshop.sql("SELECT count(*) FROM refunds") == 0
    assert await pshop.sql("SELECT status FROM sales") == "completed"
    await pshop.assert_reconciled()
