"""Shared pieces of the benchmarks: a scratch database, services under granian, wrk."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from argon2 import PasswordHasher
from bench_app import AUDIENCE

from atriz_core.db import target
from atriz_core.settings import CoreSettings
from atriz_core.testing.tokens import TokenMinter
from atriz_database.connections import create_database, drop_database
from atriz_database.embedded import embedded_url
from atriz_database.migrations import migrate
from atriz_database.pool import connect
from atriz_database.seeds import seed
from atriz_database.services import ServiceSpec, server_command, server_environment
from atriz_database.settings import env_str
from atriz_database.testing import free_port
from atriz_database.urls import libpq_env_url, server_is_configured, with_database

HERE = Path(__file__).parent


def core_argon2() -> PasswordHasher:
    """argon2-cffi's hasher with core's default parameters, for the ceiling's threads."""
    defaults = CoreSettings(database_url="")
    return PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
    )


def server_url() -> str:
    """The PostgreSQL server the benchmarks use: `ATRIZ_TEST_DATABASE_URL`'s, `PG*`, else the
    embedded one."""
    explicit = env_str("ATRIZ_TEST_DATABASE_URL")
    return (
        with_database(explicit, "postgres")
        if explicit
        else libpq_env_url("postgres")
        if server_is_configured()
        else embedded_url("postgres")
    )


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """An empty database of its own, dropped afterwards."""
    url = with_database(server_url(), f"atriz_bench_{kind}_{uuid.uuid4().hex[:8]}")
    create_database(url)
    try:
        yield url
    finally:
        drop_database(url)


@contextmanager
def core_database() -> Iterator[str]:
    """A scratch `atriz_shared` with core's migrations and seeds, dropped afterwards."""
    with scratch_database("core") as url:
        migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
        seed(target, url)
        yield url


@contextmanager
def serve(factory: str, *, workers: int, env: dict[str, str]) -> Iterator[str]:
    """Serve an app factory with granian; yield its base URL once every worker has started.

    The server writes its output to a file, never to a pipe: a pipe nobody reads while the
    benchmark runs fills up, and a worker that then logs (an error, a 503 under overload) blocks
    its event loop on the write. What it logged at level WARNING or above is summed up at the end.
    """
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            # The command line `atriz serve` runs, so that what is measured is what is served.
            server_command(
                ServiceSpec("bench", factory, "BENCH_PORT", port),
                host="127.0.0.1",
                port=port,
                workers=workers,
            ),
            env={**server_environment(workers), "PYTHONPATH": _python_path(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        SERVERS[base] = process.pid
        try:
            if not _healthy(process, base, workers, log):
                sys.exit(f"{factory} did not become healthy:\n{_read(log)}")
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # granian's main process may hang (FACTS.md)
                process.kill()
                process.wait()
            _summarise_problems(factory, _read(log))


# The main process of each server `serve` runs, by base URL (for `server_cpu_seconds`).
SERVERS: dict[str, int] = {}


def _process_table() -> dict[int, tuple[int, float]]:
    """Every process's parent and CPU time so far (user and system, its own and that of the
    children it has reaped), from /proc."""
    table: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        # utime, stime, cutime, cstime: a child's time moves to its parent when it is reaped,
        # so each second is counted once, in the process or in whoever reaped it.
        table[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]) / tick)
    return table


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time used so far by the processes `roots` and every process under them."""
    table = _process_table()
    tree, total = list(roots), 0.0
    while tree:
        pid = tree.pop()
        total += table.get(pid, (0, 0.0))[1]
        tree += [child for child, (parent, _) in table.items() if parent == pid]
    return total


def server_cpu_seconds(base: str) -> float:
    """CPU time used so far by the server at `base`: its main process and granian's workers."""
    return tree_cpu_seconds([SERVERS[base]])


def postgres_server_pid(url: str) -> int | None:
    """The PostgreSQL server's main process for `url`, if it runs on this machine."""

    async def backends_parent() -> int | None:
        connection = await connect(url)
        try:
            pid: int = await connection.fetchval("SELECT pg_backend_pid()")
            # Read while connected: a backend exits as soon as its connection closes.
            parent = _process_table().get(pid)
        finally:
            await connection.close()
        return parent[0] if parent is not None else None

    return asyncio.run(backends_parent())


def machine_seconds() -> tuple[float, float]:
    """(busy, all): CPU time of every core so far, busy and in all, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:8]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick  # less idle, iowait


@contextmanager
def others_load(database_url: str) -> Iterator[Callable[[], float]]:
    """Measure, while the block runs, the share of the machine's CPU taken by processes that
    are not the benchmark's: the whole machine's busy time less that of this process and all
    under it (servers, wrk) and of the PostgreSQL server of `database_url`. Call what it yields,
    after the block, for that share (0 to 1).

    These machines are shared: another job's tests on the same two cores took a fifth of the
    logins away in one run, and its figures looked like a regression. A share above a few
    percent says the run's ratios mean less.
    """
    roots = [os.getpid()]
    postgres = postgres_server_pid(database_url)
    if postgres is not None:
        roots.append(postgres)
    started = (time.perf_counter(), machine_seconds()[0], tree_cpu_seconds(roots))
    measured: list[float] = []
    yield lambda: measured[0]
    elapsed = time.perf_counter() - started[0]
    busy = machine_seconds()[0] - started[1]
    own = tree_cpu_seconds(roots) - started[2]
    measured.append(max(busy - own, 0.0) / (elapsed * (os.cpu_count() or 1)))


def _python_path() -> str:
    """The benchmarks' modules, then any PYTHONPATH given (e.g. another checkout's sources)."""
    return os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))


def _healthy(process: subprocess.Popen[str], base: str, workers: int, log: IO[str]) -> bool:
    """Wait for every worker to start, then for `/health` to answer; False if it never does."""
    deadline = time.monotonic() + 60
    while _read(log).count("Started worker") < workers:
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    for _ in range(100):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()


def _summarise_problems(factory: str, output: str) -> None:
    problems = [line for line in output.splitlines() if re.match(r"\[?(WARNING|ERROR)", line)]
    if problems:
        print(f"{factory} logged {len(problems)} warnings or errors, first: {problems[0]}")


BENCH_ISSUER = "http://core.bench"


def bench_minter() -> TokenMinter:
    """The bench's own signing key: `bench_app` trusts it, tokens signed with it as core signs."""
    return TokenMinter(BENCH_ISSUER, (AUDIENCE,))


def bench_token(minter: TokenMinter, roles: tuple[str, ...] = ("user",)) -> str:
    """An access token for a user of `roles`, signed as core signs them, valid for an hour."""
    user = uuid.uuid4()
    return minter.access_token(
        user_id=user, email=f"{user.hex[:8]}@bench.test", roles=roles, lifetime_seconds=3600
    )


def bench_app_env(
    database_url: str, minter: TokenMinter, shared_database_url: str | None = None
) -> dict[str, str]:
    """The environment of `bench_app`: its own database, `atriz_shared` (for the revocation
    feed every app runs), trusting `minter`'s key."""
    return {
        "BENCH_DATABASE_URL": database_url,
        "BENCH_SHARED_DATABASE_URL": shared_database_url or "",
        "BENCH_JWKS": json.dumps(minter.jwks),
        "BENCH_ISSUER": BENCH_ISSUER,
    }


def run_wrk(
    url: str,
    *,
    seconds: float,
    connections: int = 64,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
) -> str:
    """wrk's report on loading `url` (two threads, as in FACTS.md).

    Its timeout is raised from 2 s to 30 s: wrk leaves a slower response out of the latencies
    (it counts it as a timeout), which would hide the tail of a queue.
    """
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command += ["--latency", url]
    if script_args:
        command += ["--", *script_args]
    try:
        return subprocess.run(  # noqa: S603 - fixed arguments
            command, capture_output=True, text=True, check=True
        ).stdout
    except FileNotFoundError:
        sys.exit("wrk is needed: apt-get install wrk")


def wrk(url: str, *, seconds: int = 10, connections: int = 64, token: str | None = None) -> float:
    """Requests per second that wrk reaches against `url`; every response must be a 2xx."""
    return wrk_load(url, seconds=seconds, connections=connections, token=token).per_second


@dataclass(frozen=True)
class Load:
    """What one wrk run reached, and what it cost the server."""

    per_second: float
    requests: int
    cpu_us: float | None  # the server's CPU time per request, when the server was named


def wrk_load(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 64,
    token: str | None = None,
    server: str | None = None,
) -> Load:
    """wrk against `url` (every response must be a 2xx); with `server` (a base URL that `serve`
    runs), also that server's CPU time per request, all its processes together."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    before = server_cpu_seconds(server) if server else 0.0
    output = run_wrk(url, seconds=seconds, connections=connections, headers=headers)
    cpu = server_cpu_seconds(server) - before if server else None
    if "Non-2xx" in output:
        sys.exit(f"wrk saw errors against {url}:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    assert rate, output
    assert count, output
    requests = int(count[1])
    return Load(
        per_second=float(rate[1]),
        requests=requests,
        cpu_us=cpu / requests * 1e6 if cpu is not None and requests else None,
    )


@dataclass(frozen=True)
class Compared:
    """A measurement against its baseline, over several rounds."""

    figure: float  # median of the measurements
    baseline: float  # median of the baselines
    ratio: float  # median, over the rounds, of a measurement over the baselines either side
    ratios: list[float]


def compare_in_rounds(
    baseline: Callable[[], float], measurements: dict[str, Callable[[], float]], rounds: int
) -> dict[str, Compared]:
    """Run the baseline, then each measurement, then the baseline again, `rounds` times.

    These shared machines' speed drifts by a quarter within a minute, so each measurement is
    set against the mean of the baselines taken just before and just after it, and the median
    of those ratios is reported; a ratio of two medians taken minutes apart drifts too much.
    """
    baselines = [baseline()]
    figures: dict[str, list[float]] = {name: [] for name in measurements}
    ratios: dict[str, list[float]] = {name: [] for name in measurements}
    for _ in range(rounds):
        for name, measure in measurements.items():
            figures[name].append(measure())
        baselines.append(baseline())
        around = (baselines[-2] + baselines[-1]) / 2
        for name in measurements:
            ratios[name].append(figures[name][-1] / around)
    return {
        name: Compared(
            figure=statistics.median(figures[name]),
            baseline=statistics.median(baselines),
            ratio=statistics.median(ratios[name]),
            ratios=ratios[name],
        )
        for name in measurements
    }


def report(
    name: str, figure: float, baseline: float, unit: str, target: str, ratio: float | None = None
) -> None:
    ratio = figure / baseline if ratio is None else ratio
    print(f"{name:<48} {figure:>10.1f} {unit:<8} baseline {baseline:>10.1f}  "
          f"ratio {ratio:>5.2f}  (target {target})")  # fmt: skip


def report_compared(name: str, compared: Compared, unit: str, target: str) -> None:
    """One line for `compared`, then each round's ratio, so that the spread shows."""
    report(name, compared.figure, compared.baseline, unit, target, compared.ratio)
    print(f"{'':<48} rounds: {' '.join(f'{r:.2f}' for r in compared.ratios)}")
