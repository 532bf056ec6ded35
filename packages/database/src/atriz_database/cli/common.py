"""What every Atriz command shares: environment loading, target selection, one-line failures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from atriz_database.errors import DatabaseToolError, RefusedError
from atriz_database.settings import current_environment, load_env_file
from atriz_database.targets import ALL, DatabaseTarget, TargetRegistry

__all__ = ["confirm", "run_command", "selected_targets", "target_argument"]


def target_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=f"a registered target (e.g. core), or {ALL!r} for every one")


def selected_targets(name: str, registry: TargetRegistry | None = None) -> list[DatabaseTarget]:
    """The targets a command works on; `registry` defaults to the installed entry points."""
    return (registry or TargetRegistry.from_entry_points()).select(name)


def confirm(question: str, *, assume_yes: bool) -> None:
    """Ask before destroying data; without a terminal, only `--yes` answers."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise RefusedError(f"{question} Refusing without --yes (no terminal to ask)")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in {"y", "yes"}:
        raise RefusedError("cancelled")


def run_command(prog: str, body: Callable[[], int]) -> None:
    """Run a command body: `.env` loaded first, errors printed as one line, exit code set."""
    load_env_file()
    try:
        current_environment()  # a misspelt ATRIZ_ENV stops every command, not just some
        code = body()
    except DatabaseToolError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.exit(code)
