"""The `atriz` commands core adds or relies on, run as a user runs them."""

from __future__ import annotations

import contextlib
import os
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


def processes() -> dict[int, tuple[str, int, int]]:
    """Every process on the machine: pid -> (state, parent pid, process group), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, parent, group = stat.rpartition(")")[2].split()[:3]
        found[int(entry.name)] = (state, int(parent), int(group))
    return found


def process_groups(root: int) -> set[int]:
    """The process groups of `root` and of every process descended from it."""
    table = processes()
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, (_, parent, _) in table.items() if parent in tree}
        grew = not below <= tree
        tree |= below
    return {table[pid][2] for pid in tree if pid in table}


def live_members(groups: set[int]) -> list[int]:
    """The processes of `groups` still running (a zombie has stopped; it only awaits reaping)."""
    return [
        pid for pid, (state, _, group) in processes().items() if group in groups and state != "Z"
    ]


def start_atriz_dev(env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own, as a terminal gives a command, so that the test can find, and if
    # need be kill, everything `atriz dev` started through the process groups.
    return subprocess.Popen(
        [str(BIN / "atriz"), "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


STOP_LIMIT = 10.0
"""Seconds within which `atriz dev` and every process under it must be gone after a stop signal."""


def stop(
    process: subprocess.Popen[str], signum: int = signal.SIGINT, *, group: bool = False
) -> str:
    """Send `signum` (to the process, or to its whole group as a terminal's Ctrl-C does) and
    return its output; fail unless it and every process it started are gone within 10 s.

    Whatever happens, nothing is left running: a leftover would hold the port and fail a later
    test with a ResourceWarning. The process must lead a session of its own (`start_new_session`),
    so that its groups are not the test's."""
    groups = process_groups(process.pid) - {os.getpgrp()}
    name = signal.Signals(signum).name
    started = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    try:
        # The pipe ends only when every process that inherited it, granian's too, has exited.
        out, _ = process.communicate(timeout=STOP_LIMIT)
    except subprocess.TimeoutExpired:
        out = None
    while live_members(groups) and time.monotonic() - started < STOP_LIMIT:
        time.sleep(0.05)
    left = live_members(groups)
    if out is None or left:
        for leftover in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leftover, signal.SIGKILL)
    if out is None:
        out, _ = process.communicate(timeout=STOP_LIMIT)
        raise AssertionError(f"still running {STOP_LIMIT:g} s after {name}: {left}\n{out}")
    assert not left, f"left running after {name}: {left}\n{out}"
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
    assert admin_count(cli_env["SHARED_DATABASE_URL"]) == 1


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
    # Every installed app registers its service too: core is first, whichever others there are.
    line = result.stderr.strip()
    assert line.startswith("atriz serve: error: unknown service 'nope' (known: core")
    assert "\n" not in line
