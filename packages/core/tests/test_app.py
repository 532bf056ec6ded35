"""The service as a whole: health, readiness, OpenAPI, JWKS, and errors as problem details."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import psycopg

from atriz_core.settings import CoreSettings
from atriz_core.testing import CoreHarness, running_core
from atriz_database.urls import maintenance_url


async def test_health_and_ready(core_harness: CoreHarness) -> None:
    health = await core_harness.client.get("/health")
    ready = await core_harness.client.get("/ready")

    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "healthy"
    assert body["checks"]["database"]["status"] == "up"
    assert 0 <= body["checks"]["database"]["ms"] < 2000


async def test_ready_is_unhealthy_when_the_database_is_gone(core_harness: CoreHarness) -> None:
    admin = await asyncpg.connect(maintenance_url(core_harness.settings.database_url))
    database = psycopg.conninfo.conninfo_to_dict(core_harness.settings.database_url)["dbname"]
    await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
    )
    await admin.close()

    ready = await core_harness.client.get("/ready")

    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "2"
    assert ready.json()["status"] == "unhealthy"


async def test_ready_stays_ready_while_every_pooled_connection_serves_requests(
    core_harness: CoreHarness,
) -> None:
    """A full pool is load, not a fault: a burst fills every pod's pool at once, and a probe
    that failed then would take them all out of the Service together. A database that no
    longer answers behind a full pool is still down."""
    pool = core_harness.app.state.db_pool
    admin = await asyncpg.connect(maintenance_url(core_harness.settings.database_url))
    database = psycopg.conninfo.conninfo_to_dict(core_harness.settings.database_url)["dbname"]
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        busy = await core_harness.client.get("/ready")
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        gone = await core_harness.client.get("/ready")
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
        for connection in held:
            await pool.release(connection)

    assert busy.status_code == 200, busy.text
    assert busy.json()["status"] == "degraded"
    assert busy.json()["checks"]["database"]["status"] == "busy"
    assert gone.status_code == 503
    assert gone.json()["checks"]["database"]["status"] == "down"


async def test_openapi_documents_every_route(core_harness: CoreHarness) -> None:
    schema = (await core_harness.client.get("/schema/openapi.json")).json()
    docs = await core_harness.client.get("/schema/swagger")

    assert docs.status_code == 200
    paths = set(schema["paths"])
    assert {
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/me",
        "/auth/password",
        "/.well-known/jwks.json",
        "/admin/users",
    } <= paths
    register = schema["paths"]["/auth/register"]["post"]
    assert "8 to 128 characters" in register["summary"] + register.get("description", "")


async def test_unknown_routes_and_methods_are_problem_details(core_harness: CoreHarness) -> None:
    missing = await core_harness.client.get("/nope")
    wrong_method = await core_harness.client.get("/auth/login")

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405


async def test_an_unexpected_error_is_a_bare_500(core_harness: CoreHarness) -> None:
    connection = await asyncpg.connect(core_harness.settings.database_url)
    await connection.execute("DROP TABLE login_throttle")
    await connection.close()

    response = await core_harness.client.post(
        "/auth/login", json={"email": "ana@example.test", "password": "whatever it is"}
    )

    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "an unexpected error occurred; it has been logged"
    assert "login_throttle" not in response.text
    assert "Traceback" not in response.text


async def test_openapi_declares_the_bearer_scheme_on_protected_operations_only(
    core_harness: CoreHarness,
) -> None:
    schema = (await core_harness.client.get("/schema/openapi.json")).json()

    scheme = schema["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert schema["paths"]["/auth/me"]["get"]["security"] == [{"BearerToken": []}]
    assert schema["paths"]["/admin/users"]["get"]["security"] == [{"BearerToken": []}]
    assert "security" not in schema["paths"]["/auth/login"]["post"]
    assert "security" not in schema["paths"]["/health"]["get"]


async def test_a_value_the_database_cannot_store_is_a_400_not_a_500(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()

    response = await core_harness.client.get("/admin/users", params={"q": "a\x00b"}, headers=admin)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["reason"]


async def test_metrics_ask_for_the_token_when_one_is_set(core_settings: CoreSettings) -> None:
    token = "core metrics token, long enough"
    async with running_core(replace(core_settings, metrics_token=token)) as harness:
        anonymous = await harness.client.get("/metrics")
        wrong = await harness.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await harness.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "atriz_db_pool_size" in right.text
