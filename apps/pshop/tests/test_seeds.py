"""The development seeds: a catalogue with stock and sales by the seeded cashier and manager,
consistent with the ledger, and idempotent."""

from __future__ import annotations

import uuid

import asyncpg

from atriz_core.testing import DatabaseFactory
from atriz_database.seeds import seed
from atriz_pshop.db import target

CASHIER = uuid.UUID("5eed0000-0000-4000-8000-000000000002")
MANAGER = uuid.UUID("5eed0000-0000-4000-8000-000000000003")
DRIFT = """
SELECT count(*) FROM inventory i
LEFT JOIN (SELECT product_id, sum(quantity) AS total FROM stock_movements GROUP BY product_id) m
    ON m.product_id = i.product_id
WHERE i.on_hand <> COALESCE(m.total, 0)
"""
COUNTS = """
SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM sales),
       (SELECT count(*) FROM sale_lines), (SELECT count(*) FROM stock_movements),
       (SELECT sum(on_hand) FROM inventory)
"""


async def test_the_seeds_agree_with_the_ledger_and_run_twice(
    migrated_database: DatabaseFactory,
) -> None:
    database = migrated_database("pshop", seeded=True)
    connection = await asyncpg.connect(database.url)
    try:
        before = await connection.fetchrow(COUNTS)
        seed(target, database.url)
        after = await connection.fetchrow(COUNTS)
        drift = await connection.fetchval(DRIFT)
        cashiers = {
            row["cashier_id"] for row in await connection.fetch("SELECT cashier_id FROM sales")
        }
        totals = await connection.fetch(
            "SELECT s.total_minor, sum(l.line_total_minor) AS lines FROM sales s"
            " JOIN sale_lines l ON l.sale_id = s.id GROUP BY s.id"
        )
        low = await connection.fetchval(
            "SELECT count(*) FROM inventory WHERE on_hand <= reorder_level"
        )
    finally:
        await connection.close()

    assert tuple(before) == tuple(after), "a second run changes nothing"
    assert before[0] == 6
    assert before[1] == 3
    assert drift == 0
    assert cashiers == {CASHIER, MANAGER}
    assert all(row["total_minor"] == row["lines"] for row in totals)
    assert low >= 1, "something to show in the low-stock list"
