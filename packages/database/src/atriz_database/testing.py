"""Pytest fixtures: a real PostgreSQL for the test session, and fresh databases on it.

The server is the one `ATRIZ_TEST_DATABASE_URL` names (any database on it; the fixtures create
their own), else the one libpq's `PGHOST` names, else the embedded default. Enable the fixtures
with `pytest_plugins = ["atriz_database.testing"]` in a `conftest.py`.

Services under test reach it as `database_route` says: straight (`direct`, the default), or
through PgBouncer in transaction mode (`pgbouncer`, started once per session in front of the
test server; skipped with a one-line reason where it is not installed). A test marked
`@pytest.mark.pgbouncer` runs both ways; `pytest --db-route=pgbouncer` runs every other test
that uses the fixture through PgBouncer only. Migrations stay direct, as the migrator does in
production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from atriz_database.connections import create_database, drop_database
from atriz_database.embedded import embedded_is_running, embedded_url, stop_embedded
from atriz_database.services import load_services
from atriz_database.settings import POOLER_TRANSACTION, DatabaseSettings, env_str
from atriz_database.targets import ALL, DatabaseTarget, TargetRegistry
from atriz_database.urls import libpq_env_url, server_is_configured, with_database

if TYPE_CHECKING:
    from atriz_database.pgbouncer import PgBouncer

__all__ = [
    "DIRECT",
    "PGBOUNCER",
    "DatabaseRoute",
    "MakeDatabase",
    "clean_environment",
    "cli_env",
    "database_route",
    "empty_database_url",
    "free_port",
    "make_database",
    "pgbouncer",
    "postgres_server_url",
    "run_script",
    "sample",
    "sample_target",
    "write_migration",
]

MakeDatabase = Callable[..., str]


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL on the server the tests use, connected to its `postgres` database.

    An embedded server that this session had to start is stopped when the session ends; one that
    was already running (a developer's) is left running.
    """
    explicit = env_str("ATRIZ_TEST_DATABASE_URL")
    if explicit is not None:
        yield with_database(explicit, "postgres")
    elif server_is_configured():
        yield libpq_env_url("postgres")
    else:
        already_running = embedded_is_running()
        yield embedded_url("postgres")
        if not already_running:
            stop_embedded()


DIRECT, PGBOUNCER = "direct", "pgbouncer"
ROUTES = (DIRECT, PGBOUNCER)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db-route",
        choices=ROUTES,
        default=DIRECT,
        help="how services under test reach PostgreSQL (tests marked pgbouncer run both ways)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pgbouncer: run the test straight and through PgBouncer (transaction mode)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_route" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "pgbouncer"
    ):
        metafunc.parametrize("database_route", ROUTES, indirect=True)


@pytest.fixture(scope="session")
def pgbouncer(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the test server, for the whole session."""
    from atriz_database.pgbouncer import PgBouncer, pgbouncer_binary

    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with PgBouncer.running(
        tmp_path_factory.mktemp("pgbouncer") / "run", postgres_server_url
    ) as bouncer:
        yield bouncer


@dataclass(frozen=True)
class DatabaseRoute:
    """How the services of a test reach PostgreSQL: `direct`, or through `bouncer`."""

    name: str
    bouncer: PgBouncer | None = None

    @property
    def pooled(self) -> bool:
        return self.bouncer is not None

    def url(self, direct_url: str) -> str:
        """What a service is given for a database the test made (at `direct_url`)."""
        return direct_url if self.bouncer is None else self.bouncer.url(direct_url)

    def settings(self, base: DatabaseSettings | None = None, **changes: Any) -> DatabaseSettings:
        """`base` (default: from the environment) with `changes`, marked pooled or not."""
        pooler = POOLER_TRANSACTION if self.pooled else None
        return replace(base or DatabaseSettings.from_env(), pooler=pooler, **changes)


@pytest.fixture
def database_route(request: pytest.FixtureRequest) -> DatabaseRoute:
    """The route of this test: its parameter (`@pytest.mark.pgbouncer`), else `--db-route`.

    Through PgBouncer, `ATRIZ_DB_POOLER=transaction` is set for the test, as in a pooled
    deployment, so that settings read from the environment say so too."""
    name = getattr(request, "param", None) or request.config.getoption("--db-route")
    if name != PGBOUNCER:
        return DatabaseRoute(DIRECT)
    bouncer = request.getfixturevalue("pgbouncer")
    request.getfixturevalue("monkeypatch").setenv("ATRIZ_DB_POOLER", POOLER_TRANSACTION)
    return DatabaseRoute(name, bouncer)


@pytest.fixture
def make_database(postgres_server_url: str) -> Iterator[MakeDatabase]:
    """A factory of uniquely named databases, dropped when the test ends.

    `make_database("core")` creates the database and returns its URL; `create=False` returns the
    URL of one that does not exist yet (for testing `db-create`).
    """
    made: list[str] = []

    def make(label: str = "db", *, create: bool = True) -> str:
        name = f"atriz_test_{uuid.uuid4().hex[:10]}_{label}"
        url = with_database(postgres_server_url, name)
        made.append(url)
        if create:
            create_database(url)
        return url

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture
def empty_database_url(make_database: MakeDatabase) -> str:
    """The URL of a fresh, empty database."""
    return make_database()


@pytest.fixture
def sample(tmp_path: Path) -> DatabaseTarget:
    """An empty sample target in a temporary folder."""
    return sample_target(tmp_path / "sample")


@pytest.fixture
def cli_env(tmp_path: Path, make_database: MakeDatabase) -> dict[str, str]:
    """An environment for the console scripts where every registered target has a fresh,
    not yet created database of its own, every registered service a free port of its own (so
    that `atriz dev` in a test never meets another's server), and `.env` is looked for in an
    empty folder."""
    home = tmp_path / "home"
    home.mkdir()
    urls = {
        target.url_env: make_database(target.name, create=False)
        for target in TargetRegistry.from_entry_points().select(ALL)
    }
    ports = {spec.port_env: str(free_port()) for spec in load_services().values()}
    return clean_environment(home, **urls, **ports)


def free_port() -> int:
    """A port nothing listens on now (the system's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


BIN = Path(sys.executable).parent
DATABASE_URL_VARIABLES = (
    "SHARED_DATABASE_URL",
    "WEBSITE_DATABASE_URL",
    "MEXTRACK_DATABASE_URL",
    "PSHOP_DATABASE_URL",
)


def sample_target(
    root: Path, name: str = "sample", depends_on: tuple[str, ...] = ()
) -> DatabaseTarget:
    """A target whose migrations and seeds live under `root`, for tests to fill with files."""
    (root / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    return DatabaseTarget(
        name=name,
        database=f"{name}_db",
        url_env=f"{name.upper()}_DATABASE_URL",
        migrations=root / "migrations",
        seeds=root / "seeds",
        depends_on=depends_on,
    )


def write_migration(
    target: DatabaseTarget, migration_id: str, sql: str, rollback: str = ""
) -> None:
    (target.migrations / f"{migration_id}.sql").write_text(sql, encoding="utf-8")
    if rollback:
        (target.migrations / f"{migration_id}.rollback.sql").write_text(rollback, encoding="utf-8")


def clean_environment(home: Path, **variables: str) -> dict[str, str]:
    """The current environment without any database settings, plus `variables`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in DATABASE_URL_VARIABLES and not k.startswith(("PG", "ATRIZ_"))
    }
    env.update(ATRIZ_HOME=str(home), ATRIZ_ENV="test", **variables)
    return env


def run_script(
    name: str, *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of the project's console scripts as a user would, capturing its output."""
    return subprocess.run(  # noqa: S603 - the project's own scripts
        [str(BIN / name), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
