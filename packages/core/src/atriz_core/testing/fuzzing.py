"""Schema fuzzing: Schemathesis generates requests from the service's own OpenAPI document and
checks every answer against it.

    report = await fuzz_openapi(client, headers=user.headers)
    report.assert_ok()

For each operation of `/schema/openapi.json`, Schemathesis (4.x) draws a bounded number of
requests that fit the schema (positive) and that break it (negative); each is sent through the
test's own client (in-process, `httpx.ASGITransport`, in the test's event loop, so the app's
pools and lifespan are the real ones) with a real token, and its response checked:

- `not_a_server_error`: no 5xx;
- `status_code_conformance`: the status is documented for the operation;
- `content_type_conformance`: the content type is documented for that status;
- `response_schema_conformance`: the body matches the documented schema.

Every failure of every operation is collected, deduplicated by operation, check and status, and
listed at once. Generation is derandomized (the same requests on every run) and has no
deadline, so CI stays deterministic; `max_examples` bounds each operation and mode.

Schemathesis's own ASGI transport is not used: it runs the app in a thread with an event loop of
its own, where the pools a test started in its loop cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from httpx import AsyncClient
from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = [
    "CHECKS",
    "DEFAULT_MAX_EXAMPLES",
    "FuzzFailure",
    "FuzzReport",
    "HeadersFor",
    "assert_openapi_fuzzing_passes",
    "fuzz_openapi",
]

DEFAULT_MAX_EXAMPLES = 25
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
HeadersFor = Callable[[str, str], Mapping[str, str] | None]
"""(method, path template) -> the headers to send, e.g. an admin's token for `/admin/...`."""
_MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}


@dataclass(frozen=True)
class FuzzFailure:
    """One kind of failure: a check that failed on an operation with a given status."""

    operation: str
    mode: str
    check: str
    status: int
    message: str
    request: str
    """The first request that showed it: method, URL and body (tokens left out)."""

    def __str__(self) -> str:
        message = self.message.strip().replace("\n", "\n      ")
        return (
            f"{self.operation} [{self.mode}] {self.check}, status {self.status}\n"
            f"      {message}\n      request: {self.request}"
        )


@dataclass
class FuzzReport:
    """What a fuzzing run sent and what it found."""

    operations: list[str] = field(default_factory=list)
    requests: int = 0
    failures: list[FuzzFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Operations and modes for which no request could be generated (a negative case of an
    operation without parameters or body)."""

    def assert_ok(self) -> None:
        """Fail, listing every failure, unless there was none."""
        assert not self.failures, (
            f"schema fuzzing: {len(self.failures)} failure(s) over {len(self.operations)}"
            f" operations and {self.requests} requests:\n"
            + "\n".join(f"  {failure}" for failure in self.failures)
        )


def _draw(strategy: Any, max_examples: int) -> list[Any]:
    cases: list[Any] = []

    # Only drawn here, sent later: the requests go through the test's event loop, which a
    # Hypothesis test (synchronous) cannot await. No shrinking: every failure is reported as
    # found, and the run stays bounded.
    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @hypothesis.given(strategy)
    def collect(case: Any) -> None:
        cases.append(case)

    collect()
    return cases


def _describe(prepared: requests.PreparedRequest) -> str:
    body = prepared.body or b""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return f"{prepared.method} {prepared.url} {text[:200]}".rstrip()


async def fuzz_openapi(
    client: AsyncClient,
    *,
    headers: Mapping[str, str] | HeadersFor | None = None,
    schema_path: str = "/schema/openapi.json",
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    modes: Sequence[str] = ("positive", "negative"),
    include: Callable[[str, str], bool] | None = None,
) -> FuzzReport:
    """Fuzz every operation of the service behind `client` (see the module's docstring).

    `headers` go with every request (a token), or are chosen per operation by a function of
    (method, path template); `include` (same arguments) picks the operations to fuzz.
    """
    response = await client.get(schema_path)
    assert response.status_code == 200, f"GET {schema_path}: {response.status_code}"
    schema = schemathesis.openapi.from_dict(response.json())
    base_url = str(client.base_url).rstrip("/")
    report = FuzzReport()
    seen: dict[tuple[str, str, int], FuzzFailure] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            problem = result.err()
            seen[(problem.label, "Invalid schema", 0)] = FuzzFailure(
                problem.label, "-", "Invalid schema", 0, problem.message, "(none sent)"
            )
            continue
        operation = result.ok()
        method, path = operation.method.upper(), operation.path
        if include is not None and not include(method, path):
            continue
        report.operations.append(f"{method} {path}")
        extra = headers(method, path) if callable(headers) else headers
        for mode in modes:
            try:
                cases = _draw(operation.as_strategy(generation_mode=_MODES[mode]), max_examples)
            except Unsatisfiable:
                # Nothing of the request can be made invalid (no parameters, no body).
                report.skipped.append(f"{method} {path} [{mode}]")
                continue
            for case in cases:
                kwargs = case.as_transport_kwargs(base_url=base_url, headers=dict(extra or {}))
                # Prepared as Schemathesis's own transport would send it (query, body encoding),
                # then sent through the test's client.
                prepared = requests.Request(**kwargs).prepare()
                answer = await client.request(
                    prepared.method or method,
                    prepared.url or path,
                    headers={
                        name: value if isinstance(value, str) else value.decode("latin-1")
                        for name, value in prepared.headers.items()
                        if name.lower() != "content-length"
                    },
                    content=prepared.body if isinstance(prepared.body, bytes | str) else None,
                )
                report.requests += 1
                try:
                    case.validate_response(answer, checks=list(CHECKS))
                except FailureGroup as group:
                    failures: Sequence[Failure] = group.exceptions
                except Failure as single:
                    failures = [single]
                else:
                    continue
                for failure in failures:
                    key = (f"{method} {path}", failure.title, answer.status_code)
                    if key not in seen:
                        seen[key] = FuzzFailure(
                            key[0],
                            mode,
                            failure.title,
                            answer.status_code,
                            failure.message,
                            _describe(prepared),
                        )
    report.failures = list(seen.values())
    return report


async def assert_openapi_fuzzing_passes(client: AsyncClient, **options: Any) -> FuzzReport:
    """`fuzz_openapi(client, **options)`, then fail listing every failure found."""
    report = await fuzz_openapi(client, **options)
    report.assert_ok()
    return report
