"""PShop's settings: what it adds to the kit's, read from the environment and checked."""

from __future__ import annotations

import pytest

from atriz_database import ConfigurationError
from atriz_pshop.settings import PshopSettings


def test_the_shops_settings_are_read_from_the_environment() -> None:
    settings = PshopSettings.from_env(
        {
            "PSHOP_PORT": "9003",
            "PSHOP_TIMEZONE": "America/Mexico_City",
            "PSHOP_IDEMPOTENCY_HOURS": "48",
            "PSHOP_LOCK_TIMEOUT": "1500ms",
        }
    )
    defaults = PshopSettings.from_env({})

    assert (settings.service, settings.port) == ("pshop", 9003)
    assert settings.timezone == "America/Mexico_City"
    assert settings.idempotency_hours == 48
    assert settings.lock_timeout == 1.5
    assert (defaults.port, defaults.timezone, defaults.idempotency_hours) == (8003, "UTC", 24)
    assert defaults.lock_timeout == 5.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PSHOP_TIMEZONE", "Mars/Olympus"),
        ("PSHOP_IDEMPOTENCY_HOURS", "0"),
        ("PSHOP_LOCK_TIMEOUT", "2h"),
        ("PSHOP_PORT", "http"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        PshopSettings.from_env({name: value})
