"""Dangling references across databases: ids in one target's column with no row in the other.

The distinct values are streamed from the referencing database through a server-side cursor and
checked against the referenced table a batch at a time, so a table of any size is checked in
bounded memory, and each batch is one indexed lookup per value on the other side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from atriz_database.connections import connect
from atriz_database.errors import ConfigurationError
from atriz_database.targets import DatabaseTarget, Reference

__all__ = ["ReferenceCheck", "check_references"]

BATCH_SIZE = 10_000


@dataclass(frozen=True)
class ReferenceCheck:
    """The outcome for one reference: how many distinct ids it holds and which have no row."""

    reference: Reference
    checked: int
    missing: list[Any] = field(default_factory=list)


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
    values = sql.SQL("SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL").format(c=column, t=table)
    absent = sql.SQL(
        "SELECT v FROM unnest(%s) AS v WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {c} = v)"
    ).format(t=other_table, c=other_column)
    checked, missing = 0, []
    with (
        connect(url) as source,
        connect(referenced_url) as referenced,
        source.transaction(),  # a server-side cursor lives in a transaction
        source.cursor(name="atriz_check_refs") as cursor,
    ):
        cursor.execute(values)
        while batch := [row[0] for row in cursor.fetchmany(batch_size)]:
            checked += len(batch)
            missing += [row[0] for row in referenced.execute(absent, (batch,))]
    return ReferenceCheck(reference, checked, missing)
