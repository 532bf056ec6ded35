"""`db-backup` and `db-restore`: what an operator runs on the day something goes wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atriz_database.backup import (
    default_backup_folder,
    dump_database,
    human_size,
    terminal_progress,
)
from atriz_database.cli.common import run_command, selected_targets
from atriz_database.errors import BackupError, DatabaseToolError
from atriz_database.restore import restore_database
from atriz_database.targets import TargetRegistry
from atriz_database.urls import describe_url, direct_url

__all__ = ["backup_main", "restore_main"]


def backup_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-backup: a pg_dump archive of each database, with its SHA-256 beside it."""
    parser = argparse.ArgumentParser(
        prog="db-backup",
        description="Dump a target's database (or every one, dependencies first) with pg_dump's"
        " custom format; write <file>.sha256 beside each dump.",
    )
    parser.add_argument(
        "target", nargs="?", default="all", help="a registered target, or 'all' (default)"
    )
    parser.add_argument(
        "--out", type=Path, help="folder for the dumps (default: .atriz/backups in the project)"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        folder = args.out or default_backup_folder()
        targets = selected_targets(args.target, registry)
        failed = 0
        for target in targets:
            url = direct_url(target)
            progress = terminal_progress(target.name)
            try:
                backup = dump_database(target, url, folder, progress=progress)
            except DatabaseToolError as exc:
                if len(targets) == 1:
                    raise
                # One database out of reach must not cost the others their backup.
                print(f"db-backup: error: {exc}", file=sys.stderr)
                failed += 1
                continue
            finally:
                if progress is not None:
                    print("\r\033[K", end="", file=sys.stderr)
            print(
                f"{target.name}: dumped {describe_url(url)} to {backup.path}"
                f" ({human_size(backup.size)}, {backup.seconds:.1f} s; pg_dump {backup.pg_dump})"
            )
            print(f"{target.name}: checksum in {backup.checksum_file}")
        return 1 if failed else 0

    run_command("db-backup", body)


def restore_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-restore: restore a dump into a target's database, verified, all or nothing."""
    parser = argparse.ArgumentParser(
        prog="db-restore",
        description="Restore a db-backup dump into a target's database. The checksum is checked"
        " first; the dump goes into a new database that takes the target's name only when"
        " complete; the previous database is kept as <db>_replaced_<stamp>.",
    )
    parser.add_argument("target", help="the registered target whose database it replaces (core)")
    parser.add_argument("file", type=Path, help="the .dump file (its .sha256 must be beside it)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a database that holds data (always needed when ATRIZ_ENV=production)",
    )
    parser.add_argument(
        "--drop-replaced",
        action="store_true",
        help="drop the previous database after the swap instead of keeping it",
    )
    parser.add_argument(
        "--no-owner",
        action="store_true",
        help="objects owned by the restoring role (the dump's owner role does not exist here)",
    )
    parser.add_argument(
        "--no-acl", action="store_true", help="skip the dump's grants (its roles do not exist)"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        targets = selected_targets(args.target, registry)
        if len(targets) != 1:
            raise BackupError("db-restore restores one target at a time, not all")
        target = targets[0]
        url = direct_url(target)
        restored = restore_database(
            target,
            url,
            args.file,
            force=args.force,
            drop_previous=args.drop_replaced,
            no_owner=args.no_owner,
            no_acl=args.no_acl,
        )
        where = f"{target.name} ({describe_url(url)})"
        print(
            f"{where}: restored {args.file.name} in {restored.seconds:.1f} s;"
            f" {len(restored.migrations)} migration(s) recorded in the dump"
        )
        if restored.replaced:
            print(
                f"{where}: the previous database is kept as {restored.replaced}"
                f" (DROP DATABASE {restored.replaced} when it is no longer needed)"
            )
        elif restored.dropped_previous:
            print(f"{where}: the previous database was dropped")
        print(
            f"next: uv run db-status {target.name}; uv run db-migrate {target.name};"
            f" uv run db-check-refs all"
        )
        return 0

    run_command("db-restore", body)
