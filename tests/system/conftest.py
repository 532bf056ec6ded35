"""The whole system as `atriz dev` runs it: every registered service in a process of its own,
on fresh databases, with the seeded users and a development administrator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from atriz_database.services import load_services
from atriz_database.settings import POOLER_TRANSACTION
from atriz_database.targets import ALL, TargetRegistry
from atriz_database.testing import DatabaseRoute
from atriz_database.testing_processes import (
    read_until,
    start_atriz_dev,
    stop,
    wait_until_healthy,
)

ADMIN_EMAIL = "admin@atriz.localhost"
ADMIN_PASSWORD = "system test admin passphrase"
SEEDED_PASSWORD = "atriz-dev-password"


@dataclass
class RunningSystem:
    """`atriz dev`, serving: each service's base URL, and the environment it runs with."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    urls: dict[str, str] = field(default_factory=dict)
    started: str = ""
    """What `atriz dev` printed up to "Press Ctrl-C to stop."."""
    output: str = ""
    """What it printed after, once stopped."""

    def client(self, service: str) -> httpx.Client:
        return httpx.Client(base_url=self.urls[service], timeout=10)

    def login(self, email: str, password: str) -> dict[str, str]:
        """Core's answer to a login: access and refresh tokens."""
        answer = httpx.post(
            f"{self.urls['core']}/auth/login",
            json={"email": email, "password": password},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        tokens: dict[str, str] = answer.json()
        return tokens


@pytest.fixture
def system_settings() -> dict[str, str]:
    """Variables a test module adds to the system's environment (it overrides this fixture)."""
    return {}


@pytest.fixture
def system(
    cli_env: dict[str, str], system_settings: dict[str, str], database_route: DatabaseRoute
) -> Iterator[RunningSystem]:
    """`atriz dev` started as a user starts it; stopped afterwards, with nothing left running.

    Through PgBouncer (`database_route`), every database URL leads to it and each
    `*_DIRECT_URL` straight to PostgreSQL, with `ATRIZ_DB_POOLER=transaction`: `atriz dev`
    prepares the databases straight and the services serve through PgBouncer."""
    env = {**cli_env, "ATRIZ_ADMIN_PASSWORD": ADMIN_PASSWORD, **system_settings}
    if database_route.pooled:
        for target in TargetRegistry.from_entry_points().select(ALL):
            direct = env[target.url_env]
            env[target.direct_url_env] = direct
            env[target.url_env] = database_route.url(direct)
        env["ATRIZ_DB_POOLER"] = POOLER_TRANSACTION
    process = start_atriz_dev(env)
    running = RunningSystem(process, env)
    try:
        running.started = read_until(process, "Press Ctrl-C to stop.")
        for spec in load_services().values():
            port = int(env[spec.port_env])
            wait_until_healthy(port, process)
            running.urls[spec.name] = f"http://127.0.0.1:{port}"
        yield running
    finally:
        running.output = stop(process)
