"""Metrics, request ids and structured logs, through a real app with `AtrizAuth` in front."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get
from litestar.params import FromPath
from prometheus_client.parser import text_string_to_metric_families

from atriz_core.client import PUBLIC, AtrizAuth
from atriz_core.kit.database import pool_lifespan
from atriz_core.kit.observability import ObservabilityParts, app_metrics, observability
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.settings import CoreSettings
from atriz_core.testing import TokenMinter, running_app, running_core
from atriz_database import Environment

logger = logging.getLogger("atriz_core.tests.things")
SECRET_QUERY_VALUE = "q-5ecret-value-7f3a"


@get("/things/{thing_id:uuid}")
async def get_thing(
    thing_id: FromPath[uuid.UUID], request: Request[Any, Any, Any]
) -> dict[str, str]:
    # A module of ours logs through the standard library, as every module here does.
    logger.info("looked up a thing")
    return {"id": str(thing_id), "request_id": request.state.request_id}


@get("/boom")
async def boom() -> None:
    raise RuntimeError("it broke")


@get("/about", opt=PUBLIC)
async def about() -> dict[str, str]:
    return {"app": "things"}


@get("/held", opt=PUBLIC)
async def held(request: Request[Any, Any, Any]) -> None:
    await request.app.state.release.wait()


@dataclass
class Things:
    app: Litestar
    parts: ObservabilityParts
    log: io.StringIO

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines()]

    def requests_logged(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == "request"]


def build(minter: TokenMinter, *, database_url: str | None = None, **options: Any) -> Things:
    log = io.StringIO()
    parts = observability("things", Environment.PRODUCTION, log_stream=log, **options)
    app = Litestar(
        route_handlers=[get_thing, boom, about, held, *parts.route_handlers],
        plugins=[*parts.plugins, AtrizAuth(minter.verifier("mextrack"))],
        middleware=parts.middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[pool_lifespan("db_pool", database_url)] if database_url else [],
    )
    return Things(app, parts, log)


@pytest.fixture
def things(token_minter: TokenMinter) -> Things:
    return build(token_minter)


@pytest.fixture
async def client(things: Things) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(things.app) as client:
        yield client


def bearer(minter: TokenMinter) -> dict[str, str]:
    return {"Authorization": f"Bearer {minter.mint()}"}


async def scrape(client: httpx.AsyncClient, **request: Any) -> dict[tuple[str, str], float]:
    """Every sample of `/metrics`: (name, labels as `k=v,...` sorted) -> value."""
    response = await client.get("/metrics", **request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name, labels] = sample.value
    return samples


def requests_total(samples: dict[tuple[str, str], float], path: str, status: int) -> float:
    labels = f"app_name=things,method=GET,path={path},status_code={status}"
    return samples.get(("atriz_requests_total", labels), 0.0)


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, token_minter: TokenMinter
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    for thing_id in (first, second):
        response = await client.get(f"/things/{thing_id}", headers=bearer(token_minter))
        assert response.status_code == 200

    samples = await scrape(client)

    assert requests_total(samples, "/things/{thing_id}", 200) == 2
    assert not [key for key in samples if str(first) in key[1] or str(second) in key[1]]
    duration = "app_name=things,method=GET,path=/things/{thing_id},status_code=200"
    assert samples["atriz_request_duration_seconds_count", duration] == 2


async def test_an_auth_refusal_is_counted_with_its_own_status(
    client: httpx.AsyncClient,
) -> None:
    # The 401 is raised by `AtrizAuth`'s middleware, inside the metrics middleware: it must be
    # rendered before the metrics middleware reads the status, or it counts as a 200.
    await client.get(f"/things/{uuid.uuid4()}")

    samples = await scrape(client)

    assert requests_total(samples, "/things/{thing_id}", 401) == 1
    assert requests_total(samples, "/things/{thing_id}", 200) == 0


async def test_a_failure_is_counted_as_an_error_and_in_progress_goes_back_to_zero(
    things: Things, client: httpx.AsyncClient, token_minter: TokenMinter
) -> None:
    things.app.state.release = asyncio.Event()
    holding = asyncio.create_task(client.get("/held"))
    during: dict[tuple[str, str], float] = {}
    serving = "app_name=things,method=GET,path=/held"
    for _ in range(100):
        during = await scrape(client)
        if during.get(("atriz_requests_in_progress", serving)) == 1:
            break
        await asyncio.sleep(0.01)
    things.app.state.release.set()
    assert (await holding).status_code == 200
    assert (await client.get("/boom", headers=bearer(token_minter))).status_code == 500

    after = await scrape(client)

    assert during["atriz_requests_in_progress", serving] == 1
    assert after["atriz_requests_in_progress", serving] == 0
    assert requests_total(after, "/held", 200) == 1
    assert requests_total(after, "/boom", 500) == 1
    failed = "app_name=things,method=GET,path=/boom,status_code=500"
    assert after["atriz_requests_error_total", failed] == 1
    held_ok = "app_name=things,method=GET,path=/held,status_code=200"
    assert ("atriz_requests_error_total", held_ok) not in after


async def test_pool_gauges_are_read_when_scraped(
    token_minter: TokenMinter, empty_database_url: str
) -> None:
    things = build(token_minter, database_url=empty_database_url)
    async with running_app(things.app) as client:
        pool = things.app.state.db_pool
        async with pool.acquire():
            busy = await scrape(client)
        idle = await scrape(client)
        size, max_size = pool.get_size(), pool.get_max_size()

    assert size >= 1
    assert busy["atriz_db_pool_in_use", "pool=db_pool"] == 1
    assert busy["atriz_db_pool_idle", "pool=db_pool"] == size - 1
    assert idle["atriz_db_pool_in_use", "pool=db_pool"] == 0
    assert idle["atriz_db_pool_size", "pool=db_pool"] == size
    assert idle["atriz_db_pool_idle", "pool=db_pool"] == size
    assert idle["atriz_db_pool_max_size", "pool=db_pool"] == max_size


@dataclass
class Consumer:
    applied: int = 0
    lag_seconds: float | None = None


async def test_consumers_are_read_when_scraped(things: Things, client: httpx.AsyncClient) -> None:
    consumer = Consumer()
    app_metrics(things.app).track_consumer("user_events", consumer)
    before = await scrape(client)
    consumer.applied, consumer.lag_seconds = 7, 1.5

    after = await scrape(client)

    assert before["atriz_events_applied_total", "consumer=user_events"] == 0
    assert ("atriz_consumer_lag_seconds", "consumer=user_events") not in before
    assert after["atriz_events_applied_total", "consumer=user_events"] == 7
    assert after["atriz_consumer_lag_seconds", "consumer=user_events"] == 1.5


async def test_metrics_need_no_user_token_and_stay_out_of_the_docs(
    client: httpx.AsyncClient,
) -> None:
    schema = await client.get("/schema/openapi.json")

    assert (await client.get("/metrics")).status_code == 200
    assert schema.status_code == 200
    assert "/metrics" not in schema.json()["paths"]
    assert "/things/{thing_id}" in schema.json()["paths"]


async def test_metrics_token_when_configured(token_minter: TokenMinter) -> None:
    things = build(token_minter, metrics_token="scrape-secret")
    async with running_app(things.app) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "atriz_requests_total" in right.text


async def test_two_apps_in_one_process_count_apart(token_minter: TokenMinter) -> None:
    one, two = build(token_minter), build(token_minter)
    async with running_app(one.app) as first, running_app(two.app) as second:
        await first.get(f"/things/{uuid.uuid4()}", headers=bearer(token_minter))

        seen_by_one = await scrape(first)
        seen_by_two = await scrape(second)

    assert requests_total(seen_by_one, "/things/{thing_id}", 200) == 1
    assert requests_total(seen_by_two, "/things/{thing_id}", 200) == 0


HEX_ID = re.compile(r"[0-9a-f]{32}")


async def test_the_request_id_is_in_the_header_the_error_and_the_log(
    things: Things, client: httpx.AsyncClient
) -> None:
    refused = await client.get(f"/things/{uuid.uuid4()}")

    request_id = refused.headers["x-request-id"]
    assert HEX_ID.fullmatch(request_id)
    assert refused.status_code == 401
    assert refused.json()["request_id"] == request_id
    assert {
        "event": "request",
        "method": "GET",
        "path": "/things/{thing_id}",
        "status": 401,
        "request_id": request_id,
    }.items() <= things.requests_logged()[-1].items()


async def test_a_handler_s_log_lines_carry_the_request_id(
    things: Things, client: httpx.AsyncClient, token_minter: TokenMinter
) -> None:
    response = await client.get(f"/things/{uuid.uuid4()}", headers=bearer(token_minter))

    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id  # `request.state.request_id`
    handler_line = next(line for line in things.lines() if line["event"] == "looked up a thing")
    assert handler_line["request_id"] == request_id
    assert handler_line["logger"] == "atriz_core.tests.things"
    assert handler_line["level"] == "info"
    assert "message" not in handler_line  # no second copy of `event`
    assert things.requests_logged()[-1]["request_id"] == request_id


async def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(
    things: Things, client: httpx.AsyncClient, token_minter: TokenMinter
) -> None:
    response = await client.get("/boom", headers=bearer(token_minter))

    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json()["request_id"] == request_id
    error = next(line for line in things.lines() if line["level"] == "error")
    assert error["request_id"] == request_id
    assert "RuntimeError" in error["exception"]


async def test_a_path_that_matches_no_route_still_gets_a_request_id(
    things: Things, client: httpx.AsyncClient
) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "probe-1"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "probe-1"
    assert response.json()["request_id"] == "probe-1"
    assert things.requests_logged()[-1] == things.requests_logged()[-1] | {
        "path": None,
        "status": 404,
        "request_id": "probe-1",
    }


@pytest.mark.parametrize(
    "incoming",
    ["edge-7f3a:01.2_b", "A" * 128],
)
async def test_a_well_formed_incoming_request_id_is_kept(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/about", headers={"X-Request-ID": incoming})

    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "has space", "<script>", "a" * 129, "semi;colon", "ünïcode"],
)
async def test_a_malformed_incoming_request_id_is_replaced(
    things: Things, client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/about", headers=[(b"X-Request-ID", incoming.encode("utf-8"))])

    replaced = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(replaced)
    assert things.requests_logged()[-1]["request_id"] == replaced


async def test_the_log_holds_no_query_value_and_no_credentials(
    things: Things, client: httpx.AsyncClient, token_minter: TokenMinter
) -> None:
    token = token_minter.mint()
    headers = {"Authorization": f"Bearer {token}", "Cookie": "session=c00kie-value"}
    await client.get(f"/things/{uuid.uuid4()}?token={SECRET_QUERY_VALUE}", headers=headers)
    await client.get(f"/things/not-a-uuid?token={SECRET_QUERY_VALUE}", headers=headers)
    await client.get(f"/things/{uuid.uuid4()}?token={SECRET_QUERY_VALUE}")
    await client.get(f"/nothing-here?token={SECRET_QUERY_VALUE}", headers=headers)
    logger.info("login attempt", extra={"password": "hunter2-hunter2"})

    logged = things.log.getvalue()
    assert len(things.requests_logged()) == 4
    for secret in (SECRET_QUERY_VALUE, token, "c00kie-value", "hunter2-hunter2"):
        assert secret not in logged


def test_logs_go_to_the_standard_error_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    Litestar(plugins=observability("things", Environment.TEST).plugins)
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)  # as a test runner or a supervisor may

    logger.warning("after the swap")

    assert "after the swap" in swapped.getvalue()


def test_development_logs_are_readable_lines() -> None:
    log = io.StringIO()
    Litestar(plugins=observability("things", Environment.DEVELOPMENT, log_stream=log).plugins)

    logging.getLogger("atriz_core.tests.things").warning("disk %s full", "nearly")

    line = log.getvalue().strip()
    assert "disk nearly full" in line
    assert "warning" in line
    assert not line.startswith("{")


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_a_logged_traceback_holds_no_local_variable(environment: Environment) -> None:
    """A handler's unexpected error is logged with its traceback; the frames' local variables,
    which hold what the request carried (a password, a cookie), stay out of it."""
    log = io.StringIO()
    Litestar(plugins=observability("things", environment, log_stream=log).plugins)

    def check(password: str) -> None:
        raise RuntimeError("the check failed")

    secret = "-".join(("my", "secret", "passphrase"))  # not in the source the traceback quotes
    try:
        check(secret)
    except RuntimeError:
        logging.getLogger("atriz_core.tests.things").exception("unhandled")

    logged = log.getvalue()
    assert "RuntimeError: the check failed" in logged
    assert secret not in logged


async def test_core_counts_logins_lockouts_and_refresh_reuse(
    core_settings: CoreSettings,
) -> None:
    settings = replace(core_settings, login_max_failures=2)
    async with running_core(settings) as core:
        before = await scrape(core.client)
        await core.register(email="ana@example.test")
        tokens = await core.login(email="ana@example.test")
        for _ in range(3):  # wrong, wrong (locks), then refused while locked
            refused = await core.client.post(
                "/auth/login", json={"email": "ana@example.test", "password": "wrong guess"}
            )
            assert refused.status_code == 401
        # Two rotations put the first token two generations behind: a reuse, grace or not.
        token = tokens["refresh_token"]
        for _ in range(2):
            rotated = await core.client.post("/auth/refresh", json={"refresh_token": token})
            assert rotated.status_code == 200
            token = rotated.json()["refresh_token"]
        reused = await core.client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        after = await scrape(core.client)

    assert reused.status_code == 401

    def moved(name: str, labels: str = "") -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert moved("atriz_login_successes_total") == 1
    assert moved("atriz_login_failures_total", "reason=wrong_password") == 2
    assert moved("atriz_login_failures_total", "reason=locked") == 1
    assert moved("atriz_login_lockouts_total") == 1
    assert moved("atriz_refresh_reuse_total") == 1
