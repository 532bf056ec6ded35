"""The test kit of core and of every app.

Enable it in a `conftest.py` with `pytest_plugins = ["atriz_database.testing",
"atriz_core.testing"]`: that registers the fixtures of `atriz_core.testing.fixtures`
(`token_minter`, `migrated_database`, `core_database_url`, `make_user`, `core_harness`, ...).

The helpers are imported from here (`from atriz_core.testing import TokenMinter`) or from their
module; each is loaded only when first asked for, so a test that wants a token does not import
core's service:

| module | what it holds |
|---|---|
| `tokens` | `TokenMinter`, `bad_tokens`, `assert_rejects_bad_tokens` |
| `users` | `TestUser`, `UserFactory` (the `make_user` fixture), `TEST_PASSWORD` |
| `databases` | `DatabaseFactory` (`migrated_database`), `MigratedDatabase`, `app_databases` |
| `routes` | `protected_routes`, `assert_every_route_rejects_bad_tokens`, `replica_routes` |
| `matrix` | `make_actors`, `assert_authorization_matrix` |
| `fuzzing` | `fuzz_openapi`, `assert_openapi_fuzzing_passes` (Schemathesis) |
| `direct_sql` | `DirectSql`, `fetch_value`, `fetch_rows`, `beside`, `lock_waiters` |
| `harness` | `running_core`, `CoreHarness`, `running_app`, `serving`, `InFlight` |
| `doubles` | `FrozenClock`, `MemoryMailer` |
| `waiting` | `eventually` |
| `fixtures` | the pytest fixtures |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atriz_core.lazy import lazy_exports

if TYPE_CHECKING:
    from atriz_core.testing.databases import (
        AppDatabases,
        DatabaseFactory,
        MigratedDatabase,
        app_databases,
    )
    from atriz_core.testing.direct_sql import (
        DirectSql,
        beside,
        fetch_rows,
        fetch_value,
        lock_waiters,
    )
    from atriz_core.testing.doubles import FrozenClock, MemoryMailer
    from atriz_core.testing.fuzzing import (
        FuzzFailure,
        FuzzReport,
        assert_openapi_fuzzing_passes,
        fuzz_openapi,
    )
    from atriz_core.testing.harness import (
        CoreHarness,
        InFlight,
        running_app,
        running_core,
        serving,
    )
    from atriz_core.testing.matrix import (
        ANONYMOUS,
        OTHER_USER,
        OWNER,
        assert_authorization_matrix,
        make_actors,
    )
    from atriz_core.testing.routes import (
        PUBLIC_PATHS,
        Route,
        assert_every_route_rejects_bad_tokens,
        protected_routes,
        replica_routes,
    )
    from atriz_core.testing.tokens import (
        TEST_AUDIENCES,
        TEST_ISSUER,
        TokenMinter,
        assert_rejects_bad_tokens,
        bad_tokens,
    )
    from atriz_core.testing.users import TEST_PASSWORD, TestUser, UserFactory
    from atriz_core.testing.waiting import eventually

__all__ = [
    "ANONYMOUS",
    "OTHER_USER",
    "OWNER",
    "PUBLIC_PATHS",
    "TEST_AUDIENCES",
    "TEST_ISSUER",
    "TEST_PASSWORD",
    "AppDatabases",
    "CoreHarness",
    "DatabaseFactory",
    "DirectSql",
    "FrozenClock",
    "FuzzFailure",
    "FuzzReport",
    "InFlight",
    "MemoryMailer",
    "MigratedDatabase",
    "Route",
    "TestUser",
    "TokenMinter",
    "UserFactory",
    "app_databases",
    "assert_authorization_matrix",
    "assert_every_route_rejects_bad_tokens",
    "assert_openapi_fuzzing_passes",
    "assert_rejects_bad_tokens",
    "bad_tokens",
    "beside",
    "eventually",
    "fetch_rows",
    "fetch_value",
    "fuzz_openapi",
    "lock_waiters",
    "make_actors",
    "protected_routes",
    "replica_routes",
    "running_app",
    "running_core",
    "serving",
]

# pytest reads this when it loads this module as a plugin: the fixtures live in their own module.
pytest_plugins = ["atriz_core.testing.fixtures"]

_HOMES = {
    "AppDatabases": "databases",
    "DatabaseFactory": "databases",
    "app_databases": "databases",
    "MigratedDatabase": "databases",
    "DirectSql": "direct_sql",
    "beside": "direct_sql",
    "fetch_rows": "direct_sql",
    "fetch_value": "direct_sql",
    "lock_waiters": "direct_sql",
    "FrozenClock": "doubles",
    "MemoryMailer": "doubles",
    "FuzzFailure": "fuzzing",
    "FuzzReport": "fuzzing",
    "assert_openapi_fuzzing_passes": "fuzzing",
    "fuzz_openapi": "fuzzing",
    "CoreHarness": "harness",
    "InFlight": "harness",
    "running_app": "harness",
    "running_core": "harness",
    "serving": "harness",
    "ANONYMOUS": "matrix",
    "OTHER_USER": "matrix",
    "OWNER": "matrix",
    "assert_authorization_matrix": "matrix",
    "make_actors": "matrix",
    "PUBLIC_PATHS": "routes",
    "Route": "routes",
    "assert_every_route_rejects_bad_tokens": "routes",
    "protected_routes": "routes",
    "replica_routes": "routes",
    "TEST_AUDIENCES": "tokens",
    "TEST_ISSUER": "tokens",
    "TokenMinter": "tokens",
    "assert_rejects_bad_tokens": "tokens",
    "eventually": "waiting",
    "bad_tokens": "tokens",
    "TEST_PASSWORD": "users",
    "TestUser": "users",
    "UserFactory": "users",
}


__getattr__ = lazy_exports(__name__, _HOMES)
