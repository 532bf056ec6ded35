"""Core's settings read from the environment: hashing threads, trusted proxies."""

from __future__ import annotations

import os
from ipaddress import ip_network

import pytest

from atriz_core.settings import CoreSettings
from atriz_database.errors import ConfigurationError


@pytest.fixture
def core_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SHARED_DATABASE_URL", "postgresql://localhost/atriz_shared")
    monkeypatch.setenv("ATRIZ_ENV", "test")
    for name in ("CORE_HASH_THREADS", "ATRIZ_WORKERS", "CORE_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    return monkeypatch


@pytest.mark.parametrize(
    ("workers", "threads"), [(None, 8), ("1", 8), ("2", 4), ("3", 2), ("16", 1)]
)
def test_hash_threads_share_the_cores_among_the_workers(
    core_env: pytest.MonkeyPatch, workers: str | None, threads: int
) -> None:
    if workers is not None:
        core_env.setenv("ATRIZ_WORKERS", workers)

    assert CoreSettings.from_env().hash_threads == threads


def test_core_hash_threads_overrides_the_derived_count(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("ATRIZ_WORKERS", "2")
    core_env.setenv("CORE_HASH_THREADS", "3")

    assert CoreSettings.from_env().hash_threads == 3


def test_zero_hash_threads_is_refused(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("CORE_HASH_THREADS", "0")

    with pytest.raises(ConfigurationError, match="CORE_HASH_THREADS"):
        CoreSettings.from_env()


def test_trusted_proxies_are_read_as_networks(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("CORE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.10")

    assert CoreSettings.from_env().trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.10/32"),
    )


def test_a_bad_trusted_proxy_stops_the_start(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("CORE_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")

    with pytest.raises(ConfigurationError, match=r"CORE_TRUSTED_PROXIES: 'proxy\.internal'"):
        CoreSettings.from_env()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CORE_REFRESH_REUSE_GRACE_SECONDS", "3600"),
        ("CORE_SESSION_MAX_SECONDS", "31536000"),
        ("CORE_REFRESH_TOKEN_SECONDS", "10"),
        ("CORE_LOGIN_MAX_FAILURES", "1000"),
        ("CORE_LOCKOUT_MAX_SECONDS", "604800"),
        ("CORE_PASSWORD_RESET_SECONDS", "604800"),
        ("CORE_HASH_QUEUE_MAX_WAIT", "120"),
        ("CORE_MAIL_PER_EMAIL", "0"),
    ],
)
def test_settings_beyond_their_bounds_are_refused_naming_the_variable(
    core_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    core_env.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=f"{variable} must be between"):
        CoreSettings.from_env()


def test_refresh_tokens_cannot_outlive_the_session_limit(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("CORE_REFRESH_TOKEN_SECONDS", "7200")
    core_env.setenv("CORE_SESSION_MAX_SECONDS", "3600")

    with pytest.raises(ConfigurationError, match="must not exceed CORE_SESSION_MAX_SECONDS"):
        CoreSettings.from_env()


def test_session_and_queue_limits_are_read(core_env: pytest.MonkeyPatch) -> None:
    core_env.setenv("CORE_SESSION_MAX_SECONDS", "86400")
    core_env.setenv("CORE_REFRESH_TOKEN_SECONDS", "3600")
    core_env.setenv("CORE_HASH_QUEUE_MAX_WAIT", "1.5")

    settings = CoreSettings.from_env()

    assert (settings.session_max_seconds, settings.hash_queue_max_wait_seconds) == (86400, 1.5)
