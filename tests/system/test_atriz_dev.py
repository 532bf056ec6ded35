"""`atriz dev`: one command prepares every database and serves every service."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atriz_database.services import load_services

pytestmark = pytest.mark.slow
RunningSystem = Any  # the `system` fixture's value (conftest.RunningSystem)


def test_every_service_answers_on_its_port_ready_with_its_databases(
    system: RunningSystem,
) -> None:
    services = load_services()

    ready = {name: httpx.get(f"{url}/ready", timeout=10) for name, url in system.urls.items()}
    docs = {name: httpx.get(f"{url}/schema", timeout=10) for name, url in system.urls.items()}

    assert set(system.urls) == set(services)
    for name, url in system.urls.items():
        assert ready[name].status_code == 200, (name, ready[name].text)
        assert ready[name].json()["status"] == "healthy", (name, ready[name].json())
        assert docs[name].status_code == 200, name
        assert f"{name}: {url}  (docs: {url}/schema)" in system.started
    assert "admin login: admin@atriz.localhost / system test admin passphrase" in system.started
    assert "seeded logins (password atriz-dev-password):" in system.started


def test_seeded_users_sign_in_and_are_known_with_their_roles(system: RunningSystem) -> None:
    tokens = system.login("dispatcher@atriz.localhost", "atriz-dev-password")

    me = httpx.get(
        f"{system.urls['core']}/auth/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )

    assert me.status_code == 200, me.text
    assert me.json()["email"] == "dispatcher@atriz.localhost"
    assert "mextrack.dispatcher" in me.json()["roles"]
