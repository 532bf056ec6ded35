"""The typed environment reader and the settings every app shares."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest

from atriz_core.kit.settings import (
    AppSettings,
    Env,
    app_fields,
    development_client_secret,
    is_placeholder,
)
from atriz_core.settings import CoreSettings
from atriz_database import ConfigurationError, DatabaseTarget, Environment

PSHOP = DatabaseTarget("pshop", "pshop_db", "PSHOP_DATABASE_URL", Path("m"), Path("s"))
SECRET = "kq3VJ8v1xN5tq8ZrLw0yB7cH2mE4uP9s"


@dataclass(frozen=True, kw_only=True)
class ShopSettings(AppSettings):
    """An app's settings as an app writes them: its own fields, the rest from the kit."""

    hold_seconds: float = 60.0
    """`PSHOP_HOLD`: how long a basket holds its stock."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShopSettings:
        env = Env(environ)
        return cls(
            **app_fields(env, prefix="PSHOP", service="pshop", target=PSHOP, default_port=8003),
            hold_seconds=env.duration("PSHOP_HOLD", 60.0, low=1, high=3600),
        )


@pytest.fixture(autouse=True)
def database_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Database URLs come from `atriz_database.database_url`, which reads the process."""
    monkeypatch.setenv("PSHOP_DATABASE_URL", "postgresql://pshop@db.internal/pshop_db")
    monkeypatch.setenv("SHARED_DATABASE_URL", "postgresql://core@db.internal/atriz_shared")
    for name in ("ATRIZ_ENV", "CORE_ISSUER", "CORE_PUBLIC_URL", "ATRIZ_CURSOR_SECRET"):
        monkeypatch.delenv(name, raising=False)


# --- the reader -------------------------------------------------------------------------------


def test_unset_and_empty_values_give_the_default() -> None:
    env = Env({"BLANK": "  "})

    assert env.string("MISSING") is None
    assert env.string("BLANK", "fallback") == "fallback"
    assert env.integer("BLANK", 7) == 7
    assert env.boolean("MISSING", True) is True
    assert env.strings("MISSING", ("a",)) == ("a",)


def test_values_are_read_typed() -> None:
    env = Env({"S": " text ", "I": "42", "F": "1.5", "L": " a, ,b ,, c "})

    assert env.string("S") == "text"
    assert env.integer("I", 0) == 42
    assert env.number("F", 0.0) == 1.5
    assert env.strings("L") == ("a", "b", "c")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True),
        ("false", False), ("0", False), ("no", False), ("OFF", False),
    ],
)  # fmt: skip
def test_booleans_take_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Env({"FLAG": raw}).boolean("FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_any_other_boolean_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=f"FLAG must be true or false.*got '{raw}'"):
        Env({"FLAG": raw}).boolean("FLAG", False)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("30", 30.0), ("30s", 30.0), ("500ms", 0.5), ("5m", 300.0), ("2h", 7200.0),
        ("1d", 86400.0), ("1.5s", 1.5), (" 10 S ", 10.0),
    ],
)  # fmt: skip
def test_durations_are_seconds(raw: str, seconds: float) -> None:
    assert Env({"WAIT": raw}).duration("WAIT", 0.0) == seconds


@pytest.mark.parametrize("raw", ["-5s", "5 minutes", "s", "5w", "1h30m", "inf"])
def test_a_malformed_duration_names_the_variable_value_and_form(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Env({"WAIT": raw}).duration("WAIT", 0.0)

    message = str(caught.value)
    assert message.startswith("WAIT must be a duration such as 30, 30s, 500ms, 5m, 2h or 1d")
    assert repr(raw.strip()) in message


@pytest.mark.parametrize(
    ("method", "raw", "message"),
    [
        ("integer", "ten", "N must be an integer, got 'ten'"),
        ("integer", "1.5", "N must be an integer, got '1.5'"),
        ("number", "fast", "N must be a number, got 'fast'"),
        ("number", "nan", "N must be a finite number, got 'nan'"),
    ],
)
def test_malformed_numbers_are_refused(method: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        getattr(Env({"N": raw}), method)("N", 1)


@pytest.mark.parametrize(
    ("raw", "low", "high", "message"),
    [
        ("0", 1, 10, "N must be between 1 and 10, got 0"),
        ("11", 1, 10, "N must be between 1 and 10, got 11"),
        ("0", 1, None, "N must be at least 1, got 0"),
        ("11", None, 10, "N must be at most 10, got 11"),
    ],
)
def test_bounds_name_the_variable_the_value_and_the_range(
    raw: str, low: int | None, high: int | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Env({"N": raw}).integer("N", 5, low=low, high=high)


def test_duration_bounds_are_in_seconds() -> None:
    with pytest.raises(ConfigurationError, match="WAIT must be between 1s and 60s, got 120s"):
        Env({"WAIT": "2m"}).duration("WAIT", 5.0, low=1, high=60)


def test_urls_check_scheme_and_host() -> None:
    env = Env({"GOOD": "https://core.internal:8443/", "FTP": "ftp://x", "NOHOST": "http:///p"})

    assert env.url("GOOD") == "https://core.internal:8443/"
    with pytest.raises(ConfigurationError, match="FTP must be a http:// or https:// URL, got"):
        env.url("FTP")
    with pytest.raises(ConfigurationError, match=r"NOHOST must be .* URL with a host name"):
        env.url("NOHOST")


def test_a_url_error_never_repeats_the_url() -> None:
    env = Env({"DB": "mysql://app:hunter2hunter2@db/x", "BAD": "http://app:pw@host:port/"})

    with pytest.raises(ConfigurationError) as caught:
        env.url("DB", schemes=("postgresql",))
    with pytest.raises(ConfigurationError) as caught_port:
        env.url("BAD")

    assert "hunter2" not in str(caught.value)
    assert "pw@" not in str(caught_port.value)


def test_a_secret_outside_production_may_be_unset_but_not_short() -> None:
    assert Env({}).secret("KEY", production=False) is None
    with pytest.raises(ConfigurationError, match="KEY must be at least 32 bytes, got 5") as caught:
        Env({"KEY": "short"}).secret("KEY", production=False)
    assert "short" not in str(caught.value)


@pytest.mark.parametrize(
    "value", ["change-me-change-me-change-me-change-me", "x" * 40, "<your secret goes here>" * 2]
)
def test_production_refuses_a_placeholder_secret_without_repeating_it(value: str) -> None:
    with pytest.raises(ConfigurationError, match="KEY looks like a placeholder") as caught:
        Env({"KEY": value}).secret("KEY", production=True)

    assert value not in str(caught.value)


def test_a_generated_secret_is_not_a_placeholder() -> None:
    assert not is_placeholder(SECRET)
    assert Env({"KEY": SECRET}).secret("KEY", production=True) == SECRET


def test_the_reader_defaults_to_the_process_environment_at_read_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = Env()
    monkeypatch.setenv("ATRIZ_SAMPLE_SET_LATER", "9")

    assert env.integer("ATRIZ_SAMPLE_SET_LATER", 0) == 9


# --- AppSettings --------------------------------------------------------------------------------


def test_an_app_gets_working_defaults_outside_production() -> None:
    settings = ShopSettings.from_env({})

    assert settings.service == "pshop"
    assert settings.environment is Environment.DEVELOPMENT
    assert (settings.host, settings.port) == ("127.0.0.1", 8003)
    assert settings.database_url == "postgresql://pshop@db.internal/pshop_db"
    # No reader login configured: core's own database URL, development only.
    assert settings.shared_database_url == "postgresql://core@db.internal/atriz_shared"
    assert settings.core_url == "http://127.0.0.1:8000"
    assert settings.jwks_url == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.hold_seconds == 60.0
    assert (
        settings.cursor_secret == hashlib.sha256(b"atriz development cursor secret: pshop").digest()
    )


def test_an_app_reads_its_own_and_the_shared_variables() -> None:
    settings = ShopSettings.from_env(
        {
            "ATRIZ_ENV": "test",
            "ATRIZ_HOST": "0.0.0.0",  # noqa: S104 - a value read, nothing bound
            "PSHOP_PORT": "9003",
            "PSHOP_SHARED_DATABASE_URL": "postgresql://pshop_reader@db/atriz_shared",
            "ATRIZ_CORE_URL": "https://core.internal/",
            "ATRIZ_DB_POOL_MAX": "4",
            "ATRIZ_CURSOR_SECRET": SECRET,
            "PSHOP_MAX_BODY_BYTES": "65536",
            "PSHOP_HOLD": "5m",
        }
    )

    assert settings.environment is Environment.TEST
    assert (settings.host, settings.port) == ("0.0.0.0", 9003)  # noqa: S104
    assert settings.shared_database_url == "postgresql://pshop_reader@db/atriz_shared"
    assert settings.jwks_url == "https://core.internal/.well-known/jwks.json"
    assert settings.database.pool_max_size == 4
    assert settings.cursor_secret == SECRET.encode()
    assert settings.max_body_bytes == 65536
    assert settings.hold_seconds == 300.0


def test_settings_are_frozen_and_keep_secrets_out_of_repr() -> None:
    settings = ShopSettings.from_env({"ATRIZ_CURSOR_SECRET": SECRET})

    with pytest.raises(FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert SECRET not in repr(settings)
    assert "db.internal" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "issuer"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"CORE_PUBLIC_URL": "https://auth.example.org/"}, "https://auth.example.org"),
        (
            {"CORE_PUBLIC_URL": "https://auth.example.org", "CORE_ISSUER": "urn:atriz"},
            "urn:atriz",
        ),
    ],
)
def test_apps_expect_the_issuer_core_signs_with(
    environ: dict[str, str], issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    assert ShopSettings.from_env().issuer == issuer
    assert CoreSettings.from_env().issuer == issuer


def test_production_requires_the_reader_login_and_a_cursor_secret() -> None:
    production = {
        "ATRIZ_ENV": "production",
        "ATRIZ_CURSOR_SECRET": SECRET,
        "PSHOP_OIDC_CLIENT_SECRET": SECRET,
    }

    with pytest.raises(ConfigurationError, match="PSHOP_SHARED_DATABASE_URL must be set in prod"):
        ShopSettings.from_env(production)

    reader = {**production, "PSHOP_SHARED_DATABASE_URL": "postgresql://r@db/atriz_shared"}
    assert ShopSettings.from_env(reader).cursor_secret == SECRET.encode()
    with pytest.raises(ConfigurationError, match="ATRIZ_CURSOR_SECRET must be set in production"):
        ShopSettings.from_env({**reader, "ATRIZ_CURSOR_SECRET": ""})
    with pytest.raises(ConfigurationError, match="ATRIZ_CURSOR_SECRET looks like a placeholder"):
        ShopSettings.from_env({**reader, "ATRIZ_CURSOR_SECRET": "change-me" * 4})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PSHOP_PORT", "0", "PSHOP_PORT must be between 1 and 65535, got 0"),
        ("PSHOP_PORT", "http", "PSHOP_PORT must be an integer, got 'http'"),
        ("PSHOP_MAX_BODY_BYTES", "10", "PSHOP_MAX_BODY_BYTES must be between 1024 and"),
        ("PSHOP_SHARED_DATABASE_URL", "mysql://db/x", "must be a postgresql:// or postgres://"),
        (
            "PSHOP_SHARED_DATABASE_URL",
            "postgresql://r@/atriz_shared?host=/run/pg?sslmode=require",
            "PSHOP_SHARED_DATABASE_URL is not a URL that libpq can read",
        ),
        ("PSHOP_REPLICA_URL", "postgresql://r:pw%zz@db/pshop", "PSHOP_REPLICA_URL is not a URL"),
        ("ATRIZ_CORE_URL", "core:8000", "ATRIZ_CORE_URL must be a http:// or https:// URL"),
        ("ATRIZ_ENV", "staging", "ATRIZ_ENV must be one of"),
        ("ATRIZ_DB_POOL_MAX", "many", "ATRIZ_DB_POOL_MAX must be an integer, got 'many'"),
        ("ATRIZ_CURSOR_SECRET", "tiny", "ATRIZ_CURSOR_SECRET must be at least 32 bytes"),
        ("PSHOP_PUBLIC_URL", "shop.example", "PSHOP_PUBLIC_URL must be a http:// or https://"),
        ("PSHOP_OIDC_CLIENT_SECRET", "short", "PSHOP_OIDC_CLIENT_SECRET must be at least 32"),
    ],
)
def test_bad_app_settings_stop_the_start_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ShopSettings.from_env({variable: value})


def test_production_signs_browsers_in_over_https_with_a_real_client_secret() -> None:
    production = {
        "ATRIZ_ENV": "production",
        "ATRIZ_CURSOR_SECRET": SECRET,
        "PSHOP_SHARED_DATABASE_URL": "postgresql://r@db/atriz_shared",
        "PSHOP_PUBLIC_URL": "https://shop.example.com/",
    }

    with pytest.raises(ConfigurationError, match="PSHOP_OIDC_CLIENT_SECRET must be set in prod"):
        ShopSettings.from_env(production)
    settings = ShopSettings.from_env({**production, "PSHOP_OIDC_CLIENT_SECRET": SECRET})
    assert (settings.public_url, settings.oidc_client_id) == ("https://shop.example.com", "pshop")
    assert settings.oidc_client_secret == SECRET
    with pytest.raises(ConfigurationError, match="PSHOP_PUBLIC_URL must be an https:// URL"):
        ShopSettings.from_env(
            {**production, "PSHOP_OIDC_CLIENT_SECRET": SECRET, "PSHOP_PUBLIC_URL": "http://shop"}
        )
    development = ShopSettings.from_env({"PSHOP_PORT": "9003"})
    assert development.public_url == "http://127.0.0.1:9003"
    assert development.oidc_client_secret == development_client_secret("pshop")


def test_core_reads_the_given_mapping_too() -> None:
    settings = CoreSettings.from_env(
        {"ATRIZ_ENV": "test", "CORE_TOKEN_AUDIENCES": " pshop, ,website ", "CORE_PORT": "9000"}
    )

    assert (settings.environment, settings.audiences, settings.port) == (
        Environment.TEST,
        ("pshop", "website"),
        9000,
    )
