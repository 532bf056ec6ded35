"""The catalogue: managers create, change and deactivate products; anyone signed in reads and
searches it; SKUs and barcodes are unique; prices are integers in an ISO 4217 currency."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from atriz_core.testing import replica_routes
from atriz_pshop.products.currencies import format_amount

RunningPshop = Any


@pytest.mark.pgbouncer
async def test_a_product_is_created_read_and_found_by_barcode(
    pshop: RunningPshop, make_user: Any
) -> None:
    reader = await make_user()
    created = await pshop.product(
        stock=7,
        sku="COF-1KG",
        name="Coffee beans",
        barcodes=["8400000000017", "ABC-123"],
        reorder_level=3,
        description="Medium roast",
    )

    fetched = await pshop.client.get(f"/products/{created['id']}", headers=reader.headers)
    by_barcode = await pshop.client.get("/products/barcodes/ABC-123", headers=reader.headers)
    unknown = await pshop.client.get("/products/barcodes/000", headers=reader.headers)

    assert created["sku"] == "COF-1KG"
    assert created["barcodes"] == ["8400000000017", "ABC-123"]
    assert (created["on_hand"], created["reorder_level"], created["active"]) == (7, 3, True)
    assert fetched.json() == created
    assert by_barcode.json()["id"] == created["id"]
    assert unknown.status_code == 404
    assert await pshop.ledger(created["id"]) == 7, "opening stock is in the ledger"


@pytest.mark.pgbouncer
async def test_the_catalogue_is_listed_by_name_and_searched(
    pshop: RunningPshop, make_user: Any
) -> None:
    reader = await make_user()
    for name in ("Cherry", "apple pie", "Banana", "Apple juice"):
        await pshop.product(name=name, sku=f"SKU-{name[:3].upper()}-{uuid.uuid4().hex[:4]}")
    scanned = await pshop.product(name="Durian", barcodes=["5012345678900"])
    await pshop.client.post(f"/products/{scanned['id']}/deactivate", headers=pshop.manager.headers)

    first = await pshop.client.get("/products?limit=2", headers=reader.headers)
    second = await pshop.client.get(
        "/products",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=reader.headers,
    )
    third = await pshop.client.get(
        "/products",
        params={"limit": 2, "cursor": second.json()["next_cursor"]},
        headers=reader.headers,
    )
    apples = await pshop.client.get("/products", params={"q": "APPLE"}, headers=reader.headers)
    by_barcode = await pshop.client.get(
        "/products", params={"q": "5012345678900"}, headers=reader.headers
    )
    by_sku = await pshop.client.get(
        "/products", params={"q": scanned["sku"]}, headers=reader.headers
    )
    active = await pshop.client.get("/products", params={"active": "true"}, headers=reader.headers)

    names = [p["name"] for page in (first, second, third) for p in page.json()["items"]]
    assert names == sorted(names)
    assert len(names) == 5
    assert third.json()["next_cursor"] is None
    assert {p["name"] for p in apples.json()["items"]} == {"apple pie", "Apple juice"}
    assert [p["id"] for p in by_barcode.json()["items"]] == [scanned["id"]]
    assert [p["id"] for p in by_sku.json()["items"]] == [scanned["id"]]
    assert "Durian" not in {p["name"] for p in active.json()["items"]}
    with_nul = await pshop.client.get("/products", params={"q": "a\x00b"}, headers=reader.headers)
    assert with_nul.status_code == 400, with_nul.text
    assert with_nul.json()["errors"][0]["field"] == "q"


async def test_a_product_is_updated_and_its_barcodes_replaced(pshop: RunningPshop) -> None:
    product = await pshop.product(barcodes=["111", "222"])

    updated = await pshop.client.patch(
        f"/products/{product['id']}",
        json={
            "name": "Renamed",
            "price_minor": 999,
            "barcodes": ["222", "333"],
            "reorder_level": 4,
        },
        headers=pshop.manager.headers,
    )

    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["price_minor"], body["reorder_level"]) == ("Renamed", 999, 4)
    assert body["barcodes"] == ["222", "333"]
    assert body["sku"] == product["sku"]
    gone = await pshop.client.get("/products/barcodes/111", headers=pshop.cashier.headers)
    assert gone.status_code == 404


async def test_skus_and_barcodes_are_unique(pshop: RunningPshop) -> None:
    first = await pshop.product(sku="DUP-1", barcodes=["999"])

    same_sku = await pshop.client.post(
        "/products",
        json={"sku": "DUP-1", "name": "x", "price_minor": 1, "currency": "EUR"},
        headers=pshop.manager.headers,
    )
    same_barcode = await pshop.client.post(
        "/products",
        json={
            "sku": "DUP-2",
            "name": "x",
            "price_minor": 1,
            "currency": "EUR",
            "barcodes": ["1", "999"],
        },
        headers=pshop.manager.headers,
    )
    twice = await pshop.client.post(
        "/products",
        json={
            "sku": "DUP-3",
            "name": "x",
            "price_minor": 1,
            "currency": "EUR",
            "barcodes": ["7", "7"],
        },
        headers=pshop.manager.headers,
    )
    other = await pshop.product()
    stolen = await pshop.client.patch(
        f"/products/{other['id']}", json={"barcodes": ["999"]}, headers=pshop.manager.headers
    )

    assert same_sku.status_code == 409
    assert same_sku.json()["errors"][0]["field"] == "sku"
    assert same_barcode.status_code == 409
    assert same_barcode.json()["errors"][0]["field"] == "barcodes[1]"
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"] == "barcodes[1]"
    assert stolen.status_code == 409
    assert await pshop.sql("SELECT count(*) FROM products WHERE sku LIKE 'DUP-%'") == 1
    owner = await pshop.client.get("/products/barcodes/999", headers=pshop.manager.headers)
    assert owner.json()["id"] == first["id"]


async def test_bad_product_fields_are_refused_naming_the_field(pshop: RunningPshop) -> None:
    good = {"sku": "OK-1", "name": "Fine", "price_minor": 100, "currency": "EUR"}
    cases = [
        ({**good, "currency": "XYZ"}, 422, "currency"),
        ({**good, "currency": "eur"}, 400, "currency"),
        ({**good, "currency": "EURO"}, 400, "currency"),
        ({**good, "price_minor": -1}, 400, "price_minor"),
        ({**good, "price_minor": 1.5}, 400, "price_minor"),
        ({**good, "name": ""}, 400, "name"),
        ({**good, "name": "x" * 201}, 400, "name"),
        ({**good, "description": "x" * 2001}, 400, "description"),
        ({**good, "description": "nul \x00 inside"}, 400, "description"),
        ({**good, "name": "nul \x00 inside"}, 400, "name"),
        ({**good, "name": "two\nlines"}, 400, "name"),
        ({**good, "sku": "has space"}, 400, "sku"),
        ({**good, "sku": "OK-1\n"}, 400, "sku"),
        ({**good, "currency": "EUR\n"}, 400, "currency"),
        ({**good, "sku": "x" * 65}, 400, "sku"),
        ({**good, "barcodes": ["x" * 65]}, 400, "barcodes[0]"),
        ({**good, "initial_stock": -3}, 400, "initial_stock"),
        ({**good, "reorder_level": -1}, 400, "reorder_level"),
        ({**good, "surprise": 1}, 400, "surprise"),
        ({k: v for k, v in good.items() if k != "sku"}, 400, "sku"),
    ]
    for body, status, field in cases:
        response = await pshop.client.post("/products", json=body, headers=pshop.manager.headers)
        assert response.status_code == status, (body, response.text)
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(field in f for f in fields), (body, fields)
    bad_update = await pshop.client.patch(
        f"/products/{uuid.uuid4()}", json={"currency": "ABC"}, headers=pshop.manager.headers
    )
    assert bad_update.status_code == 422
    assert await pshop.sql("SELECT count(*) FROM products") == 0


async def test_deactivation_stops_sales_and_activation_resumes_them(pshop: RunningPshop) -> None:
    product = await pshop.product(stock=5)

    off = await pshop.client.post(
        f"/products/{product['id']}/deactivate", headers=pshop.manager.headers
    )
    refused = await pshop.sell([(product["id"], 1)])
    on = await pshop.client.post(
        f"/products/{product['id']}/activate", headers=pshop.manager.headers
    )
    sold = await pshop.sell([(product["id"], 1)])

    assert off.json()["active"] is False
    assert refused.status_code == 422
    assert on.json()["active"] is True
    assert sold.status_code == 201


async def test_only_managers_change_the_catalogue(pshop: RunningPshop, make_user: Any) -> None:
    product = await pshop.product()
    plain = await make_user()
    body = {"sku": "NEW-1", "name": "x", "price_minor": 1, "currency": "EUR"}

    for user in (pshop.cashier, plain):
        assert (
            await pshop.client.post("/products", json=body, headers=user.headers)
        ).status_code == 403
        patched = await pshop.client.patch(
            f"/products/{product['id']}", json={"name": "y"}, headers=user.headers
        )
        assert patched.status_code == 403
        off = await pshop.client.post(f"/products/{product['id']}/deactivate", headers=user.headers)
        assert off.status_code == 403
    missing = await pshop.client.patch(
        f"/products/{uuid.uuid4()}", json={"name": "y"}, headers=pshop.manager.headers
    )
    assert missing.status_code == 404


async def test_only_the_catalogue_may_be_read_from_a_replica(pshop: RunningPshop) -> None:
    # Stock levels, sales and the ledger must be current; the catalogue may trail a little.
    assert replica_routes(pshop.app) == {
        "GET /products",
        "GET /products/{product_id}",
        "GET /products/barcodes/{barcode}",
    }


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1000, "JPY", "1000 JPY"),
        (1000, "EUR", "10.00 EUR"),
        (1500, "KWD", "1.500 KWD"),
        (5, "USD", "0.05 USD"),
        (10**19 + 1, "EUR", "100000000000000000.01 EUR"),
    ],
)
def test_amounts_are_shown_in_their_currencys_minor_unit(
    minor: int, currency: str, shown: str
) -> None:
    assert format_amount(minor, currency) == shown
