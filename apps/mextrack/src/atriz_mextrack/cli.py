"""`atriz mextrack retention`: apply `MEXTRACK_RETENTION_DAYS` (or `--days`) to the positions."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from atriz_database.pool import connect
from atriz_database.settings import load_env_file
from atriz_mextrack.positions.partitions import Partition
from atriz_mextrack.positions.retention import apply_retention
from atriz_mextrack.settings import MextrackSettings

__all__ = ["register_commands", "retention"]


async def _apply(url: str, days: int, dry_run: bool) -> list[Partition]:
    connection = await connect(url)
    try:
        return await apply_retention(connection, days=days, now=datetime.now(UTC), dry_run=dry_run)
    finally:
        await connection.close()


def retention(args: argparse.Namespace) -> int:
    """Drop the whole days of positions older than the retention period; say which."""
    load_env_file()
    settings = MextrackSettings.from_env()
    days = args.days if args.days is not None else settings.retention_days
    if days is None:
        print("MEXTRACK_RETENTION_DAYS is not set (and no --days): every position is kept")
        return 0
    dropped = asyncio.run(_apply(settings.database_url, days, args.dry_run))
    verb = "would drop" if args.dry_run else "dropped"
    for partition in dropped:
        print(
            f"{verb} {partition.name} ({partition.starts:%Y-%m-%d %H:%M} to"
            f" {partition.ends:%Y-%m-%d %H:%M} UTC, {partition.bytes / 1e6:.1f} MB)"
        )
    print(
        f"{verb} {len(dropped)} partition(s) of positions older than {days} days;"
        " latest positions untouched"
    )
    return 0


def register_commands(commands: Any) -> None:
    """Add `mextrack retention` to the `atriz` command."""
    mextrack = commands.add_parser("mextrack", help="fleet tracking").add_subparsers(
        dest="mextrack_command", required=True
    )
    command = mextrack.add_parser(
        "retention", help="drop the days of positions older than MEXTRACK_RETENTION_DAYS"
    )
    command.add_argument("--days", type=int, help="the period in days (default: the setting)")
    command.add_argument("--dry-run", action="store_true", help="only say what would go")
    command.set_defaults(handler=retention)
