"""`atriz`: the developer's entry point (`uv run atriz dev`), `atriz serve NAME`, and the embedded
server's controls. Packages add subcommands through the `atriz.commands` entry points, and steps
that `atriz dev` runs once the databases are ready through `atriz.dev`."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import time
from importlib.metadata import entry_points

from atriz_database.cli.common import run_command
from atriz_database.cli.db import requirement_checker
from atriz_database.connections import create_database
from atriz_database.embedded import embedded_is_running, pgdata_path, stop_embedded
from atriz_database.errors import RefusedError
from atriz_database.migrations import migrate
from atriz_database.seeds import refuse_in_production, seed
from atriz_database.services import (
    default_host,
    default_workers,
    get_service,
    load_services,
    port_in_use,
    server_command,
    server_environment,
    start,
    stop,
)
from atriz_database.targets import ALL, TargetRegistry
from atriz_database.urls import describe_url, direct_url, server_is_configured

__all__ = ["main"]


def _prepare_databases() -> None:
    registry = TargetRegistry.from_entry_points()
    for target in registry.select(ALL):
        url = direct_url(target)
        created = create_database(url)
        print(f"{target.name}: {'created' if created else 'using'} {describe_url(url)}")
        migrate(target, url, requirement_met=requirement_checker(registry))
        seed(target, url)
    for hook in entry_points(group="atriz.dev"):
        hook.load()()


def _taken_ports(host: str) -> list[str]:
    return [
        f"port {spec.port} ({spec.name}, {spec.port_env})"
        for spec in load_services().values()
        if port_in_use(host, spec.port)
    ]


def _dev(serve: bool) -> int:
    refuse_in_production("atriz dev")
    host = default_host()
    # Before anything starts, so that a taken port leaves nothing running and nothing half-done.
    if serve and (taken := _taken_ports(host)):
        raise RefusedError(f"{', '.join(taken)} on {host} already in use; set another port")
    # Ctrl-C interrupts the preparation even when SIGINT was inherited ignored (see below).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _prepare_databases()
    print("Databases are created, migrated and seeded.")
    if not serve:
        return 0
    services = load_services()
    if "core" in services:
        # The apps fetch core's signing keys from it: wherever CORE_PORT put it, unless told.
        reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        if ":" in reachable:
            reachable = f"[{reachable}]"  # an IPv6 address in a URL
        os.environ.setdefault("ATRIZ_CORE_URL", f"http://{reachable}:{services['core'].port}")
        # Browsers go to core's sign-in where it really is, and tokens name it as their issuer,
        # in every service alike. Cookies are per host, not per port: core's (`atriz_session`,
        # `atriz_csrf`) and each app's (`atriz_<app>_...`) are named apart.
        os.environ.setdefault("CORE_PUBLIC_URL", f"http://{reachable}:{services['core'].port}")
    return _serve_all(host)


# SIGHUP too: a closed terminal must not leave the services running, holding their ports.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _serve_all(host: str) -> int:
    """Serve every service until Ctrl-C, SIGTERM or SIGHUP (0), or until one of them exits (1).

    The signal handlers only note the request; the loop below acts on it. So a signal that
    arrives while the services are being started stops the ones already started and starts no
    more, and none can land half-way through starting a child and leave that child untracked.
    """
    requested: list[int] = []

    def request_stop(signum: int, frame: object) -> None:
        requested.append(signum)

    # Installed for SIGINT too, although Python has a handler of its own: a process started in
    # the background of a non-interactive shell (a test runner, a script's `&`) inherits SIGINT
    # ignored, and Python then leaves it ignored: `kill -INT` did nothing at all, which is how
    # `atriz dev` outlived its test's stop signal by 30 s.
    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in _STOP_SIGNALS
        if not (signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN)  # nohup
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for spec in load_services().values():
            if requested:
                break
            children[spec.name] = start(
                spec, host=host, port=spec.port, workers=1, prefix_output=True
            )
            print(
                f"{spec.name}: http://{host}:{spec.port}  (docs: http://{host}:{spec.port}/schema)"
            )
        if not requested:
            print("Press Ctrl-C to stop.", flush=True)
        while not requested:
            exited = [name for name, child in children.items() if child.poll() is not None]
            if exited:
                print(f"{', '.join(exited)} stopped; stopping the others", flush=True)
                return 1
            time.sleep(0.1)
        print("Stopping...", flush=True)
        return 0
    finally:
        stop(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _build_app(factory: str) -> None:
    """Call the app factory `module:function` (what granian calls in each worker)."""
    module, _, function = factory.partition(":")
    getattr(importlib.import_module(module), function)()


def _serve(name: str, host: str | None, port: int | None, workers: int | None) -> int:
    spec = get_service(name)
    workers = workers or default_workers()
    host, port = host or default_host(), port or spec.port
    # granian binds with SO_REUSEPORT: beside a running server it would start without a word,
    # and the two would share the port's requests.
    if port_in_use(host, port):
        raise RefusedError(
            f"port {port} ({spec.name}) on {host} already in use; set another (--port or"
            f" {spec.port_env})"
        )
    # Built once here, as each worker will build it, so that a missing or wrong setting stops
    # the command with one line naming it, not every worker with a traceback.
    _build_app(spec.app_factory)
    command = server_command(spec, host=host, port=port, workers=workers)
    # The service replaces this process, as in production.
    os.execve(command[0], command, server_environment(workers))  # noqa: S606


# `atriz postgres status`'s exit status when the server is stopped, as `pg_ctl status`'s.
NOT_RUNNING = 3


def _postgres(action: str) -> int:
    if server_is_configured():
        print("PGHOST is set: the embedded PostgreSQL is not in use")
        return 0
    if action == "stop":
        stopped = stop_embedded()
        print(
            f"embedded PostgreSQL {'stopped' if stopped else 'was not running'} ({pgdata_path()})"
        )
        return 0
    running = embedded_is_running()
    print(f"embedded PostgreSQL is {'running' if running else 'stopped'} ({pgdata_path()})")
    return 0 if running else NOT_RUNNING


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="atriz", description="Run Atriz.")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="prepare every database, then serve every service")
    dev.add_argument("--no-serve", action="store_true", help="prepare the databases and exit")
    serve = commands.add_parser("serve", help="serve one service as in production (granian)")
    serve.add_argument("name", help="the service, e.g. core")
    serve.add_argument("--host", help="address to bind (ATRIZ_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: the service's own, e.g. 8000)")
    serve.add_argument("--workers", type=int, help="processes (ATRIZ_WORKERS, default: cores)")
    postgres = commands.add_parser("postgres", help="the embedded PostgreSQL server")
    postgres.add_argument("action", choices=["status", "stop"])
    for plugin in entry_points(group="atriz.commands"):
        plugin.load()(commands)
    args = parser.parse_args(argv)

    if args.command == "dev":
        run_command("atriz dev", lambda: _dev(serve=not args.no_serve))
    elif args.command == "serve":
        run_command("atriz serve", lambda: _serve(args.name, args.host, args.port, args.workers))
    elif args.command == "postgres":
        run_command("atriz postgres", lambda: _postgres(args.action))
    else:
        run_command(f"atriz {args.command}", lambda: int(args.handler(args)))
