"""What a database error means for the client, worked out once for every service.

A constraint violation is the client's doing (a duplicate, a reference to nothing, a value
outside the rules), so it becomes a 409 or a 422 that names the field. The field comes from the
schema, never from the data: asyncpg's `detail` reads `Key (email)=(ana@example.org) already
exists.`, and only the part before `=` is used; without a usable detail, from the constraint's
name by the convention `<table>_<column>_<suffix>` (PostgreSQL's own default names, such as
`products_price_check` or `users_email_key`, follow it); failing that, the constraint's name
itself. The value never reaches the response or the log: it may be an e-mail address or a token
hash.

A serialization failure (40001) or a deadlock (40P01) is nobody's fault: PostgreSQL aborted the
transaction so that another could finish, and running the same transaction again normally
succeeds. `TRANSACTION_CONFLICTS` names them for the retry in `kit.database`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from atriz_core.errors import FieldProblem

__all__ = ["TRANSACTION_CONFLICTS", "ViolationProblem", "innermost", "violation_problem"]

TRANSACTION_CONFLICTS: tuple[type[asyncpg.PostgresError], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
"""Errors after which the whole transaction, run again, may well succeed."""

# "Key (a, b)=(1, 2) already exists." / "... is not present in table ..." / "... is still
# referenced from table ...". Non-greedy up to the first ")=(": the key's columns, or the
# expressions of an expression index, such as "lower((email)::text)".
_KEY = re.compile(r"Key \((?P<columns>.+?)\)=\(", re.DOTALL)
_IDENTIFIER = re.compile(r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*')
_LITERAL = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class ViolationProblem:
    """How to answer a constraint violation."""

    status: int
    detail: str
    problems: list[FieldProblem]


def innermost(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups, or `exc` itself.

    Litestar closes two or more generator dependencies in a task group, so a COMMIT that fails
    while the request also holds a shared-database connection arrives wrapped in a group.
    """
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def violation_problem(exc: asyncpg.IntegrityConstraintViolationError) -> ViolationProblem | None:
    """The answer to a constraint violation, or None for a kind this does not map."""
    if isinstance(exc, asyncpg.UniqueViolationError | asyncpg.ExclusionViolationError):
        columns = _key_columns(exc) or [_field_from_constraint(exc)]
        if isinstance(exc, asyncpg.ExclusionViolationError):
            reason = "conflicts with an existing record"
        elif len(columns) == 1:
            reason = "is already in use"
        else:
            reason = f"this combination of {', '.join(columns)} is already in use"
        return ViolationProblem(
            409,
            f"a record with this {' and '.join(columns)} already exists",
            [FieldProblem(column, reason) for column in columns],
        )
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        columns = _key_columns(exc) or [_field_from_constraint(exc)]
        if "still referenced" in (_detail(exc) or ""):
            # A delete (or key change) of a row that others point to: the request is fine,
            # the state of the data forbids it.
            return ViolationProblem(
                409,
                "the record is still referenced by other records",
                [
                    FieldProblem(column, "is still referenced by other records")
                    for column in columns
                ],
            )
        return ViolationProblem(
            422,
            "a referenced record does not exist",
            [FieldProblem(column, "refers to a record that does not exist") for column in columns],
        )
    if isinstance(exc, asyncpg.CheckViolationError):
        field = _field_from_constraint(exc)
        return ViolationProblem(
            422, "a value is not allowed", [FieldProblem(field, "is not an allowed value")]
        )
    if isinstance(exc, asyncpg.NotNullViolationError):
        field = getattr(exc, "column_name", None) or _field_from_constraint(exc)
        return ViolationProblem(
            422, "a required value is missing", [FieldProblem(field, "is required")]
        )
    return None


def _detail(exc: asyncpg.PostgresError) -> str | None:
    detail = getattr(exc, "detail", None)
    return detail if isinstance(detail, str) else None


def _key_columns(exc: asyncpg.PostgresError) -> list[str]:
    """The key's column names from the error's detail: never the values after `=`."""
    match = _KEY.match(_detail(exc) or "")
    if match is None:
        return []
    columns = []
    for part in _split_top_level(match["columns"]):
        columns.extend(_columns_of(part))
    return list(dict.fromkeys(columns))  # in order, once each


def _split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside parentheses: `a, lower(b), coalesce(c, d)`."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _columns_of(expression: str) -> list[str]:
    """The column names in one key part: the part itself when it is a plain name, else the
    names in the expression that are neither called (`lower(`) nor a type (`::text`)."""
    expression = _LITERAL.sub("", expression)
    names = []
    for match in _IDENTIFIER.finditer(expression):
        before = expression[: match.start()].rstrip()
        after = expression[match.end() :].lstrip()
        if before.endswith("::") or after.startswith("("):
            continue
        name = match[0]
        names.append(name[1:-1].replace('""', '"') if name.startswith('"') else name)
    return names


def _field_from_constraint(exc: asyncpg.PostgresError) -> str:
    """`price` from `products_price_check` on table `products`: the name minus the table
    prefix and the last `_suffix`; else the constraint's name; else "body"."""
    constraint = getattr(exc, "constraint_name", None) or ""
    table = getattr(exc, "table_name", None) or ""
    if table and constraint.startswith(f"{table}_"):
        rest = constraint[len(table) + 1 :]
        column, _, suffix = rest.rpartition("_")
        if column and suffix:
            return column
    return constraint or "body"
