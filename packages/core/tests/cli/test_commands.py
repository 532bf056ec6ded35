"""The `atriz` commands core adds or relies on, run as a user runs them."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from atriz_database.testing import BIN, run_script


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until_healthy(port: int, process: subprocess.Popen[str]) -> None:
    for _ in range(150):
        if process.poll() is not None:
            raise AssertionError(f"exited early: {process.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the service never answered /health")


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """Output up to the line containing `text` (the process must print it, or exit)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"never printed {text!r}: {''.join(seen)}")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return out


def admin_count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
            " WHERE r.name = 'admin'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
def test_atriz_dev_prepares_everything_and_serves_core(cli_env: dict[str, str]) -> None:
    port = free_port()
    env = {**cli_env, "CORE_PORT": str(port), "ATRIZ_ADMIN_PASSWORD": "dev admin passphrase"}
    process = subprocess.Popen(
        [str(BIN / "atriz"), "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_until_healthy(port, process)
        login = httpx.post(
            f"http://127.0.0.1:{port}/auth/login",
            json={"email": "admin@atriz.localhost", "password": "dev admin passphrase"},
        )
        ready = httpx.get(f"http://127.0.0.1:{port}/ready")
    finally:
        output = stop(process)

    assert login.status_code == 200, login.text
    assert ready.json()["status"] == "healthy"
    assert f"core: http://127.0.0.1:{port}" in output
    assert "admin login: admin@atriz.localhost / dev admin passphrase" in output
    assert admin_count(cli_env["SHARED_DATABASE_URL"]) == 1


@pytest.mark.slow
def test_atriz_serve_core_runs_granian_with_workers(cli_env: dict[str, str]) -> None:
    assert run_script("atriz", "dev", "--no-serve", env=cli_env).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "atriz"), "serve", "core", "--port", str(port), "--workers", "2"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        # A stop signal while a worker is still starting left granian hanging: wait for both.
        started = read_until(process, "Started worker-2")
        if "Started worker-1" not in started:
            started += read_until(process, "Started worker-1")
        wait_until_healthy(port, process)
        jwks = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json").json()
    finally:
        stop(process)

    assert len(jwks["keys"]) == 1, "both workers sign with the one generated key"


def test_create_admin_reads_the_password_from_stdin(cli_env: dict[str, str]) -> None:
    assert run_script("atriz", "dev", "--no-serve", env=cli_env).returncode == 0
    url = cli_env["SHARED_DATABASE_URL"]

    created = run_script(
        "atriz",
        "users",
        "create-admin",
        "ops@example.test",
        env=cli_env,
        stdin="an admin passphrase\n",
    )
    again = run_script(
        "atriz", "users", "create-admin", "ops@example.test", env=cli_env, stdin="ignored\n"
    )
    weak = run_script(
        "atriz", "users", "create-admin", "weak@example.test", env=cli_env, stdin="password\n"
    )

    assert created.returncode == 0, created.stderr
    assert "created administrator ops@example.test" in created.stdout
    assert "already an administrator" in again.stdout
    assert weak.returncode == 1
    assert "password is one of the most common passwords" in weak.stderr
    assert admin_count(url) == 2  # the development admin and ops


def test_keys_rotate_adds_a_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "CORE_SIGNING_KEY_DIR": str(tmp_path / "keys")}

    first = run_script("atriz", "keys", "rotate", env=env)
    second = run_script("atriz", "keys", "rotate", env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 2


def test_serving_an_unknown_service_is_one_clear_line(cli_env: dict[str, str]) -> None:
    result = run_script("atriz", "serve", "nope", env=cli_env)
    assert result.returncode == 1
    assert result.stderr.strip() == "atriz serve: error: unknown service 'nope' (known: core)"
