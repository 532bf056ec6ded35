"""Core's own metrics: the sign-in counters its services increment.

Plain prometheus_client, apart from the kit's Litestar middleware (`atriz_core.kit.metrics`), so
that the services counting logins import no web framework. Core's app registers `CORE_METRICS`
in its registry (`create_service(collectors=[CORE_METRICS])`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric

__all__ = ["CORE_METRICS", "CoreMetrics"]

# The kit's prefix (`atriz_core.kit.metrics.PREFIX`), written again rather than imported: that
# module is where Litestar's middleware is.
PREFIX = "atriz"


class CoreMetrics:
    """Core's sign-in counters, a collector that core's app registers in its registry.

    - `atriz_login_successes_total`.
    - `atriz_login_failures_total{reason}`: `unknown_email`, `inactive`, `locked` (refused
      without checking the password, the account being locked), `wrong_password`,
      `address_limit` (the caller's address is over its limit).
    - `atriz_login_lockouts_total`: failed logins that locked the account, that is the wrong
      passwords whose booked failure reached the lockout threshold (each sets a new, longer
      lock). Refusals while an account is locked are `failures{reason="locked"}`, not lockouts.
    - `atriz_refresh_reuse_total`: spent refresh tokens presented again (the session revoked).

    One instance per process (`CORE_METRICS`): the services increment it without a handle on
    the app. Two core apps in one process (tests) add to the same counts.
    """

    def __init__(self) -> None:
        # Not registered anywhere yet: each app that exports them registers this collector.
        self.login_successes = Counter(
            f"{PREFIX}_login_successes", "Successful logins", registry=None
        )
        self.login_failures = Counter(
            f"{PREFIX}_login_failures", "Refused logins, by reason", ["reason"], registry=None
        )
        self.lockouts = Counter(
            f"{PREFIX}_login_lockouts", "Failed logins that locked the account", registry=None
        )
        self.refresh_reuses = Counter(
            f"{PREFIX}_refresh_reuse", "Reused refresh tokens (session revoked)", registry=None
        )

    def _counters(self) -> tuple[Counter, ...]:
        return (self.login_successes, self.login_failures, self.lockouts, self.refresh_reuses)

    def describe(self) -> Iterator[Metric]:
        for counter in self._counters():
            yield from counter.describe()

    def collect(self) -> Iterator[Metric]:
        for counter in self._counters():
            yield from counter.collect()

    def login_succeeded(self) -> None:
        """Count a login that started a session."""
        self.login_successes.inc()

    def login_failed(self, reason: str, *, locked_account: bool = False) -> None:
        """Count a refused login; `locked_account` when this failure locked the account."""
        self.login_failures.labels(reason).inc()
        if locked_account:
            self.lockouts.inc()

    def refresh_reused(self) -> None:
        """Count a reused refresh token."""
        self.refresh_reuses.inc()


CORE_METRICS = CoreMetrics()
