"""Bench-only switches that take parts of the kit's per-request work out, to measure what each
costs. They patch the kit inside the server process (`bench_app`, `bench_core`); nothing in
`packages/` reads them, and with none set the app is built exactly as the kit builds it.

- `BENCH_ACCESS_LOG=0`: no request log line (`atriz_core.kit.request_ids.access_log` silenced;
  the request id is still set and sent back).
- `BENCH_METRICS=0`: no Prometheus request middleware (`/metrics` still answers, without the
  request series).
- `BENCH_REQUEST_CONTEXT=0`: no `RequestContextMiddleware` at all (no request id, no log line).
- `BENCH_LOG_FORMAT=json|console`: the log lines' format whatever the environment (production
  writes JSON, development and test a console line).
- `BENCH_FAKE_ARGON2=1` (core): a password check that skips argon2 and accepts any password of a
  known account, still handed to the hashing thread: what a login costs besides argon2. With
  `sleep`, the check sleeps as long as a verify takes (`BENCH_FAKE_SECONDS`, 0.0195): the same
  rate of logins without the CPU; with `pbkdf2`, it spends that long in PBKDF2 (which, like
  argon2, runs without the GIL, but in a few hundred bytes of memory instead of 19 MiB).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from atriz_database import Environment

__all__ = ["apply_toggles"]


class _Silent:
    def debug(self, *_: Any, **__: Any) -> None:
        pass

    info = debug


def _fake_work(kind: str) -> Callable[[], None]:
    """What the fake password check does in the hashing thread (see the module docstring)."""
    seconds = float(os.environ.get("BENCH_FAKE_SECONDS", "0.0195"))
    if kind == "sleep":
        return partial(time.sleep, seconds)
    if kind == "pbkdf2":
        started = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 20_000)
        iterations = max(1, round(20_000 * seconds / (time.perf_counter() - started)))
        return partial(hashlib.pbkdf2_hmac, "sha256", b"password", b"salt", iterations)  # type: ignore[return-value]
    return lambda: None


def apply_toggles() -> None:
    """Patch the kit as the environment's `BENCH_*` switches say; call before building the app."""
    import atriz_core.kit.request_ids as request_ids
    import atriz_core.kit.service as service
    from atriz_core.kit.request_ids import RequestContextMiddleware

    fake = os.environ.get("BENCH_FAKE_ARGON2")
    if fake:
        from atriz_core.passwords import hashing

        work = _fake_work(fake)

        def verify(self: Any, password_hash: str | None, password: str) -> Any:
            work()
            return hashing.Verification(matches=password_hash is not None)

        hashing.PasswordHasher._verify = verify  # type: ignore[method-assign]
    if os.environ.get("BENCH_ACCESS_LOG", "1") == "0":
        request_ids.access_log = _Silent()
    drop_metrics = os.environ.get("BENCH_METRICS", "1") == "0"
    drop_context = os.environ.get("BENCH_REQUEST_CONTEXT", "1") == "0"
    log_format = os.environ.get("BENCH_LOG_FORMAT")
    if not (drop_metrics or drop_context or log_format):
        return
    original = service.observability  # type: ignore[attr-defined]  # patched where it is used

    def observability(name: str, environment: Environment, **options: Any) -> Any:
        if log_format is not None:
            environment = Environment.PRODUCTION if log_format == "json" else Environment.TEST
        parts = original(name, environment, **options)
        middleware = [
            m
            for m in parts.middleware
            if not (drop_context and isinstance(m, RequestContextMiddleware))
            and not (drop_metrics and not isinstance(m, RequestContextMiddleware))
        ]
        return replace(parts, middleware=middleware)

    service.observability = observability  # type: ignore[attr-defined, assignment]
