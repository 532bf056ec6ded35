"""Voids (managers, same business day, stock back through reversing movements), refunds
(capped per line, restocked or not), and the day's summary."""

from __future__ import annotations

import uuid
from typing import Any

RunningPshop = Any


async def test_a_void_gives_the_stock_back_through_reversing_movements(
    pshop: RunningPshop,
) -> None:
    a = await pshop.product(stock=10)
    b = await pshop.product(stock=10)
    sale = (await pshop.sell([(a["id"], 2), (b["id"], 1), (a["id"], 1)])).json()

    voided = await pshop.client.post(
        f"/sales/{sale['id']}/void", json={"reason": "rang up twice"}, headers=pshop.manager.headers
    )
    again = await pshop.client.post(
        f"/sales/{sale['id']}/void", json={}, headers=pshop.manager.headers
    )

    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "voided"
    assert voided.json()["voided_at"] is not None
    assert again.status_code == 409
    assert await pshop.on_hand(a["id"]) == 10
    assert await pshop.on_hand(b["id"]) == 10
    reversing = await pshop.rows(
        "SELECT product_id, quantity, user_id FROM stock_movements"
        " WHERE sale_id = $1 AND reason = 'void'",
        uuid.UUID(sale["id"]),
    )
    assert sorted((str(r["product_id"]), r["quantity"]) for r in reversing) == sorted(
        [(a["id"], 3), (b["id"], 1)]
    )
    assert {r["user_id"] for r in reversing} == {pshop.manager.id}
    await pshop.assert_reconciled()


async def test_only_managers_void_and_only_on_the_day_of_the_sale(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=10)
    sale = (await pshop.sell([(product["id"], 1)])).json()

    by_cashier = await pshop.client.post(
        f"/sales/{sale['id']}/void", json={}, headers=pshop.cashier.headers
    )
    await pshop.sql(
        "UPDATE sales SET business_day = business_day - 1 WHERE id = $1", uuid.UUID(sale["id"])
    )
    yesterday = await pshop.client.post(
        f"/sales/{sale['id']}/void", json={}, headers=pshop.manager.headers
    )
    unknown = await pshop.client.post(
        f"/sales/{uuid.uuid4()}/void", json={}, headers=pshop.manager.headers
    )

    assert by_cashier.status_code == 403
    assert yesterday.status_code == 409
    assert "business day" in yesterday.json()["detail"]
    assert unknown.status_code == 404
    assert await pshop.on_hand(product["id"]) == 9


async def test_the_business_day_is_the_shops_time_zone(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=10)
    sale = (await pshop.sell([(product["id"], 1)])).json()

    today = await pshop.sql("SELECT (now() AT TIME ZONE 'Europe/Madrid')::date")

    assert sale["business_day"] == today.isoformat()


async def test_refunds_are_capped_per_line_and_restock_when_asked(pshop: RunningPshop) -> None:
    shelf = await pshop.product(stock=10, price_minor=500)
    broken = await pshop.product(stock=10, price_minor=300)
    sale = (await pshop.sell([(shelf["id"], 3), (broken["id"], 2)])).json()
    shelf_line, broken_line = sale["lines"]
    url = f"/sales/{sale['id']}/refunds"

    first = await pshop.client.post(
        url,
        json={
            "lines": [
                {"sale_line_id": shelf_line["id"], "quantity": 2},
                {"sale_line_id": broken_line["id"], "quantity": 1, "restock": False},
            ],
            "reason": "customer changed their mind",
        },
        headers=pshop.manager.headers,
    )
    too_many = await pshop.client.post(
        url,
        json={
            "lines": [
                {"sale_line_id": shelf_line["id"], "quantity": 1},
                {"sale_line_id": shelf_line["id"], "quantity": 1},
            ]
        },
        headers=pshop.manager.headers,
    )
    foreign = await pshop.client.post(
        url,
        json={"lines": [{"sale_line_id": str(uuid.uuid4()), "quantity": 1}]},
        headers=pshop.manager.headers,
    )
    rest = await pshop.client.post(
        url,
        json={"lines": [{"sale_line_id": shelf_line["id"], "quantity": 1}]},
        headers=pshop.manager.headers,
    )

    assert first.status_code == 201, first.text
    assert first.json()["total_minor"] == 2 * 500 + 300
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "lines[1].quantity"
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["field"] == "lines[0].sale_line_id"
    assert rest.status_code == 201
    assert await pshop.on_hand(shelf["id"]) == 10, "all three back on the shelf"
    assert await pshop.on_hand(broken["id"]) == 8, "the broken one is not restocked"
    read = (await pshop.client.get(f"/sales/{sale['id']}", headers=pshop.manager.headers)).json()
    assert [line["refunded_quantity"] for line in read["lines"]] == [3, 1]
    assert read["refunded_minor"] == 3 * 500 + 300
    await pshop.assert_reconciled()


async def test_voided_sales_are_not_refunded_and_refunded_sales_not_voided(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=10)
    voided = (await pshop.sell([(product["id"], 1)])).json()
    refunded = (await pshop.sell([(product["id"], 2)])).json()
    await pshop.client.post(f"/sales/{voided['id']}/void", json={}, headers=pshop.manager.headers)
    await pshop.client.post(
        f"/sales/{refunded['id']}/refunds",
        json={"lines": [{"sale_line_id": refunded["lines"][0]["id"], "quantity": 1}]},
        headers=pshop.manager.headers,
    )

    refund = await pshop.client.post(
        f"/sales/{voided['id']}/refunds",
        json={"lines": [{"sale_line_id": voided["lines"][0]["id"], "quantity": 1}]},
        headers=pshop.manager.headers,
    )
    void = await pshop.client.post(
        f"/sales/{refunded['id']}/void", json={}, headers=pshop.manager.headers
    )

    assert refund.status_code == 409
    assert void.status_code == 409
    assert await pshop.on_hand(product["id"]) == 9
    await pshop.assert_reconciled()


async def test_the_daily_summary(pshop: RunningPshop) -> None:
    coffee = await pshop.product(stock=20, price_minor=1000, name="Coffee")
    tea = await pshop.product(stock=20, price_minor=400, name="Tea")
    kept = (await pshop.sell([(coffee["id"], 3), (tea["id"], 1)])).json()
    await pshop.sell([(tea["id"], 2)])
    voided = (await pshop.sell([(coffee["id"], 5)])).json()
    await pshop.client.post(f"/sales/{voided['id']}/void", json={}, headers=pshop.manager.headers)
    await pshop.client.post(
        f"/sales/{kept['id']}/refunds",
        json={"lines": [{"sale_line_id": kept["lines"][0]["id"], "quantity": 1}]},
        headers=pshop.manager.headers,
    )

    summary = await pshop.client.get("/sales/summary", headers=pshop.manager.headers)
    by_cashier = await pshop.client.get("/sales/summary", headers=pshop.cashier.headers)
    other_day = await pshop.client.get(
        "/sales/summary", params={"day": "2001-01-01"}, headers=pshop.manager.headers
    )

    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert body["timezone"] == "Europe/Madrid"
    assert (body["sales"], body["voided"], body["refunds"]) == (2, 1, 1)
    assert body["totals"] == [
        {
            "currency": "EUR",
            "sales": 2,
            "revenue_minor": 3000 + 400 + 800,
            "refunds": 1,
            "refunded_minor": 1000,
            "net_minor": 3200,
        }
    ]
    assert [(p["name"], p["quantity"]) for p in body["top_products"]] == [
        ("Coffee", 3),
        ("Tea", 3),
    ]
    assert by_cashier.status_code == 403
    assert other_day.json()["sales"] == 0
    assert other_day.json()["top_products"] == []


async def test_bad_void_refund_and_summary_input_is_refused_naming_the_field(
    pshop: RunningPshop,
) -> None:
    product = await pshop.product(stock=5)
    sale = (await pshop.sell([(product["id"], 2)])).json()
    line = sale["lines"][0]["id"]
    refunds = f"/sales/{sale['id']}/refunds"
    cases = [
        (refunds, {"lines": []}, "lines"),
        (refunds, {"lines": [{"sale_line_id": line, "quantity": 0}]}, "lines[0].quantity"),
        (refunds, {"lines": [{"sale_line_id": line, "quantity": -1}]}, "lines[0].quantity"),
        (refunds, {"lines": [{"sale_line_id": "x", "quantity": 1}]}, "lines[0].sale_line_id"),
        (
            refunds,
            {"lines": [{"sale_line_id": line, "quantity": 1}], "reason": "x" * 501},
            "reason",
        ),
        (f"/sales/{sale['id']}/void", {"reason": "x" * 501}, "reason"),
    ]
    for url, body, field in cases:
        response = await pshop.client.post(url, json=body, headers=pshop.manager.headers)
        assert response.status_code == 400, (url, body, response.text)
        assert any(field in e["field"] for e in response.json()["errors"]), response.text
    for params, field in (({"day": "yesterday"}, "day"), ({"day": "2026-13-01"}, "day")):
        response = await pshop.client.get(
            "/sales/summary", params=params, headers=pshop.manager.headers
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == field
    listed = await pshop.client.get(
        "/sales", params={"cashier_id": "nobody"}, headers=pshop.manager.headers
    )
    assert listed.status_code == 400
    assert await pshop.sql("SELECT count(*) FROM refunds") == 0
    assert await pshop.sql("SELECT status FROM sales") == "completed"


async def test_the_summary_adds_up_a_day_past_the_bigint_range(pshop: RunningPshop) -> None:
    """Each sale fits in a bigint, a day of them need not: five sales of 2 * 10**18 minor
    units each (within every bound a sale has) must still be summed, not fail the day's
    summary (and the shop's page) until midnight."""
    product = await pshop.product(stock=10**7, price_minor=10**12, name="Gold bar")
    for _ in range(5):
        sold = await pshop.sell([(product["id"], 10_000)] * 200)
        assert sold.status_code == 201, sold.text

    summary = await pshop.client.get("/sales/summary", headers=pshop.manager.headers)

    assert summary.status_code == 200, summary.text
    (totals,) = summary.json()["totals"]
    assert totals["revenue_minor"] == totals["net_minor"] == 10**19
    (top,) = summary.json()["top_products"]
    assert (top["quantity"], top["revenue_minor"]) == (10**7, 10**19)


async def test_a_void_needs_no_body(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=2)
    sale = (await pshop.sell([(product["id"], 2)])).json()

    not_an_object = await pshop.client.post(
        f"/sales/{sale['id']}/void", json=[], headers=pshop.manager.headers
    )
    voided = await pshop.client.post(f"/sales/{sale['id']}/void", headers=pshop.manager.headers)

    assert not_an_object.status_code == 400
    assert not_an_object.json()["errors"][0]["field"] == "body", "not the handler's `data`"
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "voided"
    assert await pshop.on_hand(product["id"]) == 2
