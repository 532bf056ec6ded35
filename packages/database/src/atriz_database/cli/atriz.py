"""`atriz`: the developer's entry point (`uv run atriz dev`) and the embedded server's controls."""

from __future__ import annotations

import argparse

from atriz_database.cli.common import run_command
from atriz_database.cli.db import requirement_checker
from atriz_database.connections import create_database
from atriz_database.embedded import embedded_is_running, pgdata_path, stop_embedded
from atriz_database.migrations import migrate
from atriz_database.seeds import refuse_in_production, seed
from atriz_database.targets import ALL, TargetRegistry
from atriz_database.urls import database_url, describe_url, server_is_configured

__all__ = ["main"]


def _dev() -> int:
    refuse_in_production("atriz dev")
    registry = TargetRegistry.from_entry_points()
    for target in registry.select(ALL):
        url = database_url(target)
        created = create_database(url)
        print(f"{target.name}: {'created' if created else 'using'} {describe_url(url)}")
        migrate(target, url, requirement_met=requirement_checker(registry))
        seed(target, url)
    print("Databases are created, migrated and seeded.")
    print("The HTTP services are not built yet: `atriz dev` will start them once they are.")
    return 0


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
    parser = argparse.ArgumentParser(prog="atriz", description="Run Atriz for development.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="create, migrate and seed every database")
    postgres = commands.add_parser("postgres", help="the embedded PostgreSQL server")
    postgres.add_argument("action", choices=["status", "stop"])
    args = parser.parse_args(argv)
    if args.command == "dev":
        run_command("atriz dev", _dev)
    else:
        run_command("atriz postgres", lambda: _postgres(args.action))
