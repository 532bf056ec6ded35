"""`atriz`: the developer's entry point (`uv run atriz dev`), `atriz serve NAME`, and the embedded
server's controls. Packages add subcommands through the `atriz.commands` entry points, and steps
that `atriz dev` runs once the databases are ready through `atriz.dev`."""

from __future__ import annotations

import argparse
import os
import signal
import time
from importlib.metadata import entry_points

from atriz_database.cli.common import run_command
from atriz_database.cli.db import requirement_checker
from atriz_database.connections import create_database
from atriz_database.embedded import embedded_is_running, pgdata_path, stop_embedded
from atriz_database.migrations import migrate
from atriz_database.seeds import refuse_in_production, seed
from atriz_database.services import (
    default_host,
    default_workers,
    get_service,
    load_services,
    server_command,
    server_environment,
    start,
)
from atriz_database.targets import ALL, TargetRegistry
from atriz_database.urls import database_url, describe_url, server_is_configured

__all__ = ["main"]


def _prepare_databases() -> None:
    registry = TargetRegistry.from_entry_points()
    for target in registry.select(ALL):
        url = database_url(target)
        created = create_database(url)
        print(f"{target.name}: {'created' if created else 'using'} {describe_url(url)}")
        migrate(target, url, requirement_met=requirement_checker(registry))
        seed(target, url)
    for hook in entry_points(group="atriz.dev"):
        hook.load()()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _dev(serve: bool) -> int:
    refuse_in_production("atriz dev")
    _prepare_databases()
    print("Databases are created, migrated and seeded.")
    if not serve:
        return 0
    host = default_host()
    children = []
    for spec in load_services().values():
        children.append(start(spec, host=host, port=spec.port, workers=1))
        print(f"{spec.name}: http://{host}:{spec.port}  (docs: http://{host}:{spec.port}/schema)")
    print("Press Ctrl-C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a service stopped; stopping the others")
        return 1
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)


def _serve(name: str, host: str | None, port: int | None, workers: int | None) -> int:
    spec = get_service(name)
    workers = workers or default_workers()
    command = server_command(
        spec, host=host or default_host(), port=port or spec.port, workers=workers
    )
    # The service replaces this process, as in production.
    os.execve(command[0], command, server_environment(workers))  # noqa: S606


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
    return 0


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
