"""Smoke."""

from __future__ import annotations

from typing import Any


async def test_a_sale(pshop: Any) -> None:
    product = await pshop.product(stock=5)
    sold = await pshop.sell([(product["id"], 2)])
    assert sold.status_code == 201, sold.text
    assert await pshop.on_hand(product["id"]) == 3
    await pshop.assert_reconciled()
