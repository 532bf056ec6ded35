"""Dangling references across databases: ids in one target's column with no row in the other,
or with a row that the reference does not count as live (a soft-deleted user).

The distinct values are streamed from the referencing database through a server-side cursor and
checked against the referenced table a batch at a time, so a table of any size is checked in
bounded memory, and each batch is one indexed lookup per value on the other side.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from atriz_database.connections import connect
from atriz_database.errors import ConfigurationError
from atriz_database.targets import DatabaseTarget, Reference

__all__ = ["ReferenceCheck", "check_references", "repair_references"]

BATCH_SIZE = 10_000


@dataclass(frozen=True)
class ReferenceCheck:
    """The outcome for one reference: how many distinct ids it holds, which have no row, and
    which have a row that is not live (`Reference.live_when`)."""

    reference: Reference
    checked: int
    missing: list[Any] = field(default_factory=list)
    gone: list[Any] = field(default_factory=list)

    @property
    def dangling(self) -> list[Any]:
        return [*self.missing, *self.gone]


def _column(dotted: str, what: str) -> tuple[sql.Identifier, sql.Identifier]:
    *table, column = dotted.split(".")
    if not table or not all(table) or not column:
        raise ConfigurationError(f"{what} {dotted!r} is not of the form table.column")
    return sql.Identifier(*table), sql.Identifier(column)


def check_references(
    target: DatabaseTarget,
    url: str,
    url_of: Callable[[str], str],
    *,
    batch_size: int = BATCH_SIZE,
) -> list[ReferenceCheck]:
    """Check each of `target`'s references; `url_of(name)` gives another target's database URL."""
    return [
        _check(reference, url, url_of(reference.target), batch_size)
        for reference in target.references
    ]


def _check(reference: Reference, url: str, referenced_url: str, batch_size: int) -> ReferenceCheck:
    table, column = _column(reference.column, "reference")
    other_table, other_column = _column(reference.referenced, "referenced column")
    kept: sql.Composable = sql.SQL("")
    if reference.kept_in is not None:
        kept_table, kept_column = _column(reference.kept_in, "kept_in")
        kept = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {kt} AS k WHERE k.{kc} = {t}.{c})").format(
            kt=kept_table, kc=kept_column, t=table, c=column
        )
    values = sql.SQL("SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL{kept}").format(
        c=column, t=table, kept=kept
    )
    # Each value without a live row, and whether it has a row at all.
    live = sql.SQL(reference.live_when or "true")  # fixed text from the package, see Reference
    lookup = sql.SQL(
        "SELECT v, r.{c} IS NOT NULL"
        " FROM unnest(%s) AS v LEFT JOIN {t} AS r ON r.{c} = v"
        " WHERE r.{c} IS NULL OR NOT coalesce(({live}), false)"
    ).format(t=other_table, c=other_column, live=live)
    checked, missing, gone = 0, list[Any](), list[Any]()
    with (
        connect(url) as source,
        connect(referenced_url) as referenced,
        source.transaction(),  # a server-side cursor lives in a transaction
        source.cursor(name="atriz_check_refs") as cursor,
    ):
        cursor.execute(values)
        while batch := [row[0] for row in cursor.fetchmany(batch_size)]:
            checked += len(batch)
            for value, exists in referenced.execute(lookup, (batch,)):
                (gone if exists else missing).append(value)
    return ReferenceCheck(reference, checked, missing, gone)


def repair_references(target: DatabaseTarget, url: str, ids: Sequence[Any]) -> None:
    """Apply `target`'s own policy (`DatabaseTarget.repair`) to ids that point to no live row."""
    if target.repair is None:
        raise ConfigurationError(f"target {target.name} declares no repair for its references")
    module, _, function = target.repair.partition(":")
    try:
        repair = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"target {target.name}: cannot load {target.repair}: {exc}"
        ) from exc
    repair(url, list(ids))
