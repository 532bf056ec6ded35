"""What each part of the kit's per-request work costs, and where a login's CPU goes.

    uv run python scripts/bench/kit_overhead.py [app] [core] [login]

Each part serves variants of one app side by side (granian, 2 workers each) and loads them in
interleaved rounds against the unchanged app, the baseline either side, as the other
benchmarks do; beside each rate, the server's CPU time per request (all its processes, from
/proc), which the machine's drift disturbs much less. The variants take one piece of the kit's
per-request work out with the bench switches of `bench_toggles` (nothing in `packages/` reads
them):

- `app`: the bench app's public route (one SELECT by primary key; `bench_app`, here with pools
  of 4 and no `atriz_shared`, for seven apps to fit in PostgreSQL's connections), built by the
  kit, without its request log line, without its Prometheus middleware, without its request id
  middleware (id and log line), without both, with console log lines instead of JSON, and
  wired by hand without the kit (`create_bare_app`).
- `core`: core (`bench_core`, `ATRIZ_ENV=test`: console log lines) on a cheap route through
  the same middleware as a login (`GET /.well-known/jwks.json`): each piece's cost per request,
  so per login.
- `login`: login storms at 8 connections against core, and core without the Prometheus and
  request id middleware: logins/s and, per successful login, the CPU of core's processes, of
  the PostgreSQL backends serving it and of wrk, beside one argon2 verification's CPU (measured
  in this process on one thread while another verifies too, as core's two workers do).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from urllib.parse import urlsplit

import asyncpg
from _support import (
    HERE,
    bench_app_env,
    bench_minter,
    compare_in_rounds,
    core_database,
    report_compared,
    run_wrk,
    scratch_database,
    serve,
    server_cpu_seconds,
    wrk_load,
)
from argon2 import PasswordHasher
from login_throughput import DRAIN_SECONDS, USERS, make_users
from token_verification import PASSWORD, make_items

from atriz_core.settings import CoreSettings

SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
LOGIN_SECONDS = int(os.environ.get("BENCH_LOGIN_SECONDS", "8"))

APP_VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "no request log line": ("bench_app:create_app", {"BENCH_ACCESS_LOG": "0"}),
    "no Prometheus middleware": ("bench_app:create_app", {"BENCH_METRICS": "0"}),
    "no request id middleware": ("bench_app:create_app", {"BENCH_REQUEST_CONTEXT": "0"}),
    "neither middleware": (
        "bench_app:create_app",
        {"BENCH_METRICS": "0", "BENCH_REQUEST_CONTEXT": "0"},
    ),
    "console log lines": ("bench_app:create_app", {"BENCH_LOG_FORMAT": "console"}),
    "wired by hand, no kit": ("bench_app:create_bare_app", {}),
}
CORE_VARIANTS: dict[str, dict[str, str]] = {
    "no request log line": {"BENCH_ACCESS_LOG": "0"},
    "no Prometheus middleware": {"BENCH_METRICS": "0"},
    "no request id middleware": {"BENCH_REQUEST_CONTEXT": "0"},
    "neither middleware": {"BENCH_METRICS": "0", "BENCH_REQUEST_CONTEXT": "0"},
    "JSON log lines": {"BENCH_LOG_FORMAT": "json"},
}


def _rounds(
    title: str,
    baseline: tuple[str, str],
    variants: dict[str, tuple[str, str]],
    load: Callable[[str, str, str], tuple[float, float]],
    unit: str,
) -> None:
    """Interleaved rounds: `baseline` and each of `variants` are (url, server); `load` returns
    (rate, CPU µs per unit) and the CPU figures are printed under the rates."""
    cpu: dict[str, list[float]] = {}

    def measure(name: str, url: str, server: str) -> float:
        rate, cpu_us = load(name, url, server)
        cpu.setdefault(name, []).append(cpu_us)
        return rate

    for url, server in [baseline, *variants.values()]:  # warm up
        load("warm-up", url, server)
    compared = compare_in_rounds(
        partial(measure, "baseline", *baseline),
        {name: partial(measure, name, *where) for name, where in variants.items()},
        ROUNDS,
    )
    base_cpu = statistics.median(cpu["baseline"])
    base_rate = next(iter(compared.values())).baseline
    print(f"\n{title}: {ROUNDS} rounds, medians; baseline {base_rate:.1f} {unit}")
    print(f"  {'baseline':<40} CPU {base_cpu:>7.0f} µs/{unit.split('/')[0]}"
          f" ({min(cpu['baseline']):.0f}-{max(cpu['baseline']):.0f})")  # fmt: skip
    for name, result in compared.items():
        report_compared(f"  {name}", result, unit, "information")
        spent = statistics.median(cpu[name])
        print(f"{'':<48} CPU {spent:.0f} µs ({min(cpu[name]):.0f}-{max(cpu[name]):.0f}),"
              f" {spent - base_cpu:+.0f} µs against the baseline")  # fmt: skip


def _http_load(token: str | None, _: str, url: str, server: str) -> tuple[float, float]:
    measured = wrk_load(url, seconds=SECONDS, token=token, server=server)
    assert measured.cpu_us is not None
    return measured.per_second, measured.cpu_us


def app_part() -> None:
    with scratch_database("app") as url, ExitStack() as servers:
        asyncio.run(make_items(url))
        # Seven apps of two workers: pools of 4 and no `atriz_shared` pool (the revocation feed
        # and its LISTEN), to stay well within PostgreSQL's 100 connections.
        app_env = {**bench_app_env(url, bench_minter()), "ATRIZ_DB_POOL_MAX": "4"}
        kit = servers.enter_context(serve("bench_app:create_app", workers=2, env=app_env))
        variants = {}
        for name, (factory, switches) in APP_VARIANTS.items():
            base = servers.enter_context(serve(factory, workers=2, env={**app_env, **switches}))
            variants[name] = (f"{base}/open/1", base)
        _rounds(
            "bench app, public route (one SELECT), the kit's app as baseline",
            (f"{kit}/open/1", kit),
            variants,
            partial(_http_load, None),
            "req/s",
        )


def _core_env(url: str, switches: dict[str, str]) -> dict[str, str]:
    return {
        "SHARED_DATABASE_URL": url,
        "ATRIZ_ENV": "test",
        "CORE_PUBLIC_URL": "http://core.bench",
        "CORE_ADDRESS_MAX_FAILURES": "100000",
        **switches,
    }


def core_part() -> None:
    with core_database() as url, ExitStack() as servers:
        core = servers.enter_context(
            serve("bench_core:create_app", workers=2, env=_core_env(url, {}))
        )
        variants = {}
        for name, switches in CORE_VARIANTS.items():
            base = servers.enter_context(
                serve("bench_core:create_app", workers=2, env=_core_env(url, switches))
            )
            variants[name] = (f"{base}/.well-known/jwks.json", base)
        _rounds(
            "core, GET /.well-known/jwks.json, core as served as baseline",
            (f"{core}/.well-known/jwks.json", core),
            variants,
            partial(_http_load, None),
            "req/s",
        )


async def _backend_pids(url: str, database: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


def _pids_cpu_seconds(pids: list[int]) -> float:
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


LOGIN_CPU: dict[str, list[tuple[float, float, float]]] = {}


def _login_load(url: str, name: str, core: str, server: str) -> tuple[float, float]:
    """A storm of LOGIN_SECONDS at 8 connections: successful logins/s, and core's CPU per
    successful login (µs); PostgreSQL's and wrk's are kept in LOGIN_CPU."""
    database = urlsplit(url).path.lstrip("/")
    backends = asyncio.run(_backend_pids(url, database))
    before = (server_cpu_seconds(server), _pids_cpu_seconds(backends), _children_cpu_seconds())
    output = run_wrk(
        core,
        seconds=LOGIN_SECONDS,
        connections=8,
        script=HERE / "login_storm.lua",
        script_args=(str(USERS), PASSWORD),
    )
    after = (server_cpu_seconds(server), _pids_cpu_seconds(backends), _children_cpu_seconds())
    time.sleep(DRAIN_SECONDS)
    figures = dict(re.findall(r"^(\w+)=([\d.]+)$", output, re.M))
    ok = sum(int(v) for k, v in figures.items() if k.startswith("status_2"))
    others = sum(
        int(v)
        for k, v in figures.items()
        if k.startswith("status_") and not k.startswith("status_2")
    )
    if others:
        print(f"  ({name}: {others} responses not 2xx)", file=sys.stderr)
    spent = [(b - a) / max(ok, 1) * 1e6 for a, b in zip(before, after, strict=True)]
    LOGIN_CPU.setdefault(name, []).append((spent[0], spent[1], spent[2]))
    return ok / (float(figures["duration_us"]) / 1e6), spent[0]


def argon2_cpu_us(seconds: float = 4.0) -> float:
    """One verification's CPU time on its thread, two threads verifying at once."""
    defaults = CoreSettings(database_url="")
    hasher = PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
    )
    stored = hasher.hash(PASSWORD)
    results: list[float] = []

    def work() -> None:
        count, started, deadline = 0, time.thread_time(), time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            count += 1
        results.append((time.thread_time() - started) / count * 1e6)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.mean(results)


def login_part() -> None:
    lean = {"BENCH_METRICS": "0", "BENCH_REQUEST_CONTEXT": "0"}
    with core_database() as url:
        asyncio.run(make_users(url))
        with (
            serve("bench_core:create_app", workers=2, env=_core_env(url, {})) as core,
            serve("bench_core:create_app", workers=2, env=_core_env(url, lean)) as lean_core,
        ):
            load = partial(_login_load, url)
            argon2 = [argon2_cpu_us()]
            _rounds(
                f"logins, 8 connections, storms of {LOGIN_SECONDS} s, core as served as baseline",
                (core, core),
                {"without Prometheus and request id middleware": (lean_core, lean_core)},
                load,
                "logins/s",
            )
            argon2.append(argon2_cpu_us())
    verify = statistics.mean(argon2)
    print(f"  argon2 verify, CPU on its thread while another verifies: {verify:.0f} µs"
          f" (before {argon2[0]:.0f}, after {argon2[1]:.0f})")  # fmt: skip
    for name, samples in LOGIN_CPU.items():
        if name == "warm-up":
            continue
        core_us, pg_us, wrk_us = (statistics.median(s[i] for s in samples) for i in range(3))
        print(f"  {name:<46} per successful login: core {core_us:.0f} µs (of which argon2"
              f" {verify:.0f}, other {core_us - verify:.0f}), PostgreSQL {pg_us:.0f} µs,"
              f" wrk {wrk_us:.0f} µs; argon2 / all of it:"
              f" {verify / (core_us + pg_us + wrk_us):.2f}")  # fmt: skip


def main() -> None:
    parts = sys.argv[1:] or ["app", "core", "login"]
    for part in parts:
        {"app": app_part, "core": core_part, "login": login_part}[part]()


if __name__ == "__main__":
    main()
