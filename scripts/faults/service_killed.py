"""PShop killed with `kill -9` in the middle of sales: no partial sale, stock equals the ledger.

    uv run python scripts/faults/service_killed.py [--seconds 9] [--clients 8]

Starts a PostgreSQL of its own and every service as its own process (`atriz serve NAME`). A
manager stocks three products; then cashiers ring up sales of one to three lines as fast as
they can, each sale with its own `Idempotency-Key`, and a cashier whose request gets no answer
sends it again with the same key, as a till would. A third of the way in, the pshop process
group (server and worker) dies by SIGKILL with sales in flight, and is started again.

Passes when every sale was answered in the end, no answer was a 5xx, pshop answered again
within 10 s of its restart, and the database holds exactly one sale per key answered 201 (a key
retried after the kill is not sold twice), each sale whole (its lines and its ledger movements,
quantity for quantity), no movement without its sale, and on-hand equal to the ledger's sum for
every product. Exit status 0 on a pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from _system import SEEDED_USER, SeparateServices, report, running_services

STOCK = 100_000  # never short: every sale must succeed
RECOVERY_LIMIT = 10.0
# Sales whose lines and ledger movements disagree, product by product: a partial sale.
PARTIAL_SALES = """
WITH lines AS (
    SELECT sale_id, product_id, sum(quantity) AS sold FROM sale_lines GROUP BY 1, 2
), moved AS (
    SELECT sale_id, product_id, -sum(quantity) AS sold FROM stock_movements
    WHERE reason = 'sale' GROUP BY 1, 2
)
SELECT count(*) FROM sales s
WHERE NOT EXISTS (SELECT FROM sale_lines l WHERE l.sale_id = s.id)
   OR EXISTS (
       SELECT FROM lines FULL JOIN moved USING (sale_id, product_id)
       WHERE COALESCE(lines.sale_id, moved.sale_id) = s.id
         AND lines.sold IS DISTINCT FROM moved.sold
   )
"""
DRIFT = """
SELECT count(*) FROM inventory i
WHERE i.on_hand <> (SELECT COALESCE(sum(quantity), 0) FROM stock_movements m
                    WHERE m.product_id = i.product_id)
"""


@dataclass
class Till:
    """What the cashiers saw: each key's final status and sale id, and every failed attempt."""

    statuses: dict[str, int] = field(default_factory=dict)
    sale_ids: dict[str, str] = field(default_factory=dict)
    retried: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    replays: int = 0


def sign_in(core: str, email: str) -> dict[str, str]:
    answer = httpx.post(
        f"{core}/auth/login", json={"email": email, "password": SEEDED_USER[1]}, timeout=10
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def stock_products(pshop: str, manager: dict[str, str]) -> list[str]:
    ids = []
    for index in range(3):
        answer = httpx.post(
            f"{pshop}/products",
            json={
                "sku": f"KILL-{uuid.uuid4().hex[:8]}-{index}",
                "name": f"Fault product {index}",
                "price_minor": 100 + index,
                "currency": "EUR",
                "initial_stock": STOCK,
            },
            headers=manager,
            timeout=10,
        )
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    return ids


async def cashier(
    pshop: str, headers: dict[str, str], products: list[str], till: Till, until: float
) -> None:
    """Sales until `until` (monotonic); a sale without an answer is sent again, same key."""
    async with httpx.AsyncClient(timeout=15, headers=headers) as client:
        while time.monotonic() < until:
            key = uuid.uuid4().hex
            chosen = random.sample(products, random.randint(1, len(products)))  # noqa: S311
            body: dict[str, Any] = {
                "lines": [
                    {"product_id": p, "quantity": random.randint(1, 3)}  # noqa: S311 - not security
                    for p in chosen
                ]
            }
            while True:
                try:
                    answer = await client.post(
                        f"{pshop}/sales", json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError:
                    till.retried[key] += 1
                    await asyncio.sleep(0.1)
                    continue
                if answer.status_code == 503:  # refused while starting: retry, as told
                    till.retried[key] += 1
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                    continue
                break
            till.statuses[key] = answer.status_code
            if answer.status_code >= 500:
                till.server_errors.append(f"{answer.status_code} {answer.text[:200]}")
            elif answer.status_code == 201:
                till.sale_ids[key] = answer.json()["id"]
                till.replays += answer.headers.get("Idempotent-Replayed") == "true"


def kill_and_restart(services: SeparateServices, at: float) -> tuple[float, float]:
    """Kill pshop at `at` (monotonic), start it again; when it was killed and when it answered."""
    time.sleep(max(0.0, at - time.monotonic()))
    killed = time.monotonic()
    services.kill("pshop")
    services.start("pshop")
    return killed, time.monotonic()


def database_state(services: SeparateServices) -> dict[str, Any]:
    with psycopg.connect(services.cluster.url("pshop_db")) as connection:

        def one(query: str) -> Any:
            row = connection.execute(query).fetchone()
            return row[0] if row else None

        return {
            "sale_ids": {str(r[0]) for r in connection.execute("SELECT id FROM sales").fetchall()},
            "partial": one(PARTIAL_SALES),
            "orphan_movements": one(
                "SELECT count(*) FROM stock_movements m WHERE reason = 'sale'"
                " AND NOT EXISTS (SELECT FROM sales s WHERE s.id = m.sale_id)"
            ),
            "drift": one(DRIFT),
        }


async def exercise(seconds: float, clients: int) -> int:
    with running_services() as services:
        core, pshop = services.urls["core"], services.urls["pshop"]
        manager = sign_in(core, "manager@atriz.localhost")
        cashier_headers = sign_in(core, "cashier@atriz.localhost")
        products = stock_products(pshop, manager)
        with psycopg.connect(services.cluster.url("pshop_db")) as connection:
            seeded = {str(r[0]) for r in connection.execute("SELECT id FROM sales").fetchall()}

        till = Till()
        started = time.monotonic()
        until = started + seconds
        sales = [
            asyncio.create_task(cashier(pshop, cashier_headers, products, till, until))
            for _ in range(clients)
        ]
        killed, back = await asyncio.to_thread(kill_and_restart, services, started + seconds / 3)
        await asyncio.gather(*sales)
        state = database_state(services)

    print(f"pshop killed at {killed - started:.1f} s, answering again {back - killed:.1f} s later")
    answered = Counter(till.statuses.values())
    print(
        f"sales: {len(till.statuses)} keys, statuses {dict(sorted(answered.items()))},"
        f" {len(till.retried)} keys resent ({till.retried.total()} resends),"
        f" {till.replays} answered as replays"
    )
    created = state["sale_ids"] - seeded
    print(
        f"database: {len(created)} sales, {state['partial']} partial,"
        f" {state['orphan_movements']} movements without a sale,"
        f" {state['drift']} products whose on-hand differs from the ledger"
    )

    failures = [f"a sale answered {error}" for error in till.server_errors[:5]]
    if not till.retried:
        failures.append("no sale was in flight when pshop died: the fault did not take hold")
    if back - killed > RECOVERY_LIMIT:
        failures.append(f"pshop answered {back - killed:.1f} s after its restart began")
    if set(answered) != {201}:
        failures.append(f"not every sale succeeded in the end: {dict(answered)}")
    if created != set(till.sale_ids.values()):
        failures.append(
            f"{len(created - set(till.sale_ids.values()))} sales nobody was told about,"
            f" {len(set(till.sale_ids.values()) - created)} told but not stored"
        )
    if len(set(till.sale_ids.values())) != len(till.sale_ids):
        failures.append("two keys were answered with one sale")
    for name in ("partial", "orphan_movements", "drift"):
        if state[name]:
            failures.append(f"{state[name]} {name.replace('_', ' ')}")
    return report(failures, "no partial sale, one sale per key, stock equals the ledger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=9.0, help="length of the sales loop")
    parser.add_argument("--clients", type=int, default=8, help="concurrent cashiers")
    args = parser.parse_args()
    sys.exit(asyncio.run(exercise(args.seconds, args.clients)))


if __name__ == "__main__":
    main()
