"""Sign in once: one login at core, and every app, each in a process of its own, knows the user;
a revocation at core reaches every app within seconds, long before the token expires."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

pytestmark = pytest.mark.slow
RunningSystem = Any  # the `system` fixture's value (conftest.RunningSystem)
ADMIN = ("admin@atriz.localhost", "system test admin passphrase")
REVOCATION_LIMIT = 5.0
PASSWORD = "a long enough passphrase for tests"
APPS = ("website", "mextrack", "pshop")
# One authenticated read per app that any signed-in user may make.
READS = {"website": "/profiles/me", "mextrack": "/vehicles", "pshop": "/products"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_and_login(system: RunningSystem, email: str) -> dict[str, str]:
    registered = httpx.post(
        f"{system.urls['core']}/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Rita Roaming"},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    return system.login(email, PASSWORD)  # type: ignore[no-any-return]


def me(system: RunningSystem, token: str) -> dict[str, Any]:
    answer = httpx.get(f"{system.urls['core']}/auth/me", headers=bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def statuses(system: RunningSystem, token: str) -> dict[str, int]:
    """Each app's answer to its read with `token`."""
    return {
        app: httpx.get(system.urls[app] + READS[app], headers=bearer(token), timeout=10).status_code
        for app in APPS
    }


def refused_everywhere_within(system: RunningSystem, token: str, limit: float) -> float:
    """Seconds until every app answers 401 to `token` (fails after `limit`)."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit:
        if set(statuses(system, token).values()) == {401}:
            return elapsed
        time.sleep(0.1)
    raise AssertionError(f"still accepted after {limit:g} s: {statuses(system, token)}")


def admin_post(system: RunningSystem, path: str, **body: Any) -> httpx.Response:
    admin = system.login(*ADMIN)
    return httpx.post(
        f"{system.urls['core']}{path}",
        json=body or None,
        headers=bearer(admin["access_token"]),
        timeout=10,
    )


# And with every service through PgBouncer, `atriz dev` preparing the databases straight.
@pytest.mark.pgbouncer
def test_one_login_works_in_every_app_and_logout_all_ends_it_everywhere(
    system: RunningSystem,
) -> None:
    tokens = register_and_login(system, "rita@example.test")
    first = tokens["access_token"]
    user_id = me(system, first)["id"]

    profile = httpx.put(
        f"{system.urls['website']}/profiles/me",
        json={"display_name": "Rita on the road", "time_zone": "Europe/Madrid"},
        headers=bearer(first),
        timeout=10,
    )
    vehicle = httpx.post(
        f"{system.urls['mextrack']}/vehicles",
        json={"name": "Rita's van", "plate": f"R-{uuid.uuid4().hex[:6].upper()}"},
        headers=bearer(first),
        timeout=10,
    )
    assert vehicle.status_code == 201, vehicle.text
    now = datetime.now(UTC)
    points = [
        {
            "recorded_at": (now - timedelta(minutes=10 - i)).isoformat(),
            "latitude": 40.4168 + i * 0.001,
            "longitude": -3.7038,
            "speed_kmh": 40.0,
            "heading": 0.0,
        }
        for i in range(5)
    ]
    positions = httpx.post(
        f"{system.urls['mextrack']}/vehicles/{vehicle.json()['id']}/positions",
        json=points,
        headers=bearer(first),
        timeout=10,
    )
    not_yet_a_cashier = httpx.get(f"{system.urls['pshop']}/stock", headers=bearer(first))

    granted = admin_post(system, f"/admin/users/{user_id}/roles", role="pshop.cashier")
    assert granted.status_code in (200, 201, 204), granted.text
    # New roles are in new tokens: the old one is refused (its roles are stale), a refreshed
    # one carries the role and works everywhere. A token minted in the very second of the
    # change is refused too (`iat` has whole seconds): a client refreshes again, as here.
    second, refresh_token = "", tokens["refresh_token"]
    for _ in range(3):
        refreshed = httpx.post(
            f"{system.urls['core']}/auth/refresh",
            json={"refresh_token": refresh_token},
            timeout=10,
        )
        assert refreshed.status_code == 200, refreshed.text
        second, refresh_token = refreshed.json()["access_token"], refreshed.json()["refresh_token"]
        stock = httpx.get(f"{system.urls['pshop']}/stock", headers=bearer(second), timeout=10)
        if stock.status_code != 401:
            break
        time.sleep(1.0)
    assert stock.status_code == 200, stock.text
    product = next(level for level in stock.json()["items"] if level["on_hand"] > 0)
    sale = httpx.post(
        f"{system.urls['pshop']}/sales",
        json={"lines": [{"product_id": product["product_id"], "quantity": 1}]},
        headers={**bearer(second), "Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )
    with_new_token = statuses(system, second)
    refused_old = refused_everywhere_within(system, first, REVOCATION_LIMIT)

    logged_out = httpx.post(
        f"{system.urls['core']}/auth/logout-all", headers=bearer(second), timeout=10
    )
    assert logged_out.status_code == 204, logged_out.text
    took = refused_everywhere_within(system, second, REVOCATION_LIMIT)

    assert profile.status_code == 200, profile.text
    assert profile.json()["display_name"] == "Rita on the road"
    assert positions.status_code in (200, 201), positions.text
    assert not_yet_a_cashier.status_code == 403
    assert sale.status_code == 201, sale.text
    assert with_new_token == {"website": 200, "mextrack": 200, "pshop": 200}
    assert refused_old < REVOCATION_LIMIT
    assert took < REVOCATION_LIMIT, "logout-all reaches every app within seconds"


@pytest.mark.parametrize("revocation", ["deactivation", "password change"])
def test_a_revocation_at_core_is_refused_by_every_app_within_seconds(
    system: RunningSystem, revocation: str
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.test"
    token = register_and_login(system, email)["access_token"]
    assert statuses(system, token) == {"website": 200, "mextrack": 200, "pshop": 200}

    if revocation == "deactivation":
        user_id = me(system, token)["id"]
        done = admin_post(system, f"/admin/users/{user_id}/deactivate")
    else:
        done = httpx.post(
            f"{system.urls['core']}/auth/password",
            json={"current_password": PASSWORD, "new_password": PASSWORD + " changed"},
            headers=bearer(token),
            timeout=10,
        )
    assert done.status_code in (200, 204), done.text

    assert refused_everywhere_within(system, token, REVOCATION_LIMIT) < REVOCATION_LIMIT


def core_signer(system: RunningSystem, like: str) -> Callable[[dict[str, Any]], str]:
    """Signs claims with core's own key (the only one `atriz dev` generated), with the header
    of the token `like`, as core signs its access tokens."""
    [key_file] = (Path(system.env["ATRIZ_HOME"]) / ".atriz" / "keys").glob("*.pem")
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    header = jwt.get_unverified_header(like)

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, key, algorithm="EdDSA", headers=header)  # type: ignore[arg-type]

    return sign


def test_a_token_whose_audience_lacks_an_app_is_refused_by_that_app(
    system: RunningSystem,
) -> None:
    token = register_and_login(system, "aud@example.test")["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    sign = core_signer(system, like=token)

    answers = {
        app: statuses(system, sign({**claims, "aud": [other for other in APPS if other != app]}))
        for app in APPS
    }

    for app in APPS:
        others = [other for other in APPS if other != app]
        assert answers[app][app] == 401, (app, answers[app])
        assert all(answers[app][other] == 200 for other in others), (app, answers[app])
