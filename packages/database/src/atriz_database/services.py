"""HTTP services registered by packages, for `atriz serve NAME` and `atriz dev`.

A package declares its service in its `pyproject.toml`:

    [project.entry-points."atriz.services"]
    core = "atriz_core.service:service"
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points

from atriz_database.errors import ConfigurationError, UnknownTargetError
from atriz_database.settings import env_int, env_str

__all__ = [
    "ENTRY_POINT_GROUP",
    "ServiceSpec",
    "load_services",
    "server_command",
    "server_environment",
    "start",
]

ENTRY_POINT_GROUP = "atriz.services"


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
    """
    return [
        sys.executable, "-m", "granian",
        "--interface", "asgi",
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


def start(spec: ServiceSpec, *, host: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = server_command(spec, host=host, port=port, workers=workers)
    return subprocess.Popen(command, env=server_environment(workers))  # noqa: S603
