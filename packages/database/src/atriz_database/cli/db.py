"""The `db-*` console scripts. Each takes a target name or `all`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import msgspec

from atriz_database.clean import truncate_all
from atriz_database.cli.common import confirm, run_command, selected_targets, target_argument
from atriz_database.connections import create_database, database_exists, drop_database
from atriz_database.errors import MigrationError, RefusedError
from atriz_database.health import check_health, format_health
from atriz_database.migrations import (
    Requirement,
    applied_migration_ids,
    migrate,
    new_migration,
    rollback,
    status,
)
from atriz_database.references import check_references, repair_references
from atriz_database.seeds import refuse_in_production, seed
from atriz_database.settings import Environment, current_environment
from atriz_database.targets import ALL, DatabaseTarget, TargetRegistry
from atriz_database.urls import describe_url, direct_url

__all__ = [
    "check_refs_main",
    "clean_main",
    "create_main",
    "migrate_main",
    "new_main",
    "reset_main",
    "rollback_main",
    "seed_main",
    "status_main",
]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    target_argument(parser)
    return parser


def requirement_checker(registry: TargetRegistry) -> Callable[[Requirement], bool]:
    """Whether another target's database has the migration a `-- requires:` line names."""

    def requirement_met(requirement: Requirement) -> bool:
        url = direct_url(registry.get(requirement.target))
        return database_exists(url) and requirement.migration_id in applied_migration_ids(url)

    return requirement_met


def create_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-create: create the target's database if it is missing."""
    args = _parser("db-create", "Create the database of a target (or all) if missing.").parse_args(
        argv
    )

    def body() -> int:
        for target in selected_targets(args.target, registry):
            url = direct_url(target)
            created = create_database(url)
            print(f"{target.name}: {'created' if created else 'exists'} {describe_url(url)}")
        return 0

    run_command("db-create", body)


def migrate_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-migrate: apply pending migrations."""
    parser = _parser("db-migrate", "Apply the pending migrations of a target (or all).")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would run, change nothing"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        known = registry or TargetRegistry.from_entry_points()
        for target in known.select(args.target):
            migrate(
                target,
                direct_url(target),
                requirement_met=requirement_checker(known),
                dry_run=args.dry_run,
            )
        return 0

    run_command("db-migrate", body)


def rollback_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-rollback: roll back the newest applied migrations, after asking: a rollback file may
    drop tables and the rows in them. In production `--force` is needed too."""
    parser = _parser("db-rollback", "Roll back the newest applied migrations of a target.")
    parser.add_argument("--count", type=int, default=1, help="how many to roll back (default 1)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--force", action="store_true", help="allow it when ATRIZ_ENV=production")
    args = parser.parse_args(argv)

    def body() -> int:
        if current_environment() is Environment.PRODUCTION and not args.force:
            raise RefusedError(
                "a rollback may drop tables and their data; in production pass --force"
            )
        # Dependents first: an app's schema goes before the core schema it relies on.
        targets = list(reversed(selected_targets(args.target, registry)))
        names = ", ".join(describe_url(direct_url(t)) for t in targets)
        confirm(
            f"Roll back the newest {args.count} migration(s) of {names}? This may drop tables"
            " and their data.",
            assume_yes=args.yes,
        )
        for target in targets:
            rollback(target, direct_url(target), count=args.count)
        return 0

    run_command("db-rollback", body)


def status_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-status: applied, pending and drifted migrations; exit 1 on drift or a missing database.

    `--fail-on-pending`: exit 1 while a migration is pending too, so that a deployment can wait
    until the databases hold every migration its code ships (deploy/k8s: each service's
    `wait-for-migrations` init container); migrations applied by a newer release (their files
    not in this code) are listed but do not fail it, so a rollback's pods can start.

    `--health`: reachability, size, connections, the longest transaction, cache hits, dead rows
    and the slowest statements of each database instead; exit 1 if one is unreachable.
    """
    parser = argparse.ArgumentParser(
        prog="db-status",
        description="Show applied, pending and drifted migrations; or, with --health, how each"
        " database is doing.",
    )
    parser.add_argument(
        "target", nargs="?", default=ALL, help=f"a registered target, or {ALL!r} (default)"
    )
    parser.add_argument(
        "--fail-on-pending",
        action="store_true",
        help="exit 1 while a migration is pending, too (wait for the migrate job with it)",
    )
    parser.add_argument("--health", action="store_true", help="report database health instead")
    parser.add_argument("--json", action="store_true", help="with --health: one JSON document")
    args = parser.parse_args(argv)
    if args.json and not args.health:
        parser.error("--json goes with --health")
    if args.fail_on_pending and args.health:
        parser.error("--fail-on-pending does not go with --health")

    def health_body() -> int:
        reports = [
            check_health(target, direct_url(target))
            for target in selected_targets(args.target, registry)
        ]
        if args.json:
            print(msgspec.json.encode({"databases": reports}).decode())
        else:
            for report in reports:
                print("\n".join(format_health(report)))
        return 0 if all(r.reachable and r.error is None for r in reports) else 1

    def body() -> int:
        problems = 0
        for target in selected_targets(args.target, registry):
            url = direct_url(target)
            where = f"{target.name} ({describe_url(url)})"
            if not database_exists(url):
                print(f"{where}: database does not exist (run `uv run db-create {target.name}`)")
                problems += 1
                continue
            report = status(target, url)
            print(f"{where}: {len(report.applied)} applied, {len(report.pending)} pending")
            for migration_id in report.pending:
                print(f"  pending  {migration_id}")
            for migration_id in report.drifted:
                print(f"  DRIFT    {migration_id}: file changed after it was applied")
            for migration_id in report.missing:
                print(f"  MISSING  {migration_id}: applied, but its file is gone")
            problems += len(report.drifted)
            if args.fail_on_pending:
                # The deployment gate. A release rolled back, or an old pod started during a
                # rollout, meets the newer release's migrations: expand/contract keeps them
                # working with its code, so only what this code ships and lacks holds it back,
                # and a file of its own gone missing (older than its newest migration).
                here = [m for m in report.applied if m not in report.missing] + report.pending
                newest = max(here, default="")
                problems += len(report.pending) + sum(m < newest for m in report.missing)
            else:
                problems += len(report.missing)
        return 1 if problems else 0

    run_command("db-status", health_body if args.health else body)


SHOWN_MISSING = 20


def check_refs_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-check-refs: ids in columns that point into another database with no live row there."""
    parser = _parser(
        "db-check-refs",
        "Find ids that point into another target's database and have no row there, or a row"
        " that is gone (a deleted user).",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="apply each app's own policy for a vanished user to the ids found, then check again",
    )
    args = parser.parse_args(argv)

    def body() -> int:
        known = registry or TargetRegistry.from_entry_points()
        dangling = 0
        for target in selected_targets(args.target, known):
            url = direct_url(target)
            where = f"{target.name} ({describe_url(url)})"
            if not target.references:
                print(f"{where}: no references declared")
                continue
            found = _report_references(target, url, known, where)
            if found and args.fix:
                repair_references(target, url, found)
                print(f"{where}: applied {target.repair} to {len(found)} ids; checking again")
                found = _report_references(target, url, known, where)
            dangling += len(found)
        return 1 if dangling else 0

    run_command("db-check-refs", body)


def _report_references(
    target: DatabaseTarget, url: str, known: TargetRegistry, where: str
) -> list[Any]:
    """Print each reference's counts and dangling ids; return the distinct dangling ids."""
    found: dict[Any, None] = {}
    for check in check_references(target, url, lambda name: direct_url(known.get(name))):
        ref = check.reference
        print(
            f"{where}: {ref.column} -> {ref.target} {ref.referenced}:"
            f" {check.checked} ids, {len(check.missing)} missing, {len(check.gone)} gone"
        )
        listed = [("missing", value) for value in check.missing]
        listed += [("gone", value) for value in check.gone]
        for kind, value in listed[:SHOWN_MISSING]:
            print(f"  {kind:<8} {value}")
        if len(listed) > SHOWN_MISSING:
            print(f"  ... and {len(listed) - SHOWN_MISSING} more")
        found.update(dict.fromkeys(check.dangling))
    return list(found)


def new_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-new: create a timestamped SQL migration and its rollback file."""
    parser = argparse.ArgumentParser(
        prog="db-new", description="Create a new SQL migration and its rollback file."
    )
    parser.add_argument("target", help="the target that owns the migration (e.g. core)")
    parser.add_argument("name", help="what it does, lower_snake_case (e.g. create_vehicles)")
    args = parser.parse_args(argv)

    def body() -> int:
        targets = selected_targets(args.target, registry)
        if len(targets) != 1:
            raise MigrationError("db-new needs one target, not all")
        for path in new_migration(targets[0], args.name):
            print(f"created {path}")
        return 0

    run_command("db-new", body)


def seed_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-seed: run the target's seed files (refused in production)."""
    args = _parser("db-seed", "Run the seed files of a target (or all).").parse_args(argv)

    def body() -> int:
        refuse_in_production("db-seed")
        for target in selected_targets(args.target, registry):
            files = seed(target, direct_url(target))
            names = ", ".join(p.name for p in files) or "no seed files"
            print(f"{target.name}: seeded ({names})")
        return 0

    run_command("db-seed", body)


def clean_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-clean: empty every table, keeping the schema and the migration history."""
    parser = _parser("db-clean", "Empty every table; keep the schema and migration history.")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)

    def body() -> int:
        refuse_in_production("db-clean")
        targets = selected_targets(args.target, registry)
        names = ", ".join(describe_url(direct_url(t)) for t in targets)
        confirm(f"Delete every row in {names}?", assume_yes=args.yes)
        for target in targets:
            tables = truncate_all(direct_url(target), target.kept_by_clean)
            kept = f", kept {', '.join(target.kept_by_clean)}" if target.kept_by_clean else ""
            print(f"{target.name}: emptied {len(tables)} table(s){kept}")
        return 0

    run_command("db-clean", body)


def reset_main(argv: list[str] | None = None, registry: TargetRegistry | None = None) -> None:
    """db-reset: drop, create, migrate and seed (refused in production)."""
    parser = _parser("db-reset", "Drop, create, migrate and seed a target (not in production).")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)

    def body() -> int:
        refuse_in_production("db-reset")
        known = registry or TargetRegistry.from_entry_points()
        targets = known.select(args.target)
        names = ", ".join(describe_url(direct_url(t)) for t in targets)
        confirm(f"Drop and rebuild {names}?", assume_yes=args.yes)
        for target in reversed(targets):
            if drop_database(direct_url(target)):
                print(f"{target.name}: dropped {describe_url(direct_url(target))}")
        for target in targets:
            url = direct_url(target)
            create_database(url)
            print(f"{target.name}: created {describe_url(url)}")
            migrate(
                target,
                url,
                requirement_met=requirement_checker(known),
            )
            files = seed(target, url)
            print(f"{target.name}: seeded {len(files)} file(s)")
        return 0

    run_command("db-reset", body)
