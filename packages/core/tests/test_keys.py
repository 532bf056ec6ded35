"""Signing keys: generated once in development, required in production, rotated with overlap."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import jwt
import pytest
from litestar.testing import AsyncTestClient

from atriz_core.app import create_app
from atriz_core.client.verifier import MAX_LEEWAY_SECONDS
from atriz_core.oidc.csrf import CsrfTokens
from atriz_core.oidc.web import csrf_tokens
from atriz_core.settings import MAX_ACCESS_TOKEN_SECONDS, CoreSettings
from atriz_core.testing import TEST_PASSWORD, CoreHarness, FrozenClock, MemoryMailer
from atriz_core.tokens.access import ACCESS_TOKEN_TYPE
from atriz_core.tokens.keys import (
    PREVIOUS_KEY_LEEWAY_SECONDS,
    RsaSigningKey,
    SigningKey,
    load_id_token_keyring,
    load_keyring,
    rotate_key,
)
from atriz_database import ConfigurationError, Environment

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def kids(jwks: dict[str, list[dict[str, str]]]) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


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


def test_id_token_keys_are_rsa_generated_apart_and_required_in_production(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "keys" / "id-tokens"
    with pytest.raises(ConfigurationError, match=r"no signing key for ID tokens.*--id-token"):
        load_id_token_keyring(pem=None, folder=folder, environment=Environment.PRODUCTION)

    first = load_id_token_keyring(pem=None, folder=folder, environment=Environment.DEVELOPMENT)
    again = load_id_token_keyring(pem=None, folder=folder, environment=Environment.PRODUCTION)
    access = load_keyring(pem=None, folder=tmp_path / "keys", environment=Environment.DEVELOPMENT)

    assert again.current.kid == first.current.kid
    (jwk,) = first.jwks(T0)["keys"]
    assert (jwk["kty"], jwk["alg"]) == ("RSA", "RS256")
    assert "d" not in jwk
    assert first.current.private_key.key_size == 2048
    # Each kind in its own folder: the Ed25519 loader never reads the RSA key, nor the reverse.
    assert access.current.kid != first.current.kid
    with pytest.raises(ConfigurationError, match="not an RSA key"):
        load_id_token_keyring(
            pem=access.current.to_pem().decode(), folder=folder, environment=Environment.TEST
        )
    rotate_key(folder, kind=RsaSigningKey)
    rotated = load_id_token_keyring(pem=None, folder=folder, environment=Environment.TEST)
    assert [key.kid for key in rotated.keys][1] == first.current.kid


def test_a_key_from_the_environment_is_used(tmp_path: Path) -> None:
    rotate_key(tmp_path)
    pem = next(tmp_path.glob("*.pem")).read_text()
    ring = load_keyring(pem=pem, folder=tmp_path / "unused", environment=Environment.PRODUCTION)
    assert ring.current.kid == SigningKey.from_pem(pem.encode(), "test").kid


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a PEM private key"):
        load_keyring(pem="nonsense", folder=Path("/nonexistent"), environment=Environment.TEST)


def test_a_rotated_ring_publishes_the_previous_key_until_its_last_token_expired(
    tmp_path: Path,
) -> None:
    rotate_key(tmp_path, now=T0)
    rotate_key(tmp_path, now=T0 + timedelta(days=30))
    ring = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
    current, previous = ring.keys
    clock = FrozenClock(T0 + timedelta(days=30))
    lifetime = 300

    right_after = kids(ring.jwks(clock.now(), lifetime))
    clock.advance(lifetime + PREVIOUS_KEY_LEEWAY_SECONDS - 0.001)
    just_before = kids(ring.jwks(clock.now(), lifetime))
    clock.advance(0.001)
    from_the_deadline_on = kids(ring.jwks(clock.now(), lifetime))

    assert right_after == just_before == [current.kid, previous.kid]
    assert from_the_deadline_on == [current.kid]
    assert ring.current_since == T0 + timedelta(days=30)


def test_a_key_rotated_to_activate_later_is_published_first_and_signs_from_its_time(
    tmp_path: Path,
) -> None:
    """With several core processes, a key signing at once in the first one restarted reached
    apps that refetched the key set from another, not yet restarted, which did not publish it:
    refused for up to a minute each. `--activate-in` publishes it everywhere first."""
    rotate_key(tmp_path, now=T0)
    rotate_key(tmp_path, now=T0 + timedelta(days=30), activate_in=600)
    ring = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
    upcoming, current = ring.keys
    lifetime = 300
    started = T0 + timedelta(days=30)

    before = (ring.signing(started), kids(ring.jwks(started, lifetime)))
    at = started + timedelta(seconds=600)
    after = (ring.signing(at), kids(ring.jwks(at, lifetime)))
    later = at + timedelta(seconds=lifetime + PREVIOUS_KEY_LEEWAY_SECONDS)

    assert before == (current, [upcoming.kid, current.kid])
    assert after == (upcoming, [upcoming.kid, current.kid])
    assert kids(ring.jwks(later, lifetime)) == [upcoming.kid]
    assert ring.signing(later) is upcoming


def test_no_second_rotation_while_a_key_waits_for_its_time(tmp_path: Path) -> None:
    """Core loads two keys: a second key to come pushed out the key in use, and the first key
    to come signed at once (rerunning the Kubernetes README's rotation within its 15 minutes)."""
    rotate_key(tmp_path, now=T0)
    waiting = T0 + timedelta(days=30)
    rotate_key(tmp_path, now=waiting, activate_in=900)

    with pytest.raises(ConfigurationError, match="rotate again after that"):
        rotate_key(tmp_path, now=waiting + timedelta(minutes=5), activate_in=900)
    assert len(list(tmp_path.glob("*.pem"))) == 2
    current = waiting + timedelta(seconds=900)
    # Current, but the key before it signed until then: its tokens live 15 minutes more.
    with pytest.raises(ConfigurationError, match="verifies tokens until"):
        rotate_key(tmp_path, now=current + timedelta(seconds=1))
    rotate_key(tmp_path, now=current + timedelta(seconds=MAX_ACCESS_TOKEN_SECONDS + 60))
    ring = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
    assert len(ring.keys) == 2


def test_a_form_made_by_a_core_not_restarted_yet_posts_to_a_restarted_one(tmp_path: Path) -> None:
    """During a rollout after `--activate-in`, a sign-in or consent form made by a process that
    has not loaded the new key is posted to one that has, and the other way round."""
    rotate_key(tmp_path, now=T0)
    old_process = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
    rotated = T0 + timedelta(days=30)
    rotate_key(tmp_path, now=rotated, activate_in=900)
    new_process = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)

    def tokens(ring: Any, now: datetime) -> CsrfTokens:
        core = SimpleNamespace(keyring=ring, clock=FrozenClock(now))
        return csrf_tokens(cast(Any, SimpleNamespace(core=core)))

    cookie = CsrfTokens.new_cookie()
    old_form = tokens(old_process, rotated).form_token(cookie)
    new_form = tokens(new_process, rotated).form_token(cookie)
    assert tokens(new_process, rotated).valid(cookie, old_form)
    assert tokens(old_process, rotated).valid(cookie, new_form)
    after = rotated + timedelta(seconds=900)
    made_before = tokens(new_process, rotated).form_token(cookie)
    assert tokens(new_process, after).valid(cookie, made_before)  # a form open at the switch
    assert not tokens(new_process, after).valid(cookie, "x" * 43)


def test_a_third_key_file_is_never_loaded(tmp_path: Path) -> None:
    oldest = rotate_key(tmp_path, now=T0)
    oldest_kid = SigningKey.from_pem(oldest.read_bytes(), "oldest").kid
    rotate_key(tmp_path, now=T0 + timedelta(days=30))
    rotate_key(tmp_path, now=T0 + timedelta(days=60))
    oldest.write_bytes(b"not even read")  # loading it would fail

    ring = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)

    assert len(ring.keys) == 2
    assert oldest_kid not in kids(ring.jwks(T0 + timedelta(days=60), 900))
    assert ring.current_since == T0 + timedelta(days=60)


def test_a_key_from_the_environment_is_the_only_key(tmp_path: Path) -> None:
    pem = rotate_key(tmp_path, now=T0).read_text()
    rotate_key(tmp_path, now=T0 + timedelta(days=30))

    ring = load_keyring(pem=pem, folder=tmp_path, environment=Environment.PRODUCTION)

    assert len(ring.keys) == 1
    assert kids(ring.jwks(T0)) == [SigningKey.from_pem(pem.encode(), "test").kid]


def test_a_key_file_not_named_by_its_time_cannot_take_part_in_a_rotation(
    tmp_path: Path,
) -> None:
    rotate_key(tmp_path, now=T0).rename(tmp_path / "core.pem")
    alone = load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
    rotate_key(tmp_path, now=T0 + timedelta(days=1))

    assert len(alone.keys) == 1
    with pytest.raises(ConfigurationError, match=r"cannot tell when .*core\.pem became"):
        load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)


def test_a_rotation_never_hides_behind_a_newer_key(tmp_path: Path) -> None:
    rotate_key(tmp_path, now=T0)

    with pytest.raises(ConfigurationError, match="rotate again after that"):
        rotate_key(tmp_path, now=T0 - timedelta(seconds=1))
    assert len(list(tmp_path.glob("*.pem"))) == 1


def test_the_previous_key_outlives_every_verifier_s_leeway() -> None:
    assert PREVIOUS_KEY_LEEWAY_SECONDS >= MAX_LEEWAY_SECONDS


def test_a_key_being_written_is_never_read_half_written(tmp_path: Path) -> None:
    # A worker may start while `atriz keys rotate` writes the next key; it must find the
    # key whole or not at all.
    failures: list[Exception] = []
    done = threading.Event()

    def load_repeatedly() -> None:
        while not done.is_set():
            try:
                load_keyring(pem=None, folder=tmp_path, environment=Environment.PRODUCTION)
            except Exception as exc:  # any failure at all is the finding
                failures.append(exc)
                return

    rotate_key(tmp_path, now=T0)
    reader = threading.Thread(target=load_repeatedly)
    reader.start()
    try:
        for hour in range(1, 301):  # each once the key before the newest has no token left
            rotate_key(tmp_path, now=T0 + timedelta(hours=hour))
    finally:
        done.set()
        reader.join()

    assert failures == []
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".pem")) == []


def test_workers_starting_together_generate_one_key(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    script = (
        "import sys; from pathlib import Path; from atriz_core.tokens.keys import load_keyring;"
        " from atriz_database import Environment;"
        " print(load_keyring(pem=None, folder=Path(sys.argv[1]),"
        " environment=Environment.DEVELOPMENT).current.kid)"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [worker.communicate(timeout=60) for worker in workers]

    assert all(worker.returncode == 0 for worker in workers), [err for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1
    assert len(list(folder.glob("*.pem"))) == 1


async def test_rotation_publishes_both_keys_and_old_tokens_stay_valid(
    core_harness: CoreHarness,
) -> None:
    await core_harness.register()
    before = await core_harness.login()
    folder = core_harness.settings.signing_key_dir
    previous = load_keyring(pem=None, folder=folder, environment=Environment.TEST).current
    rotated_at = datetime.now(UTC)
    rotate_key(folder, now=rotated_at)
    clock = FrozenClock(rotated_at)
    rotated = create_app(core_harness.settings, clock=clock, mailer=MemoryMailer())
    lifetime = core_harness.settings.access_token_seconds

    def signed_by_previous_key(jti: str) -> dict[str, str]:
        # What a core not restarted after the rotation could still sign, living an hour.
        claims = jwt.decode(before["access_token"], options={"verify_signature": False})
        claims.update(jti=jti, exp=int(clock.now().timestamp()) + 3600)
        token = jwt.encode(
            claims,
            previous.private_key,
            algorithm="EdDSA",
            headers={"kid": previous.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return {"Authorization": f"Bearer {token}"}

    def access_token_keys(document: dict[str, Any]) -> dict[str, Any]:
        # The JWKS also holds the ID-token key (RSA), which this rotation leaves alone.
        return {"keys": [k for k in document["keys"] if k["kty"] != "RSA"]}

    async with AsyncTestClient(app=rotated) as client:
        jwks = access_token_keys((await client.get("/.well-known/jwks.json")).json())
        old_token = await client.get("/auth/me", headers=core_harness.bearer(before))
        late_token = await client.get("/auth/me", headers=signed_by_previous_key("late-1"))
        login = await client.post(
            "/auth/login", json={"email": "ana@example.test", "password": TEST_PASSWORD}
        )
        clock.advance(lifetime + PREVIOUS_KEY_LEEWAY_SECONDS)
        jwks_after = access_token_keys((await client.get("/.well-known/jwks.json")).json())
        late_after = await client.get("/auth/me", headers=signed_by_previous_key("late-2"))
        login_after = await client.post(
            "/auth/login", json={"email": "ana@example.test", "password": TEST_PASSWORD}
        )
        new_token = await client.get("/auth/me", headers=core_harness.bearer(login_after.json()))

    assert len(jwks["keys"]) == 2
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
    assert old_token.status_code == 200
    assert late_token.status_code == 200
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    new_kid = jwt.get_unverified_header(login.json()["access_token"])["kid"]
    assert new_kid == jwks["keys"][0]["kid"]
    assert old_kid == jwks["keys"][1]["kid"] == previous.kid
    # Past the deadline core neither publishes nor trusts the previous key itself.
    assert kids(jwks_after) == [new_kid]
    assert late_after.status_code == 401
    assert late_after.json()["detail"] == "invalid access token: token signed with an unknown key"
    assert new_token.status_code == 200


def test_settings_refuse_weak_or_unsafe_values(core_settings: CoreSettings) -> None:
    with pytest.raises(ConfigurationError, match="between 60 and 900"):
        replace(core_settings, access_token_seconds=3600).check()
    with pytest.raises(ConfigurationError, match="CORE_ARGON2_MEMORY_KIB must be between 19456"):
        replace(core_settings, argon2_memory_kib=4096).check()
    with pytest.raises(ConfigurationError, match="CORE_SMTP_HOST"):
        replace(core_settings, environment=Environment.PRODUCTION).check()
