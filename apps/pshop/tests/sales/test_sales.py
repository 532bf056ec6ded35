"""Ringing up sales: all the stock or none, lines of one product counted together, bad lines
named, the customer checked, and what a sale reads back as."""

from __future__ import annotations

import uuid
from typing import Any

RunningPshop = Any  # conftest.RunningPshop


async def test_a_sale_takes_its_stock_and_writes_its_lines_and_movements(
    pshop: RunningPshop,
) -> None:
    coffee = await pshop.product(stock=10, price_minor=1890)
    mug = await pshop.product(stock=5, price_minor=900)

    response = await pshop.sell([(coffee["id"], 2), (mug["id"], 1), (coffee["id"], 1)])

    assert response.status_code == 201, response.text
    sale = response.json()
    assert sale["status"] == "completed"
    assert sale["cashier_id"] == str(pshop.cashier.id)
    assert sale["cashier_removed"] is False
    assert sale["total_minor"] == 3 * 1890 + 900
    assert sale["currency"] == "EUR"
    assert [(line["line_no"], line["quantity"]) for line in sale["lines"]] == [
        (1, 2),
        (2, 1),
        (3, 1),
    ]
    assert [line["unit_price_minor"] for line in sale["lines"]] == [1890, 900, 1890]
    assert await pshop.on_hand(coffee["id"]) == 7
    assert await pshop.on_hand(mug["id"]) == 4
    movements = await pshop.rows(
        "SELECT product_id, quantity, reason, user_id FROM stock_movements"
        " WHERE sale_id = $1 ORDER BY product_id",
        uuid.UUID(sale["id"]),
    )
    assert sorted((str(m["product_id"]), m["quantity"]) for m in movements) == sorted(
        [(coffee["id"], -3), (mug["id"], -1)]
    ), "one movement per product, the lines of one product together"
    assert {m["reason"] for m in movements} == {"sale"}
    assert {m["user_id"] for m in movements} == {pshop.cashier.id}
    fetched = await pshop.client.get(f"/sales/{sale['id']}", headers=pshop.cashier.headers)
    assert fetched.json() == sale
    await pshop.assert_reconciled()


async def test_two_lines_of_one_product_cannot_oversell_it(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=3)

    response = await pshop.sell([(product["id"], 2), (product["id"], 2)])

    assert response.status_code == 409, response.text
    assert response.json()["short"] == [
        {"product_id": product["id"], "requested": 4, "available": 3}
    ]
    assert await pshop.on_hand(product["id"]) == 3


async def test_a_short_sale_lists_every_short_product_and_changes_nothing(
    pshop: RunningPshop,
) -> None:
    plenty = await pshop.product(stock=50)
    few = await pshop.product(stock=1)
    none = await pshop.product(stock=0)

    response = await pshop.sell([(plenty["id"], 5), (few["id"], 2), (none["id"], 1)])

    assert response.status_code == 409
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert sorted(body["short"], key=lambda s: s["product_id"]) == sorted(
        [
            {"product_id": few["id"], "requested": 2, "available": 1},
            {"product_id": none["id"], "requested": 1, "available": 0},
        ],
        key=lambda s: s["product_id"],
    )
    assert {e["field"] for e in body["errors"]} == {"lines[1].quantity", "lines[2].quantity"}
    assert await pshop.on_hand(plenty["id"]) == 50, "the decrement of the first line rolled back"
    assert await pshop.sql("SELECT count(*) FROM sales") == 0
    assert await pshop.sql("SELECT count(*) FROM sale_lines") == 0
    assert await pshop.sql("SELECT count(*) FROM stock_movements WHERE reason = 'sale'") == 0
    assert await pshop.sql("SELECT count(*) FROM idempotency_keys") == 0


async def test_unknown_and_inactive_products_are_refused_naming_the_line(
    pshop: RunningPshop,
) -> None:
    good = await pshop.product(stock=5)
    retired = await pshop.product(stock=5)
    deactivated = await pshop.client.post(
        f"/products/{retired['id']}/deactivate", headers=pshop.manager.headers
    )
    assert deactivated.status_code == 200

    response = await pshop.sell([(good["id"], 1), (str(uuid.uuid4()), 1), (retired["id"], 1)])

    assert response.status_code == 422
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(errors) == {"lines[1].product_id", "lines[2].product_id"}
    assert "no product" in errors["lines[1].product_id"]
    assert await pshop.on_hand(good["id"]) == 5
    assert await pshop.sql("SELECT count(*) FROM sales") == 0


async def test_a_sale_in_two_currencies_is_refused(pshop: RunningPshop) -> None:
    euros = await pshop.product(stock=5, currency="EUR")
    dollars = await pshop.product(stock=5, currency="USD")

    response = await pshop.sell([(euros["id"], 1), (dollars["id"], 1)])

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines[1].product_id"


async def test_bad_sale_bodies_are_refused_naming_the_field(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)
    cases = [
        ({"lines": []}, "lines"),
        ({"lines": [{"product_id": product["id"], "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"product_id": product["id"], "quantity": -2}]}, "lines[0].quantity"),
        ({"lines": [{"product_id": product["id"], "quantity": 10_001}]}, "lines[0].quantity"),
        ({"lines": [{"product_id": "not-a-uuid", "quantity": 1}]}, "lines[0].product_id"),
        ({"lines": [{"product_id": product["id"]}]}, "lines[0]"),  # reason: `quantity` missing
        ({"lines": [{"product_id": product["id"], "quantity": 1}], "total": 5}, "total"),
        ({}, "lines"),
    ]
    for body, field in cases:
        response = await pshop.client.post(
            "/sales",
            json=body,
            headers={**pshop.cashier.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 400, (body, response.text)
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(field in f for f in fields), (body, fields)
    assert await pshop.on_hand(product["id"]) == 5


async def test_the_customer_must_be_an_active_user(pshop: RunningPshop, make_user: Any) -> None:
    product = await pshop.product(stock=5)
    customer = await make_user()

    unknown = await pshop.sell([(product["id"], 1)], customer_id=str(uuid.uuid4()))
    known = await pshop.sell([(product["id"], 1)], customer_id=str(customer.id))

    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "customer_id"
    assert known.status_code == 201
    assert known.json()["customer_id"] == str(customer.id)
    assert await pshop.on_hand(product["id"]) == 4


async def test_the_price_at_the_time_of_sale_is_kept(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5, price_minor=100)
    first = (await pshop.sell([(product["id"], 1)])).json()

    changed = await pshop.client.patch(
        f"/products/{product['id']}", json={"price_minor": 150}, headers=pshop.manager.headers
    )
    second = (await pshop.sell([(product["id"], 1)])).json()
    again = await pshop.client.get(f"/sales/{first['id']}", headers=pshop.manager.headers)

    assert changed.status_code == 200
    assert again.json()["lines"][0]["unit_price_minor"] == 100
    assert second["lines"][0]["unit_price_minor"] == 150


async def test_cashiers_read_their_own_sales_and_managers_every_sale(
    pshop: RunningPshop, make_user: Any
) -> None:
    product = await pshop.product(stock=20)
    other = await make_user(roles=("pshop.cashier",))
    mine = [(await pshop.sell([(product["id"], 1)])).json()["id"] for _ in range(3)]
    theirs = (await pshop.sell([(product["id"], 1)], user=other)).json()["id"]

    first = await pshop.client.get("/sales?limit=2", headers=pshop.cashier.headers)
    second = await pshop.client.get(
        "/sales",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=pshop.cashier.headers,
    )
    everyone = await pshop.client.get("/sales", headers=pshop.manager.headers)
    by_cashier = await pshop.client.get(
        "/sales", params={"cashier_id": str(other.id)}, headers=pshop.manager.headers
    )
    not_mine = await pshop.client.get(f"/sales/{theirs}", headers=pshop.cashier.headers)

    listed = [s["id"] for s in first.json()["items"] + second.json()["items"]]
    assert listed == list(reversed(mine)), "newest first, only the cashier's own"
    assert second.json()["next_cursor"] is None
    assert {s["id"] for s in everyone.json()["items"]} == {*mine, theirs}
    assert [s["id"] for s in by_cashier.json()["items"]] == [theirs]
    assert not_mine.status_code == 404


async def test_a_plain_user_cannot_sell(pshop: RunningPshop, make_user: Any) -> None:
    product = await pshop.product(stock=5)
    plain = await make_user()

    response = await pshop.sell([(product["id"], 1)], user=plain)
    anonymous = await pshop.client.post(
        "/sales",
        json={"lines": [{"product_id": product["id"], "quantity": 1}]},
        headers={"Idempotency-Key": "k1"},
    )

    assert response.status_code == 403
    assert anonymous.status_code == 401
    assert await pshop.on_hand(product["id"]) == 5
