"""A mixed workload across the four services for a fixed time, then the invariants.

    uv run python scripts/load/mixed_workload.py [--seconds 30] [--clients 8] [--out DIR]

Starts a PostgreSQL of its own and `atriz dev` on it (one worker per service), then `--clients`
concurrent clients each pick operations by weight: logins and refreshes at core, profile reads
and edits and article searches at the website, position batches and the latest positions at
mextrack, sales at pshop. Prints, per operation, the count, the rate, p50 and p99 and the answers
that were not 2xx, writes the same as Markdown with one latency plot per operation (PNG) to
`--out`, and then checks what must hold whatever the load:

- pshop's stock equals its ledger's sum for every product (`/stock/reconciliation`);
- no vehicle has two positions at one time;
- no user reference points to a missing or deleted user (`db-check-refs all`);
- no service answered 500 (their logs).

Exit status 0 when every invariant holds and no answer was a 5xx, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

# The system harness lives with the fault scripts; the load runs on the same one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from _system import RunningSystem, running_system

from atriz_database.targets import TargetRegistry
from atriz_database.testing import BIN

SEEDED_PASSWORD = "atriz-dev-password"  # noqa: S105 - core's development seeds
CASHIER, MANAGER = "cashier@atriz.localhost", "manager@atriz.localhost"
DISPATCHER, DRIVER, WRITER = (
    "dispatcher@atriz.localhost",
    "ana@atriz.localhost",
    "ben@atriz.localhost",
)
SEARCHES = ("atriz", "fleet tracking", "crème", '"point of sale"', "stock -sales", "route or map")
BATCH = 100
"""Points per position batch."""


@dataclass
class Sample:
    at: float
    seconds: float
    status: int


@dataclass
class Workload:
    system: RunningSystem
    tokens: dict[str, str]
    refresh_tokens: list[str]
    vehicles: list[str]
    products: list[str]
    started: float = field(default_factory=time.monotonic)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    next_fix: dict[str, datetime] = field(default_factory=dict)

    def url(self, service: str, path: str) -> str:
        return self.system.urls[service] + path

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}


async def login(http: httpx.AsyncClient, email: str, base: str) -> dict[str, str]:
    answer = await http.post(
        f"{base}/auth/login", json={"email": email, "password": SEEDED_PASSWORD}
    )
    answer.raise_for_status()
    tokens: dict[str, str] = answer.json()
    return tokens


# The operations: each sends one request and returns its status.
async def op_login(w: Workload, http: httpx.AsyncClient) -> int:
    email = random.choice((CASHIER, DISPATCHER, DRIVER, WRITER))  # noqa: S311 - not security
    body = {"email": email, "password": SEEDED_PASSWORD}
    return (await http.post(w.url("core", "/auth/login"), json=body)).status_code


async def op_refresh(w: Workload, http: httpx.AsyncClient) -> int:
    # Each refresh token is used once: rotation spends it, and a reuse would end its session.
    token = w.refresh_tokens.pop()
    answer = await http.post(w.url("core", "/auth/refresh"), json={"refresh_token": token})
    w.refresh_tokens.insert(0, answer.json()["refresh_token"] if answer.is_success else token)
    return answer.status_code


async def op_profile_read(w: Workload, http: httpx.AsyncClient) -> int:
    return (await http.get(w.url("website", "/profiles/me"), headers=w.auth(WRITER))).status_code


async def op_profile_edit(w: Workload, http: httpx.AsyncClient) -> int:
    body = {"display_name": f"Ben {random.randint(1, 999)}", "bio": "Writes about fleets."}  # noqa: S311
    answer = await http.put(w.url("website", "/profiles/me"), json=body, headers=w.auth(WRITER))
    return answer.status_code


async def op_article_search(w: Workload, http: httpx.AsyncClient) -> int:
    query = random.choice(SEARCHES)  # noqa: S311
    return (await http.get(w.url("website", "/articles"), params={"q": query})).status_code


async def op_position_batch(w: Workload, http: httpx.AsyncClient) -> int:
    vehicle = random.choice(w.vehicles)  # noqa: S311
    start = w.next_fix[vehicle]
    w.next_fix[vehicle] = start + timedelta(seconds=BATCH)
    points = [
        {
            "recorded_at": (start + timedelta(seconds=i)).isoformat(),
            "latitude": 19.4326 + (i % 50) * 0.0001,
            "longitude": -99.1332 + (i % 50) * 0.0001,
            "speed_kmh": 30.0,
            "heading": 90.0,
        }
        for i in range(BATCH)
    ]
    answer = await http.post(
        w.url("mextrack", f"/vehicles/{vehicle}/positions"), json=points, headers=w.auth(DRIVER)
    )
    return answer.status_code


async def op_latest_positions(w: Workload, http: httpx.AsyncClient) -> int:
    answer = await http.get(w.url("mextrack", "/positions/latest"), headers=w.auth(DISPATCHER))
    return answer.status_code


async def op_sale(w: Workload, http: httpx.AsyncClient) -> int:
    products = random.sample(w.products, k=min(2, len(w.products)))
    body = {"lines": [{"product_id": product, "quantity": 1} for product in products]}
    headers = {**w.auth(CASHIER), "Idempotency-Key": str(uuid.uuid4())}
    return (await http.post(w.url("pshop", "/sales"), json=body, headers=headers)).status_code


Operation = Callable[[Workload, httpx.AsyncClient], Awaitable[int]]
MIX: dict[str, tuple[Operation, int]] = {
    "login": (op_login, 2),
    "refresh": (op_refresh, 4),
    "profile read": (op_profile_read, 10),
    "profile edit": (op_profile_edit, 4),
    "article search": (op_article_search, 14),
    "position batch": (op_position_batch, 8),
    "latest positions": (op_latest_positions, 10),
    "sale": (op_sale, 8),
}


async def prepare(system: RunningSystem, http: httpx.AsyncClient) -> Workload:
    """Tokens for the seeded users, vehicles for the driver, stock for the sales."""
    core = system.urls["core"]
    sessions = {
        email: await login(http, email, core)
        for email in (CASHIER, MANAGER, DISPATCHER, DRIVER, WRITER)
    }
    tokens = {email: session["access_token"] for email, session in sessions.items()}
    refresh_tokens = [(await login(http, WRITER, core))["refresh_token"] for _ in range(8)]
    driver = {"Authorization": f"Bearer {tokens[DRIVER]}"}
    vehicles = []
    for number in range(4):
        created = await http.post(
            f"{system.urls['mextrack']}/vehicles",
            json={"name": f"Load van {number}", "plate": f"LOAD-{uuid.uuid4().hex[:6].upper()}"},
            headers=driver,
        )
        created.raise_for_status()
        vehicles.append(created.json()["id"])
    manager = {"Authorization": f"Bearer {tokens[MANAGER]}"}
    stock = await http.get(f"{system.urls['pshop']}/stock", headers=manager, params={"limit": 50})
    stock.raise_for_status()
    products = [level["product_id"] for level in stock.json()["items"] if level["active"]]
    for product in products:
        restocked = await http.post(
            f"{system.urls['pshop']}/stock/{product}/restock",
            json={"quantity": 100_000, "note": "load test delivery"},
            headers=manager,
        )
        restocked.raise_for_status()
    workload = Workload(system, tokens, refresh_tokens, vehicles, products)
    start = datetime.now(UTC) - timedelta(days=1)
    workload.next_fix = dict.fromkeys(vehicles, start)
    return workload


async def run_clients(workload: Workload, seconds: float, clients: int) -> None:
    names = list(MIX)
    weights = [MIX[name][1] for name in names]

    async def client() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while time.monotonic() - workload.started < seconds:
                name = random.choices(names, weights)[0]  # noqa: S311
                sent = time.monotonic()
                try:
                    status = await MIX[name][0](workload, http)
                except httpx.TransportError:
                    status = 0
                workload.samples.setdefault(name, []).append(
                    Sample(sent - workload.started, time.monotonic() - sent, status)
                )

    workload.started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))


@dataclass(frozen=True)
class Figures:
    operation: str
    count: int
    per_second: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int]

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


def figures(workload: Workload, seconds: float) -> list[Figures]:
    results = []
    for name, samples in sorted(workload.samples.items()):
        latencies = sorted(sample.seconds * 1000 for sample in samples)
        p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
        results.append(
            Figures(
                name,
                len(samples),
                len(samples) / seconds,
                statistics.median(latencies),
                p99,
                Counter(sample.status for sample in samples),
            )
        )
    return results


def check_invariants(workload: Workload) -> list[tuple[str, bool, str]]:
    """(invariant, holds, detail) for each invariant, the system still running."""
    system = workload.system
    manager = {"Authorization": f"Bearer {workload.tokens[MANAGER]}"}
    reconciliation = httpx.get(
        f"{system.urls['pshop']}/stock/reconciliation", headers=manager, timeout=30
    ).json()
    mextrack_db = TargetRegistry.from_entry_points().get("mextrack").database
    with psycopg.connect(system.cluster.url(mextrack_db)) as connection:
        row = connection.execute(
            "SELECT count(*), count(DISTINCT (vehicle_id, recorded_at)) FROM positions"
        ).fetchone()
    assert row is not None
    refs = subprocess.run(  # noqa: S603 - the project's own command
        [str(BIN / "db-check-refs"), "all"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return [
        (
            "stock equals the ledger's sum",
            not reconciliation["drift"],
            f"{reconciliation['products']} products, {len(reconciliation['drift'])} drifting",
        ),
        ("no duplicate positions", row[0] == row[1], f"{row[0]} positions, {row[1]} distinct"),
        (
            "no dangling user references",
            refs.returncode == 0,
            "db-check-refs all: " + ("clean" if refs.returncode == 0 else refs.stdout[-300:]),
        ),
    ]


def write_report(
    out: Path,
    results: list[Figures],
    invariants: list[tuple[str, bool, str]],
    seconds: float,
    clients: int,
    workload: Workload,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Mixed workload",
        "",
        f"{clients} clients for {seconds:g} s against `atriz dev` (one worker per service) on a"
        " scratch PostgreSQL; `uv run python scripts/load/mixed_workload.py`.",
        "",
        "| operation | count | per s | p50 ms | p99 ms | not 2xx | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(r.statuses.items()))
        lines.append(
            f"| {r.operation} | {r.count} | {r.per_second:.1f} | {r.p50_ms:.1f} | {r.p99_ms:.1f}"
            f" | {r.failures} | {shown} |"
        )
    lines += ["", "| invariant | holds | detail |", "|---|---|---|"]
    lines += [
        f"| {name} | {'yes' if ok else '**NO**'} | {detail} |" for name, ok, detail in invariants
    ]
    lines.append("")
    for name, samples in sorted(workload.samples.items()):
        figure, axes = plt.subplots(figsize=(7, 3))
        axes.scatter([s.at for s in samples], [s.seconds * 1000 for s in samples], s=3)
        axes.set(title=name, xlabel="seconds into the run", ylabel="latency, ms")
        figure.tight_layout()
        image = out / f"{name.replace(' ', '_')}.png"
        figure.savefig(image, dpi=100)
        plt.close(figure)
        lines.append(f"![{name}]({image.name})")
    report = out / "load.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


async def exercise(seconds: float, clients: int, out: Path) -> int:
    with running_system() as system:
        async with httpx.AsyncClient(timeout=30) as http:
            workload = await prepare(system, http)
        await run_clients(workload, seconds, clients)
        invariants = check_invariants(workload)
    server_errors = sum(1 for line in system.log.splitlines() if "status=500" in line)
    invariants.append(("no 500 in any log", server_errors == 0, f"{server_errors} logged"))
    results = figures(workload, seconds)
    print(f"{'operation':<18} {'count':>6} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} {'not 2xx':>8}")
    for r in results:
        print(
            f"{r.operation:<18} {r.count:>6} {r.per_second:>7.1f} {r.p50_ms:>7.1f}"
            f" {r.p99_ms:>7.1f} {r.failures:>8}"
        )
    for name, ok, detail in invariants:
        print(f"{'holds' if ok else 'BROKEN':<7} {name}: {detail}")
    report = write_report(out, results, invariants, seconds, clients, workload)
    print(f"report: {report}")
    fives = sum(
        n for r in results for status, n in r.statuses.items() if status >= 500 or status == 0
    )
    return 0 if all(ok for _, ok, _ in invariants) and not fives else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("reports/load"))
    args = parser.parse_args()
    sys.exit(asyncio.run(exercise(args.seconds, args.clients, args.out)))


if __name__ == "__main__":
    main()
