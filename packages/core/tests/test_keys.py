"""Signing keys: generated once in development, required in production, rotated with overlap."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from litestar.testing import AsyncTestClient

from atriz_core.app import create_app
from atriz_core.settings import CoreSettings
from atriz_core.testing import TEST_PASSWORD, CoreHarness, FrozenClock, MemoryMailer
from atriz_core.tokens.keys import SigningKey, load_keyring, rotate_key
from atriz_database import ConfigurationError, Environment


def test_development_generates_a_key_once_and_reuses_it(tmp_path: Path) -> None:
    first = load_keyring(pem=None, folder=tmp_path / "keys", environment=Environment.DEVELOPMENT)
    second = load_keyring(pem=None, folder=tmp_path / "keys", environment=Environment.DEVELOPMENT)

    assert first.current.kid == second.current.kid
    (key_file,) = (tmp_path / "keys").glob("*.pem")
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_production_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no signing key"):
        load_keyring(pem=None, folder=tmp_path / "keys", environment=Environment.PRODUCTION)
    assert not (tmp_path / "keys").exists()


def test_a_key_from_the_environment_is_used(tmp_path: Path) -> None:
    rotate_key(tmp_path)
    pem = next(tmp_path.glob("*.pem")).read_text()
    ring = load_keyring(pem=pem, folder=tmp_path / "unused", environment=Environment.PRODUCTION)
    assert ring.current.kid == SigningKey.from_pem(pem.encode(), "test").kid


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a PEM private key"):
        load_keyring(pem="nonsense", folder=Path("/nonexistent"), environment=Environment.TEST)


async def test_rotation_publishes_both_keys_and_old_tokens_stay_valid(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    before = await core_harness.login()
    rotate_key(core_harness.settings.signing_key_dir)
    rotated = create_app(core_harness.settings, clock=FrozenClock(), mailer=MemoryMailer())

    async with AsyncTestClient(app=rotated) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        old_token = await client.get("/auth/me", headers=core_harness.bearer(before))
        login = await client.post(
            "/auth/login", json={"email": "ana@example.test", "password": TEST_PASSWORD}
        )

    assert len(jwks["keys"]) == 2
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
    assert old_token.status_code == 200
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    new_kid = jwt.get_unverified_header(login.json()["access_token"])["kid"]
    assert new_kid == jwks["keys"][0]["kid"]
    assert old_kid == jwks["keys"][1]["kid"]


def test_settings_refuse_weak_or_unsafe_values(core_settings: CoreSettings) -> None:
    with pytest.raises(ConfigurationError, match="between 60 and 900"):
        replace(core_settings, access_token_seconds=3600).check()
    with pytest.raises(ConfigurationError, match="OWASP"):
        replace(core_settings, argon2_memory_kib=4096).check()
    with pytest.raises(ConfigurationError, match="CORE_SMTP_HOST"):
        replace(core_settings, environment=Environment.PRODUCTION).check()
