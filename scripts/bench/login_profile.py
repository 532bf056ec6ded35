"""Where a login's time goes: core under login storms, each kind of thread measured from /proc,
then profiled with py-spy.

    uv run --with py-spy python scripts/bench/login_profile.py [without-argon2]

For 8 and for 64 connections, ROUNDS rounds of: the argon2 ceiling (two threads in this process,
as `login_throughput.py` measures it), then a storm of STORM_SECONDS against core (granian, 2
workers, `ATRIZ_ENV=test`). In each window, from /proc (`schedstat`: time on a core, and time
runnable but waiting for one): core's hashing threads, its event loops, granian's Rust threads,
the PostgreSQL backends of the bench database, wrk (`getrusage`), and the whole machine's busy
time (`/proc/stat`), all per successful login; medians over the rounds. The ratio to the ceiling
splits into two factors: how much a verification costs a hashing thread (against the ceiling's
threads) and how much of the time the hashing threads spend on a core (against the ceiling's).

The first factor is set by interruptions: both cores being busy hashing, every wake-up of an
event loop, a granian thread, a PostgreSQL backend or wrk preempts a hashing thread, and argon2
(19 MiB streamed through the caches) then finds part of its working set evicted. So each storm
also counts context switches per login, by kind of thread (from /proc `status`), and the run
begins by measuring what one interruption costs a verification: the ceiling's threads alone,
then beside two processes that wake every millisecond.

Then one storm per connection count under py-spy (both workers, `--nonblocking --gil`: only
the thread holding the GIL is sampled, so an event loop woken from `select` but still waiting for
a core does not count, nor does hashing, which runs without the GIL): where the Python side's
time goes, by the package of the innermost Python frame.
With `without-argon2`: core whose password check skips argon2 (`BENCH_FAKE_ARGON2=1`), so that
the rest of a login's cost is measured over many logins, and profiled with more samples.
`BENCH_CORE_ENV` passes bench switches (`bench_toggles`) to core as in `login_throughput.py`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from _support import (
    HERE,
    SERVERS,
    core_argon2,
    core_database,
    machine_seconds,
    run_wrk,
    serve,
)
from login_throughput import DRAIN_SECONDS, USERS, make_users, storm
from token_verification import PASSWORD

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
STORM_SECONDS = int(os.environ.get("BENCH_STORM_SECONDS", "8"))
CEILING_SECONDS = float(os.environ.get("BENCH_CEILING_SECONDS", "3"))
PROFILE_SECONDS = int(os.environ.get("BENCH_PROFILE_SECONDS", "8"))
CONNECTIONS = (8, 64)
CORE_SWITCHES: dict[str, str] = json.loads(os.environ.get("BENCH_CORE_ENV", "{}"))
CORE_FACTORY = "bench_core:create_app" if CORE_SWITCHES else "atriz_core.app:create_app_from_env"
KINDS = ("hashing", "event loop", "granian (Rust)", "other core threads")
POSTGRES = "PostgreSQL backends"


def _schedstat(path: str) -> tuple[float, float]:
    """(seconds on a core, seconds runnable waiting for one) of a task or process."""
    try:
        with open(f"{path}/schedstat") as stat:
            run, wait, _ = stat.read().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


def _workers(base: str) -> list[int]:
    main = SERVERS[base]
    out = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True, check=False)  # noqa: S603, S607
    return [int(pid) for pid in out.stdout.split()]


def _thread_names(workers: list[int]) -> dict[int, str]:
    """Python's names of the workers' threads (py-spy dump), by thread id; empty without py-spy."""
    spy = shutil.which("py-spy")
    names: dict[int, str] = {}
    if spy is None:
        return names
    for pid in workers:
        dump = subprocess.run(  # noqa: S603 - py-spy on our own server's workers
            [spy, "dump", "--pid", str(pid)], capture_output=True, text=True, check=False
        )
        for tid, name in re.findall(
            r"^Thread (\d+) \([^)]*\)(?:: \"([^\"]*)\")?", dump.stdout, re.M
        ):
            names[int(tid)] = name
    return names


def _kind(pid: int, tid: int, names: dict[int, str]) -> str:
    with open(f"/proc/{pid}/task/{tid}/comm") as comm:
        if comm.read().strip().startswith("tokio"):
            return "granian (Rust)"
    if tid == pid:
        return "event loop"
    if names.get(tid, "").startswith("argon2"):
        return "hashing"
    return "other core threads"


def _switches(path: str) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of a task or process so far. A voluntary one
    is a wait (I/O, a lock, the GIL); an involuntary one, a preemption or a `sched_yield`."""
    counts = {"voluntary_ctxt_switches": 0, "nonvoluntary_ctxt_switches": 0}
    try:
        with open(f"{path}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in counts:
                    counts[name] = int(value)
    except OSError:  # gone meanwhile
        pass
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


@dataclass
class Snapshot:
    threads: dict[str, tuple[float, float]]  # kind: (on a core, waiting for one)
    switches: dict[str, tuple[int, int]]  # kind, or PostgreSQL: (voluntary, involuntary)
    postgres: float
    wrk: float
    machine: tuple[float, float]
    at: float = field(default_factory=time.perf_counter)


def _snapshot(workers: list[int], names: dict[int, str], backends: list[int]) -> Snapshot:
    threads = dict.fromkeys(KINDS, (0.0, 0.0))
    switches = dict.fromkeys((*KINDS, POSTGRES), (0, 0))
    for pid in workers:
        for entry in os.listdir(f"/proc/{pid}/task"):
            tid = int(entry)
            run, wait = _schedstat(f"/proc/{pid}/task/{tid}")
            kind = _kind(pid, tid, names)
            threads[kind] = (threads[kind][0] + run, threads[kind][1] + wait)
            switches[kind] = _add(switches[kind], _switches(f"/proc/{pid}/task/{tid}"))
    for pid in backends:
        switches[POSTGRES] = _add(switches[POSTGRES], _switches(f"/proc/{pid}"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(
        threads=threads,
        switches=switches,
        postgres=sum(_schedstat(f"/proc/{pid}")[0] for pid in backends),
        wrk=usage.ru_utime + usage.ru_stime,
        machine=machine_seconds(),
    )


async def _backends(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            urlsplit(url).path.lstrip("/"),
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


@dataclass
class Ceiling:
    per_second: float
    cpu_ms: float  # one verification's time on a core
    wait_ms: float  # one verification's time runnable, waiting for a core
    on_core: float  # share of the window the hashing threads spent on a core
    interrupted: float  # involuntary context switches per verification


def ceiling(seconds: float) -> Ceiling:
    """Two threads verifying, as `login_throughput.argon2_ceiling`; with their schedstat."""
    hasher = core_argon2()
    stored = hasher.hash(PASSWORD)
    results: list[tuple[int, float, float, int]] = []
    deadline = time.perf_counter() + seconds

    def work() -> None:
        run0, wait0 = _schedstat("/proc/thread-self")
        switched0 = _switches("/proc/thread-self")[1]
        count = 0
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            count += 1
        run1, wait1 = _schedstat("/proc/thread-self")
        results.append(
            (count, run1 - run0, wait1 - wait0, _switches("/proc/thread-self")[1] - switched0)
        )

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    count = sum(r[0] for r in results)
    run = sum(r[1] for r in results)
    wait = sum(r[2] for r in results)
    interrupted = sum(r[3] for r in results) / count
    return Ceiling(
        count / wall, run / count * 1000, wait / count * 1000, run / (2 * wall), interrupted
    )


# A stand-in for a server's short bursts of work: every WAKER_PERIOD it wakes, and for WAKER_BURST
# touches one byte in each page of 8 MiB (as an event loop or a PostgreSQL backend brings its own
# data and pages to a core: cache lines and TLB entries).
WAKER_PERIOD, WAKER_BURST = 0.001, 0.0001
_WAKER = """
import sys, time
period, burst, until = (float(v) for v in sys.argv[1:])
memory = bytearray(8 << 20)
while time.monotonic() < until:
    time.sleep(period)
    started = time.perf_counter()
    while time.perf_counter() - started < burst:
        memory[::4096] = bytes(len(memory[::4096]))
"""


def interruption_cost(seconds: float) -> tuple[Ceiling, Ceiling, float]:
    """What one interruption costs a verification: the ceiling's threads beside two processes
    that wake every WAKER_PERIOD for WAKER_BURST (each wake-up preempts a hashing thread, both
    cores being busy), against the same threads alone just before and just after (the host's
    speed drifts); the extra CPU per verification over the extra involuntary switches per
    verification, in ms (NaN if there were none). argon2 streams through 19 MiB: whatever ran in
    between has evicted part of what it had in the core's caches and TLB."""
    before = ceiling(seconds)
    until = time.monotonic() + seconds + 1
    wakers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", _WAKER, str(WAKER_PERIOD), str(WAKER_BURST), str(until)]
        )
        for _ in range(2)
    ]
    try:
        time.sleep(0.3)  # started
        beside = ceiling(seconds)
    finally:
        for waker in wakers:
            waker.kill()
            waker.wait()
    after = ceiling(seconds)
    alone = Ceiling(
        *(statistics.mean(pair) for pair in zip(astuple(before), astuple(after), strict=True))
    )
    extra = beside.interrupted - alone.interrupted
    return alone, beside, (beside.cpu_ms - alone.cpu_ms) / extra if extra > 0 else math.nan


@dataclass
class Window:
    logins: float  # successful, per second
    busy: int  # 503s
    per_login_ms: dict[str, float]  # what each part spent per successful login
    switches_per_login: dict[str, tuple[float, float]]  # (voluntary, involuntary), by kind
    hashing_on_core: float  # share of the window the hashing threads spent on a core
    hashing_waiting: float  # share of it they spent runnable, waiting for a core


def storm_window(
    core: str, connections: int, workers: list[int], names: dict[int, str], url: str
) -> Window:
    backends = asyncio.run(_backends(url))
    before = _snapshot(workers, names, backends)
    output = run_wrk(
        core,
        seconds=STORM_SECONDS,
        connections=connections,
        script=HERE / "login_storm.lua",
        script_args=(str(USERS), PASSWORD),
    )
    after = _snapshot(workers, names, backends)
    time.sleep(DRAIN_SECONDS)
    figures = dict(re.findall(r"^(\w+)=([\d.]+)$", output, re.M))
    ok = sum(int(v) for k, v in figures.items() if k.startswith("status_2"))
    wall = after.at - before.at
    per: dict[str, float] = {}
    for kind in KINDS:
        per[f"{kind}: on a core"] = (after.threads[kind][0] - before.threads[kind][0]) / ok * 1000
        per[f"{kind}: waiting for a core"] = (
            (after.threads[kind][1] - before.threads[kind][1]) / ok * 1000
        )
    per[POSTGRES] = (after.postgres - before.postgres) / ok * 1000
    per["wrk"] = (after.wrk - before.wrk) / ok * 1000
    machine_busy = after.machine[0] - before.machine[0]
    per["whole machine busy"] = machine_busy / ok * 1000
    per["whole machine idle"] = ((after.machine[1] - before.machine[1]) - machine_busy) / ok * 1000
    hashing_run = after.threads["hashing"][0] - before.threads["hashing"][0]
    hashing_wait = after.threads["hashing"][1] - before.threads["hashing"][1]
    return Window(
        logins=ok / (float(figures["duration_us"]) / 1e6),
        busy=int(figures.get("status_503", 0)),
        per_login_ms=per,
        switches_per_login={
            kind: (
                (after.switches[kind][0] - before.switches[kind][0]) / ok,
                (after.switches[kind][1] - before.switches[kind][1]) / ok,
            )
            for kind in after.switches
        },
        hashing_on_core=hashing_run / (2 * wall),
        hashing_waiting=hashing_wait / (2 * wall),
    )


_CATEGORIES = (
    ("structlog/", "log line (structlog)"),
    ("atriz_core/kit/logs.py", "log line (structlog)"),
    ("logging/", "log line (structlog)"),
    ("prometheus_client/", "Prometheus middleware"),
    ("atriz_core/kit/metrics.py", "Prometheus middleware"),
    ("atriz_core/kit/request_ids.py", "request id middleware"),
    ("asyncpg/", "asyncpg"),
    ("jwt/", "token signing (pyjwt, cryptography)"),
    ("cryptography/", "token signing (pyjwt, cryptography)"),
    ("argon2/", "argon2 (its Python side, GIL held)"),
    ("msgspec/", "Litestar (request, DI, response)"),
    ("litestar/", "Litestar (request, DI, response)"),
    ("asyncio/", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("concurrent/futures", "thread pool hand-off"),
    ("threading.py", "thread pool hand-off"),
    ("granian/", "granian (Python side)"),
    ("atriz_core/", "core's own code"),
    ("atriz_database/", "core's own code"),
)


def _category(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):  # innermost first
        location = frame.rsplit("(", 1)[-1]
        for needle, name in _CATEGORIES:
            if needle in location:
                return name
    return "other: " + frames[-1].rsplit("(", 1)[-1].split(":")[0]


@dataclass
class Profile:
    by_thread: Counter[str]  # samples of the GIL's holder, by thread name
    loops: Counter[str]  # the event loops' samples by category
    leaves: Counter[str]  # the event loops' samples by innermost frame
    logins: int  # successful logins during the profile
    rate: int  # samples per second


def profile(core: str, connections: int, workers: list[int], rate: int = 100) -> Profile | None:
    """py-spy on both workers during a storm, sampling the GIL's holder; None without py-spy."""
    spy = shutil.which("py-spy")
    if spy is None:
        return None
    folder = Path(tempfile.mkdtemp())
    spies = [
        subprocess.Popen(  # noqa: S603 - py-spy on our own server's workers
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(PROFILE_SECONDS),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--gil",
                "--threads",
                "-o",
                str(folder / f"{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in workers
    ]
    time.sleep(0.5)
    result = storm(core, PROFILE_SECONDS - 1, connections)
    for spy_process in spies:
        spy_process.wait()
    found = Profile(Counter(), Counter(), Counter(), 0, rate)
    for path in folder.glob("*.txt"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            thread = stack.split(";", 1)[0]
            name = thread.split(": ", 1)[-1] if ": " in thread else "unnamed"
            found.by_thread[name] += int(count)
            if name == "MainThread":
                found.loops[_category(stack)] += int(count)
                found.leaves[re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])] += int(count)
    shutil.rmtree(folder)
    found.logins = round(result.logins * (PROFILE_SECONDS - 1))
    return found


def _print_profile(connections: int, found: Profile | None, leaves: int = 0) -> None:
    if found is None:
        print("\n(py-spy not found: run with `uv run --with py-spy`)")
        return
    total = sum(found.by_thread.values())
    ms = 1000 / found.rate
    print(
        f"\npy-spy, {connections} connections, {PROFILE_SECONDS - 1} s storm, {found.logins}"
        f" logins, {total} samples of the GIL's holder at {found.rate}/s; by thread:"
        f" {', '.join(f'{n} {c / total:.0%}' for n, c in found.by_thread.most_common())}"
    )
    loop_total, per = sum(found.loops.values()), ms / max(found.logins, 1)
    print(f"  event loops: {loop_total} samples, {loop_total * per:.2f} ms per login:")
    for name, count in found.loops.most_common(14):
        print(f"    {name:<42} {count / loop_total:>5.1%}  {count * per:.3f} ms/login")
    if leaves:
        print("  innermost frames:")
        for name, count in found.leaves.most_common(leaves):
            print(f"    {count / loop_total:>5.1%}  {name}")


def without_argon2() -> None:
    """Core with `BENCH_FAKE_ARGON2=1`: a login's every cost but argon2, per login, measured
    precisely (many logins a second), and profiled with more samples."""
    with core_database() as url:
        asyncio.run(make_users(url))
        env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
            "CORE_ADDRESS_MAX_FAILURES": "100000",
            "BENCH_FAKE_ARGON2": "1",
            **CORE_SWITCHES,
        }
        with serve("bench_core:create_app", workers=2, env=env) as core:
            for connections in CONNECTIONS:
                storm(core, 2, connections)
            workers = _workers(core)
            names = _thread_names(workers)
            windows = {
                c: [storm_window(core, c, workers, names, url) for _ in range(ROUNDS)]
                for c in CONNECTIONS
            }
            profiles = {c: profile(core, c, workers, rate=250) for c in CONNECTIONS}
    median = statistics.median
    print(
        "core on granian, 2 workers, ATRIZ_ENV=test, argon2 skipped"
        f" (BENCH_FAKE_ARGON2={env['BENCH_FAKE_ARGON2']});"
        f" {ROUNDS} storms of {STORM_SECONDS} s each; medians"
        + (f"; core switches {CORE_SWITCHES}" if CORE_SWITCHES else "")
    )
    for connections, runs in windows.items():
        print(f"\n{connections} connections: {median(w.logins for w in runs):.0f} logins/s")
        print("  per successful login (ms):")
        for name in runs[0].per_login_ms:
            values = [w.per_login_ms[name] for w in runs]
            print(f"    {name:<42} {median(values):>7.3f}  ({min(values):.3f}-{max(values):.3f})")
        _print_switches(runs)
    for connections, found in profiles.items():
        _print_profile(connections, found, leaves=25)


def main() -> None:
    if sys.argv[1:] == ["without-argon2"]:
        without_argon2()
        return
    with core_database() as url:
        asyncio.run(make_users(url))
        env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
            "CORE_ADDRESS_MAX_FAILURES": "100000",
            **CORE_SWITCHES,
        }
        with serve(CORE_FACTORY, workers=2, env=env) as core:
            for connections in CONNECTIONS:  # warm up: pools, caches, the hashing threads
                storm(core, 1, connections)
            workers = _workers(core)
            names = _thread_names(workers)
            interruptions = [interruption_cost(CEILING_SECONDS) for _ in range(2)]
            ceilings: list[Ceiling] = [ceiling(CEILING_SECONDS)]
            windows: dict[int, list[tuple[Window, int]]] = {c: [] for c in CONNECTIONS}
            for _ in range(ROUNDS):
                for connections in CONNECTIONS:
                    window = storm_window(core, connections, workers, names, url)
                    windows[connections].append((window, len(ceilings) - 1))
                ceilings.append(ceiling(CEILING_SECONDS))
            profiles = {c: profile(core, c, workers) for c in CONNECTIONS}

    median = statistics.median
    print(
        f"core on granian, 2 workers (1 hashing thread each), ATRIZ_ENV=test; {ROUNDS} rounds;"
        f" storms of {STORM_SECONDS} s (wrk -t2); ceiling: 2 threads for {CEILING_SECONDS:.0f} s"
        " before and after each round; medians"
        + (f"; core switches {CORE_SWITCHES}" if CORE_SWITCHES else "")
    )
    print(
        f"ceiling: {median(c.per_second for c in ceilings):.1f} verifies/s; per verify"
        f" {median(c.cpu_ms for c in ceilings):.1f} ms on a core,"
        f" {median(c.wait_ms for c in ceilings):.1f} ms waiting for one; threads on a core"
        f" {median(c.on_core for c in ceilings):.0%} of the time;"
        f" interrupted {median(c.interrupted for c in ceilings):.1f} times per verify"
    )
    costs = [cost for _, _, cost in interruptions if not math.isnan(cost)]
    cost_ms = median(costs) if costs else math.nan
    print(
        f"an interruption costs a verify {cost_ms * 1000:.0f} us of CPU"
        f" ({', '.join(f'{c * 1000:.0f}' for _, _, c in interruptions)}): alone (before and after)"
        f" {median(a.cpu_ms for a, _, _ in interruptions):.2f} ms per verify,"
        f" {median(a.interrupted for a, _, _ in interruptions):.1f} interruptions; beside two"
        f" processes waking every {WAKER_PERIOD * 1000:.0f} ms"
        f" {median(b.cpu_ms for _, b, _ in interruptions):.2f} ms,"
        f" {median(b.interrupted for _, b, _ in interruptions):.1f} interruptions"
    )
    for connections in CONNECTIONS:
        runs = windows[connections]
        ratios = []
        cpu_factors, share_factors = [], []
        for window, index in runs:
            around = ceilings[index : index + 2]
            ratios.append(window.logins / statistics.mean(c.per_second for c in around))
            verify_ms = statistics.mean(c.cpu_ms for c in around)
            cpu_factors.append(verify_ms / window.per_login_ms["hashing: on a core"])
            share_factors.append(
                window.hashing_on_core / statistics.mean(c.on_core for c in around)
            )
        rounds = " ".join(f"{r:.2f}" for r in ratios)
        print(
            f"\n{connections} connections: {median(w.logins for w, _ in runs):.1f} logins/s,"
            f" ratio to the ceiling {median(ratios):.2f} (rounds {rounds});"
            f" 503s {sum(w.busy for w, _ in runs)}"
        )
        print(
            f"  = verify cost factor {median(cpu_factors):.2f} (a verify's CPU in the ceiling over"
            f" a hashing thread's CPU per login) x on-core factor {median(share_factors):.2f}"
            " (hashing threads' share of time on a core, against the ceiling's threads)"
        )
        print(
            f"  hashing threads: on a core {median(w.hashing_on_core for w, _ in runs):.0%} of the"
            f" time, waiting for a core {median(w.hashing_waiting for w, _ in runs):.0%},"
            f" idle (no work, or waiting for the GIL) the rest"
        )
        print("  per successful login (ms):")
        for name in runs[0][0].per_login_ms:
            values = [w.per_login_ms[name] for w, _ in runs]
            print(f"    {name:<42} {median(values):>7.2f}  ({min(values):.2f}-{max(values):.2f})")
        _print_switches([w for w, _ in runs])
        interrupted = median(w.switches_per_login["hashing"][1] for w, _ in runs)
        print(
            f"  the hashing threads' {interrupted:.1f} interruptions per login cost about"
            f" {interrupted * cost_ms:.2f} ms of their CPU per login (at the cost measured above)"
        )
    for connections, found in profiles.items():
        _print_profile(connections, found)


def _print_switches(runs: list[Window]) -> None:
    """Context switches per login: each is a wake-up that, both cores being busy hashing,
    interrupts a hashing thread."""
    print("  context switches per successful login: waits (voluntary), preempted or yielded:")
    for kind in runs[0].switches_per_login:
        waits = statistics.median(w.switches_per_login[kind][0] for w in runs)
        preempted = statistics.median(w.switches_per_login[kind][1] for w in runs)
        print(f"    {kind:<42} {waits:>6.2f}  {preempted:>6.2f}")


if __name__ == "__main__":
    main()
