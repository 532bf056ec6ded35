"""HTTP services registered by packages, for `atriz serve NAME` and `atriz dev`.

A package declares its service in its `pyproject.toml`:

    [project.entry-points."atriz.services"]
    core = "atriz_core.service:service"
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import IO

from atriz_database.errors import ConfigurationError, UnknownTargetError
from atriz_database.settings import env_int, env_str

__all__ = [
    "ENTRY_POINT_GROUP",
    "STOP_TIMEOUT",
    "ServiceSpec",
    "load_services",
    "port_in_use",
    "server_command",
    "server_environment",
    "start",
    "stop",
]

ENTRY_POINT_GROUP = "atriz.services"
STOP_TIMEOUT = 8.0
"""Seconds that every service together gets to stop gracefully before it is killed."""
_RESEND_INTERVAL = 1.0


@dataclass(frozen=True)
class ServiceSpec:
    """One HTTP service: the factory that builds its ASGI app, and its port."""

    name: str
    app_factory: str
    """`module:function` returning the app, reading its settings from the environment."""
    port_env: str
    default_port: int

    @property
    def port(self) -> int:
        return env_int(self.port_env, self.default_port)


def load_services() -> dict[str, ServiceSpec]:
    """Every service registered by an installed package, by name."""
    services = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry_point.load()
        if not isinstance(spec, ServiceSpec):
            raise ConfigurationError(f"entry point {entry_point.value} is not a ServiceSpec")
        services[spec.name] = spec
    return dict(sorted(services.items()))


def get_service(name: str) -> ServiceSpec:
    services = load_services()
    if name not in services:
        known = ", ".join(services) or "none installed"
        raise UnknownTargetError(f"unknown service {name!r} (known: {known})")
    return services[name]


def server_command(spec: ServiceSpec, *, host: str, port: int, workers: int) -> list[str]:
    """The granian command line that serves `spec`.

    granian rather than uvicorn: with several workers uvicorn's sockets lose TCP_NODELAY and
    answer in a flat 44 ms (see shared/FACTS.md); granian serves 30% more than uvicorn+uvloop.
    uvloop (a dependency of core, which every service stands on) rather than asyncio's loop:
    measured 9% less CPU for an app's authenticated read and 10% less event-loop CPU for a login
    (`scripts/bench`); named, not left to granian's `auto`, so that a missing uvloop fails at
    start instead of quietly costing that.
    """
    return [
        sys.executable, "-m", "granian",
        "--interface", "asgi",
        "--loop", "uvloop",
        "--factory", spec.app_factory,
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--no-access-log",
    ]  # fmt: skip


def default_workers() -> int:
    """`ATRIZ_WORKERS`, else one worker per core."""
    return env_int("ATRIZ_WORKERS", os.cpu_count() or 1)


def default_host() -> str:
    """`ATRIZ_HOST`, else the loopback address: exposing a service is a decision."""
    return env_str("ATRIZ_HOST") or "127.0.0.1"


def server_environment(workers: int) -> dict[str, str]:
    """The environment of a service's processes: each learns how many workers share the host."""
    return {**os.environ, "ATRIZ_WORKERS": str(workers)}


def start(
    spec: ServiceSpec, *, host: str, port: int, workers: int, prefix_output: bool = False
) -> subprocess.Popen[bytes]:
    """Start `spec`'s server as a child in a process group (a new session) of its own.

    With `prefix_output`, every line the service writes (stdout and stderr) is printed with its
    name in front, so that four services in one terminal can be told apart.

    A terminal's Ctrl-C reaches every process of its foreground group at once. In a group of
    their own, granian's main process and workers hear only what their supervisor sends them
    (see `stop`), so a worker still starting is not interrupted half-way by a signal that was
    meant for `atriz dev`, and the whole group can be stopped, or killed, with one call.
    """
    command = server_command(spec, host=host, port=port, workers=workers)
    output = subprocess.PIPE if prefix_output else None
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        command,
        env=server_environment(workers),
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if prefix_output else None,
    )
    if child.stdout is not None:
        prefix = f"{spec.name:<8} | ".encode()
        threading.Thread(target=_copy_prefixed, args=(child.stdout, prefix), daemon=True).start()
    return child


def _copy_prefixed(source: IO[bytes], prefix: bytes) -> None:
    """Copy `source` to this process's stdout line by line, each line after `prefix`; ends when
    every process holding the pipe (the service's workers too) has exited."""
    out = sys.stdout.buffer
    for line in source:
        out.write(prefix + line)
        out.flush()
    source.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on `host:port` (or the port cannot be bound there)."""
    with socket.socket() as probe:
        # Without SO_REUSEADDR a port in TIME_WAIT after a quick restart would look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def stop(
    children: Mapping[str, subprocess.Popen[bytes]],
    *,
    timeout: float = STOP_TIMEOUT,
    out: Callable[[str], None] = print,
) -> None:
    """Stop every child that `start` started (by service name), and every process it started.

    SIGTERM goes to each child's whole process group, again every second while the child runs;
    the children share one deadline of `timeout` seconds; then SIGKILL goes to every group, so
    that nothing is left, and each child is reaped.

    The repeats and the hard stop are both needed. A granian worker misses a stop signal that
    arrives while it is still starting: it then serves on in `epoll_wait`, and its main process
    waits for it forever (shared/FACTS.md). The same signal once the worker serves does stop it
    (in tests, within a second or two of "Started worker"); anything that still hangs is killed.
    """
    deadline = time.monotonic() + timeout
    while True:
        running = [child for child in children.values() if child.poll() is None]
        remaining = deadline - time.monotonic()
        if not running or remaining <= 0:
            break
        for child in running:
            _signal_group(child, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            running[0].wait(timeout=min(_RESEND_INTERVAL, remaining))
    for name, child in children.items():
        if child.returncode is None:
            out(f"{name} did not stop within {timeout:g} s: killing it (pid {child.pid})")
        # Also when the main process stopped in time: a worker it left behind would still be in
        # its group. A group with no process left answers ESRCH, which `_signal_group` ignores.
        _signal_group(child, signal.SIGKILL)
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)  # SIGKILL cannot be refused; this only reaps


def _signal_group(child: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Send `signum` to the process group `child` leads (`start` made it a group leader)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
