"""The kit's pytest fixtures; `pytest_plugins = ["atriz_core.testing"]` registers them (with
`atriz_database.testing`, whose `make_database` they stand on).

| fixture | what it gives |
|---|---|
| `token_minter` | a `TokenMinter`: the key core signs with in this test, and apps trust |
| `database_templates` | the session's migrated templates, which `migrated_database` copies |
| `migrated_database` | a `DatabaseFactory`: `migrated_database("pshop")` -> `MigratedDatabase` |
| `core_database_url` | the test's `atriz_shared`, migrated (no development seeds) |
| `make_user` | a `UserFactory`: `await make_user(roles=(...))` -> `TestUser` with a token |
| `core_settings`, `core_overrides`, `core_harness` | core itself, running in the test's loop |
| `app_reader` | a connection to `atriz_shared` with only the apps' reader privileges |
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from atriz_core.settings import CoreSettings
from atriz_core.testing.databases import DatabaseFactory
from atriz_core.testing.harness import CoreHarness, running_core
from atriz_core.testing.templates import DatabaseTemplates
from atriz_core.testing.tokens import TokenMinter
from atriz_core.testing.users import UserFactory
from atriz_core.tokens.keys import Key, RsaSigningKey
from atriz_database import Environment
from atriz_database.testing import DatabaseRoute, MakeDatabase
from atriz_database.urls import with_credentials

__all__ = [
    "app_reader",
    "core_database_url",
    "core_harness",
    "core_overrides",
    "core_settings",
    "database_templates",
    "make_user",
    "migrated_database",
    "token_minter",
]


@pytest.fixture
def token_minter() -> TokenMinter:
    """A fresh signing key for the test: core's (through `core_settings`) and the one the app
    under test trusts (`token_minter.verifier(audience)`)."""
    return TokenMinter()


@pytest.fixture(scope="session")
def database_templates(postgres_server_url: str) -> Iterator[DatabaseTemplates]:
    """The session's template databases, one per target migrated on first use; dropped at the
    end, with those that sessions which died left behind."""
    templates = DatabaseTemplates(postgres_server_url)
    templates.drop_stale()
    yield templates
    templates.drop()


@pytest.fixture
def migrated_database(
    make_database: MakeDatabase, database_templates: DatabaseTemplates
) -> DatabaseFactory:
    """`migrated_database(target)`: a fresh database of any registered target (or a
    `DatabaseTarget`), built by the real migrations (once per session, then copied) with every
    `-- requires:` line checked against the test's databases of the targets it depends on."""
    return DatabaseFactory(make_database, templates=database_templates)


@pytest.fixture
def core_database_url(migrated_database: DatabaseFactory) -> str:
    """The test's `atriz_shared`, built by core's real migrations and seeds; the one that
    `make_user`, `core_harness` and every app database of the test go with."""
    return migrated_database.shared("core").url


@pytest.fixture
def make_user(core_database_url: str, token_minter: TokenMinter) -> UserFactory:
    """`await make_user(roles=("pshop.cashier",), email=None)`: a `TestUser` created in the
    test's `atriz_shared` by core's code, with a token signed by `token_minter`."""
    return UserFactory(core_database_url, token_minter)


@functools.cache
def _id_token_key() -> RsaSigningKey:
    # One RSA key for the whole test session: making one takes tens of milliseconds, and what a
    # test checks of ID tokens holds for any key.
    return RsaSigningKey.generate()


def _install_signing_key(folder: Path, key: Key) -> None:
    # Named like the files `atriz keys rotate` writes, so that a test may rotate after it.
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.pem"
    path.write_bytes(key.to_pem())
    path.chmod(0o600)


@pytest.fixture
def core_settings(
    core_database_url: str, tmp_path: Path, token_minter: TokenMinter, database_route: DatabaseRoute
) -> CoreSettings:
    """Core's settings for a test: its own database (reached by `database_route`), a key folder
    holding the `token_minter`'s key, so core signs (and trusts) what the minter signs, and an
    ID-token key (one for the test session)."""
    _install_signing_key(tmp_path / "keys", token_minter.key)
    _install_signing_key(tmp_path / "keys" / "id-tokens", _id_token_key())
    return CoreSettings(
        database_url=database_route.url(core_database_url),
        environment=Environment.TEST,
        public_url="https://auth.atriz.test",
        issuer=token_minter.issuer,
        audiences=token_minter.audiences,
        signing_key_dir=tmp_path / "keys",
    )


@pytest.fixture
def core_overrides() -> dict[str, Any]:
    """Settings that `core_harness` changes; a test module overrides this fixture to set some."""
    return {}


@pytest.fixture
async def core_harness(
    core_settings: CoreSettings, core_overrides: dict[str, Any]
) -> AsyncIterator[CoreHarness]:
    """Core running in the test's event loop, with a frozen clock and a mailbox."""
    async with running_core(replace(core_settings, **core_overrides)) as harness:
        yield harness


@pytest.fixture
async def app_reader(core_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's `atriz_shared` as a login role whose only privileges come
    from `atriz_app_reader`, the role apps use in production."""
    admin = await asyncpg.connect(core_database_url)
    name, password = f"atriz_test_app_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    await admin.execute(
        f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE atriz_app_reader"
    )
    connection = await asyncpg.connect(with_credentials(core_database_url, name, password))
    try:
        yield connection
    finally:
        await connection.close()
        await admin.execute(f'DROP ROLE "{name}"')
        await admin.close()
