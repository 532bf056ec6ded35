"""The `atriz` commands core adds or relies on, run as a user runs them."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from atriz_database.connections import database_exists
from atriz_database.services import load_services
from atriz_database.testing import BIN, free_port, run_script
from atriz_database.testing_processes import read_until, start_atriz_dev, stop, wait_until_healthy


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
    process = start_atriz_dev(env)
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
    assert "seeded logins (password atriz-dev-password):" in output
    assert "dispatcher@atriz.localhost  (mextrack.dispatcher)" in output
    assert "core     | " in output, "each service's lines carry its name"
    assert admin_count(cli_env["SHARED_DATABASE_URL"]) == 1


def test_atriz_dev_refuses_a_taken_port_before_starting_anything(
    cli_env: dict[str, str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**cli_env, "CORE_PORT": str(port)}
        process = start_atriz_dev(env)
        try:
            process.wait(timeout=60)
        finally:
            output = stop(process)  # and fails if it had started anything

    assert process.returncode == 1
    assert f"port {port} (core, CORE_PORT) on 127.0.0.1 already in use" in output
    assert "Traceback" not in output
    assert not database_exists(cli_env["SHARED_DATABASE_URL"]), "nothing was prepared either"


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize(
    "moment",
    [
        pytest.param("Press Ctrl-C to stop.", id="granian-starting"),
        pytest.param("Spawning worker-1", id="worker-starting"),
    ],
)
@pytest.mark.parametrize(
    ("signum", "group"),
    [
        pytest.param(signal.SIGINT, True, id="ctrl-c"),
        pytest.param(signal.SIGINT, False, id="sigint"),
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        pytest.param(signal.SIGHUP, False, id="sighup"),
    ],
)
def test_atriz_dev_stops_everything_while_services_start(
    moment: str, signum: int, group: bool, cli_env: dict[str, str]
) -> None:
    """A stop right after the start, while granian's main process or its worker is starting.

    Such a stop was lost: by a worker that had not begun to serve (its main process then waited
    for it forever), and by `atriz dev` itself when it inherited SIGINT ignored."""
    if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
        pytest.skip("run under nohup: atriz dev inherits SIGHUP ignored, and rightly keeps it so")
    env = {**cli_env, "CORE_PORT": str(free_port())}
    process = start_atriz_dev(env)
    try:
        before = read_until(process, moment)
    finally:
        output = stop(process, signum, group=group)  # fails unless all is gone within 10 s

    assert process.returncode == 0, before + output
    assert "Stopping" in output


def test_atriz_serve_refuses_a_taken_port(cli_env: dict[str, str]) -> None:
    """granian binds with SO_REUSEPORT: a second server would share the port's requests."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as granian binds
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        served = run_script("atriz", "serve", "core", "--port", str(port), env=cli_env)

    assert served.returncode == 1
    assert served.stderr.strip().splitlines() == [
        f"atriz serve: error: port {port} (core) on 127.0.0.1 already in use; set another"
        " (--port or CORE_PORT)"
    ]


def test_atriz_serve_stops_on_a_missing_setting_in_one_line(cli_env: dict[str, str]) -> None:
    """Not every worker with a traceback: the app is built once before granian starts."""
    environment = {k: v for k, v in cli_env.items() if k not in ("SHARED_DATABASE_URL", "PGHOST")}
    served = run_script(
        "atriz",
        "serve",
        "core",
        "--port",
        str(free_port()),
        env={**environment, "ATRIZ_ENV": "production"},
    )

    assert served.returncode == 1
    (line,) = served.stderr.strip().splitlines()
    assert line.startswith("atriz serve: error: ATRIZ_ENV=production needs a configured database")


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
        start_new_session=True,
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

    kinds = sorted(key["kty"] for key in jwks["keys"])
    assert kinds == ["OKP", "RSA"], "both workers sign with the one generated key of each kind"


@pytest.mark.slow
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
    no_address = run_script(
        "atriz", "users", "create-admin", "not-an-email", env=cli_env, stdin="a passphrase\n"
    )

    assert created.returncode == 0, created.stderr
    assert "created administrator ops@example.test" in created.stdout
    assert "already an administrator" in again.stdout
    for refused, reason in (
        (weak, "password is one of the most common passwords; choose another"),
        (no_address, "'not-an-email' is not an e-mail address"),  # /auth/login would refuse it
    ):
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [f"atriz users: error: {reason}"], (
            refused.stderr
        )
    assert admin_count(url) == 2  # the development admin and ops
    ended = run_script("atriz", "users", "end-sessions", env=cli_env)
    assert ended.returncode == 0, ended.stderr
    assert "ended 0 session(s) of 0 user(s)" in ended.stdout


def test_keys_rotate_adds_a_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "CORE_SIGNING_KEY_DIR": str(tmp_path / "keys")}

    first = run_script("atriz", "keys", "rotate", env=env)
    second = run_script("atriz", "keys", "rotate", "--activate-in", "900", env=env)
    backwards = run_script("atriz", "keys", "rotate", "--activate-in", "-1", env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "restart every core process before" in second.stdout
    assert backwards.returncode == 1
    assert "0 or more" in backwards.stderr
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 2
    # The first one also bootstrapped the ID-token key, which the second left alone.
    assert len(list((tmp_path / "keys" / "id-tokens").glob("*.pem"))) == 1


@pytest.mark.slow
def test_clients_commands_register_show_rotate_and_remove(cli_env: dict[str, str]) -> None:
    prepared = run_script("atriz", "dev", "--no-serve", env=cli_env)
    apps = [spec for spec in load_services().values() if spec.name != "core"]

    added = run_script(
        "atriz",
        "clients",
        "add",
        "notes",
        "--name",
        "Notes",
        "--redirect-uri",
        "https://notes.example.test/auth/callback",
        "--first-party",
        env=cli_env,
    )
    listed = run_script("atriz", "clients", "list", env=cli_env)
    shown = run_script("atriz", "clients", "show", "notes", env=cli_env)
    rotated = run_script("atriz", "clients", "rotate-secret", "notes", env=cli_env)
    removed = run_script("atriz", "clients", "remove", "notes", env=cli_env)
    missing = run_script("atriz", "clients", "show", "notes", env=cli_env)
    unsafe = run_script(
        "atriz", "clients", "add", "bad", "--redirect-uri", "http://evil.test/cb", env=cli_env
    )
    chosen_secret = "s" * 43
    chosen = run_script(
        "atriz",
        "clients",
        "add",
        "chosen",
        "--redirect-uri",
        "https://chosen.example.test/auth/callback",
        "--secret-stdin",
        env=cli_env,
        stdin=chosen_secret + "\n",
    )

    assert prepared.returncode == 0, prepared.stderr
    for spec in apps:  # each app served by `atriz dev` is a client on the port it serves on
        assert (
            f"{spec.name}: secret atriz-dev-client-secret-{spec.name}, callback"
            f" http://127.0.0.1:{cli_env[spec.port_env]}/auth/callback"
        ) in prepared.stdout
    assert added.returncode == 0, added.stderr
    assert "registered notes: Notes (confidential, first-party" in added.stdout
    secret = added.stdout.split("core keeps only its hash): ")[1].strip()
    assert len(secret) >= 43
    assert "notes: Notes" in listed.stdout
    assert "redirect URI: https://notes.example.test/auth/callback" in shown.stdout
    assert secret not in shown.stdout
    assert rotated.returncode == 0
    assert secret not in rotated.stdout
    assert removed.returncode == 0
    assert missing.returncode == 1
    assert "no client notes" in missing.stderr
    assert unsafe.returncode == 1
    assert "plain http only on a loopback address" in unsafe.stderr
    assert "Traceback" not in unsafe.stderr + missing.stderr
    assert chosen.returncode == 0, chosen.stderr
    assert "registered chosen" in chosen.stdout
    assert chosen_secret not in chosen.stdout  # the operator has it already


def test_keys_rotate_id_token_adds_an_rsa_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "CORE_SIGNING_KEY_DIR": str(tmp_path / "keys")}

    rotated = run_script("atriz", "keys", "rotate", "--id-token", env=env)

    again = run_script("atriz", "keys", "rotate", "--id-token", env=env)

    assert rotated.returncode == 0, rotated.stderr
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "keys" / "id-tokens").glob("*.pem"))) == 2
    assert not list((tmp_path / "keys").glob("*.pem"))


def test_serving_an_unknown_service_is_one_clear_line(cli_env: dict[str, str]) -> None:
    result = run_script("atriz", "serve", "nope", env=cli_env)
    assert result.returncode == 1
    # The installed apps' services follow core's.
    message = result.stderr.strip()
    assert message.startswith("atriz serve: error: unknown service 'nope' (known: core")
    assert "\n" not in message
