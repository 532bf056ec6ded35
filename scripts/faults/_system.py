"""What the fault scripts share: the whole system (`atriz dev`) on a PostgreSQL of its own, and a
steady loop of requests across the services whose every answer is recorded.

Loopback only, and bounded in time: each script stops everything it started, whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from atriz_database.scratch_cluster import ScratchCluster
from atriz_database.services import load_services
from atriz_database.testing import BIN, clean_environment, free_port
from atriz_database.testing_processes import (
    follow_output,
    read_until,
    start_atriz_dev,
    stop,
    wait_until_healthy,
)

SEEDED_USER = ("dispatcher@atriz.localhost", "atriz-dev-password")

# One read per service that needs its own database (and, for apps, a token): what a restart of
# PostgreSQL interrupts. `/ready` checks the shared database too.
PROBES: dict[str, tuple[str, ...]] = {
    "core": ("/auth/me", "/ready"),
    "website": ("/articles", "/profiles/me", "/ready"),
    "mextrack": ("/vehicles", "/positions/latest", "/ready"),
    "pshop": ("/products", "/ready"),
}


@dataclass
class RunningSystem:
    cluster: ScratchCluster
    process: subprocess.Popen[str]
    urls: dict[str, str]
    env: dict[str, str]
    log: str = ""
    """Everything the services printed, once they have stopped."""


@contextmanager
def scratch_environment(
    settings: dict[str, str],
) -> Iterator[tuple[ScratchCluster, dict[str, str]]]:
    """A scratch PostgreSQL, and an environment that points every command at it, with a free
    port for every service and an empty `ATRIZ_HOME`."""
    with (
        tempfile.TemporaryDirectory(prefix="atriz-fault-") as scratch,
        ScratchCluster.running(Path(scratch) / "pgdata") as cluster,
    ):
        home = Path(scratch) / "home"
        home.mkdir()
        ports = {spec.port_env: str(free_port()) for spec in load_services().values()}
        env = clean_environment(
            home,
            PGHOST="127.0.0.1",
            PGPORT=str(cluster.port),
            PGUSER="postgres",
            ATRIZ_CORE_URL=f"http://127.0.0.1:{ports['CORE_PORT']}",
            **ports,
            **settings,
        )
        yield cluster, env


@contextmanager
def running_system(**settings: str) -> Iterator[RunningSystem]:
    """A scratch PostgreSQL, and `atriz dev` on it (every database created, migrated, seeded)."""
    with scratch_environment(settings) as (cluster, env):
        services = load_services()
        process = start_atriz_dev(env)
        try:
            read_until(process, "Press Ctrl-C to stop.")
            urls = {}
            for spec in services.values():
                port = int(env[spec.port_env])
                wait_until_healthy(port, process)
                urls[spec.name] = f"http://127.0.0.1:{port}"
            system = RunningSystem(cluster, process, urls, env)
            yield system
        finally:
            log = stop(process)
        system.log = log


@dataclass
class SeparateServices:
    """Each service served by `atriz serve NAME` in a process of its own, as in production, so
    that one can be stopped while the others serve."""

    cluster: ScratchCluster
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[str]]
    urls: dict[str, str]

    def stop(self, name: str) -> str:
        """Stop one service (SIGTERM to its process group); its output."""
        return stop(self.processes[name], signal.SIGTERM, group=True)

    def kill(self, name: str) -> None:
        """`kill -9` of one service's whole process group (server and workers), no warning."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def start(self, name: str) -> None:
        """Serve `name` again, as before, and wait until it answers `/health`."""
        self.processes[name] = serve(name, self.env)
        wait_until_healthy(int(self.env[load_services()[name].port_env]), self.processes[name])


def serve(name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`atriz serve NAME --workers 1` in a process group of its own, its output followed."""
    process = subprocess.Popen(  # noqa: S603 - the project's own command
        [str(BIN / "atriz"), "serve", name, "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    follow_output(process)
    return process


@contextmanager
def running_services(**settings: str) -> Iterator[SeparateServices]:
    """A scratch PostgreSQL, its databases prepared by `atriz dev --no-serve`, and every
    service started on its own with `atriz serve NAME --workers 1`."""
    with scratch_environment(settings) as (cluster, env):
        prepared = subprocess.run(  # noqa: S603 - the project's own command
            [str(BIN / "atriz"), "dev", "--no-serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if prepared.returncode != 0:
            raise RuntimeError(f"atriz dev --no-serve failed: {prepared.stdout}{prepared.stderr}")
        services = SeparateServices(cluster, env, {}, {})
        try:
            for spec in load_services().values():
                services.processes[spec.name] = serve(spec.name, env)
            for name, process in services.processes.items():
                port = int(env[load_services()[name].port_env])
                wait_until_healthy(port, process)
                services.urls[name] = f"http://127.0.0.1:{port}"
            yield services
        finally:
            for name, process in services.processes.items():
                if process.poll() is None:
                    try:
                        stop(process, signal.SIGTERM, group=True)
                    except AssertionError as slow:  # killed by then: reported, not fatal
                        print(
                            f"{name} did not stop within 10 s of SIGTERM and was killed: {slow}"[
                                :300
                            ]
                        )


@dataclass(frozen=True)
class Answer:
    at: float
    service: str
    path: str
    status: int  # 0: no HTTP answer at all
    retry_after: bool
    seconds: float


@dataclass
class Recorder:
    """Every answer of the loop, by time since the loop started."""

    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started


async def sign_in(core_url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{core_url}/auth/login",
            json={"email": SEEDED_USER[0], "password": SEEDED_USER[1]},
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token


async def request_loop(
    urls: dict[str, str], token: str, recorder: Recorder, until: float, clients: int
) -> None:
    """`clients` concurrent loops per service, each going round that service's probes until
    `until` (seconds on the recorder's clock): a request stuck at one service never holds back
    the requests to the others."""
    headers = {"Authorization": f"Bearer {token}"}

    async def one_client(service: str, offset: int) -> None:
        paths = PROBES[service]
        async with httpx.AsyncClient(timeout=15, headers=headers) as client:
            index = offset
            while recorder.now() < until:
                path = paths[index % len(paths)]
                index += 1
                sent = time.monotonic()
                try:
                    answer = await client.get(urls[service] + path)
                    status, retry = answer.status_code, "retry-after" in answer.headers
                except httpx.TransportError:
                    status, retry = 0, False
                recorder.answers.append(
                    Answer(recorder.now(), service, path, status, retry, time.monotonic() - sent)
                )
                await asyncio.sleep(0.01)

    await asyncio.gather(
        *(
            one_client(service, offset)
            for service in PROBES
            if service in urls
            for offset in range(clients)
        )
    )


@dataclass(frozen=True)
class ServiceOutcome:
    service: str
    statuses: Counter[int]
    unannounced_503: Counter[str]
    """503 answers without `Retry-After`, by path."""
    recovered_after: float | None
    """Seconds from the fault's end to the last failed answer (None: no failure at all)."""
    p99_ms: float


def outcomes(recorder: Recorder, fault_ended: float) -> list[ServiceOutcome]:
    results = []
    for service in sorted({answer.service for answer in recorder.answers}):
        mine = [answer for answer in recorder.answers if answer.service == service]
        failed = [answer.at for answer in mine if answer.status >= 500 or answer.status == 0]
        seconds = sorted(answer.seconds for answer in mine)
        results.append(
            ServiceOutcome(
                service=service,
                statuses=Counter(answer.status for answer in mine),
                unannounced_503=Counter(
                    answer.path
                    for answer in mine
                    if answer.status == 503 and not answer.retry_after
                ),
                recovered_after=max(0.0, max(failed) - fault_ended) if failed else None,
                p99_ms=1000 * statistics.quantiles(seconds, n=100)[98] if len(seconds) > 1 else 0.0,
            )
        )
    return results


def print_outcomes(results: list[ServiceOutcome]) -> None:
    print(
        f"{'service':<10} {'answers':>8} {'2xx':>6} {'4xx':>5} {'503':>5} {'other 5xx':>9}"
        f" {'no answer':>9} {'503 no Retry-After':>18} {'recovered':>10} {'p99 ms':>8}"
    )
    for result in results:
        statuses = result.statuses
        ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
        client_errors = sum(count for status, count in statuses.items() if 400 <= status < 500)
        other = sum(count for status, count in statuses.items() if status >= 500 and status != 503)
        recovered = "-" if result.recovered_after is None else f"{result.recovered_after:.1f} s"
        print(
            f"{result.service:<10} {statuses.total():>8} {ok:>6} {client_errors:>5}"
            f" {statuses[503]:>5} {other:>9}"
            f" {statuses[0]:>9} {result.unannounced_503.total():>18} {recovered:>10}"
            f" {result.p99_ms:>8.0f}"
        )


def failures_of(results: list[ServiceOutcome], *, recovery_limit: float) -> list[str]:
    """What every fault must leave true: no 5xx but 503, each 503 with `Retry-After`, every
    request answered, and normal answers again within `recovery_limit` of the fault's end."""
    failures = []
    for result in results:
        statuses = result.statuses
        other_5xx = sum(n for status, n in statuses.items() if status >= 500 and status != 503)
        if other_5xx:
            failures.append(f"{result.service}: {other_5xx} answers 5xx other than 503")
        for path, count in result.unannounced_503.items():
            failures.append(f"{result.service}: {count} 503s without Retry-After on {path}")
        if statuses[0]:
            failures.append(f"{result.service}: {statuses[0]} requests got no answer")
        if result.recovered_after is not None and result.recovered_after > recovery_limit:
            failures.append(
                f"{result.service}: still failing {result.recovered_after:.1f} s after the fault"
            )
    return failures


def report(failures: list[str], passed: str, log: str = "") -> int:
    """Print the verdict (and, on a failure, the services' log lines about errors); the exit
    status."""
    for failure in failures:
        print(f"FAIL {failure}")
    if failures and log:
        saved = Path(tempfile.mkdtemp(prefix="atriz-fault-")) / "services.log"
        saved.write_text(log, encoding="utf-8")
        errors = [line for line in log.splitlines() if "[error" in line]
        print("\n".join(errors[-20:]))
        print(f"the services' whole log: {saved}")
    if not failures:
        print(f"PASS {passed}")
    return 1 if failures else 0
