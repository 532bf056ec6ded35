"""RFC 9457 problem details for every error, mapped once for the whole app.

Validation errors list each problem as `{field, reason}`; unexpected errors are logged and
answered with a plain 500 that reveals nothing of the code.

A database error's text can quote what the query carried (asyncpg's `DataError` repeats the
argument it could not encode; a unique violation repeats the key, which may be a token hash or
an e-mail address), so for those the log gets the error's class, SQLSTATE, constraint and
traceback, never its text.

Constraint violations are the client's doing and are answered as such (`kit.db_errors`): a
duplicate is a 409, a reference to nothing, a value outside a CHECK or a missing value a 422,
each naming the field and never the value. A serialization failure or a deadlock is a 503 with
`Retry-After` once `kit.database`'s retry has given up.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from http import HTTPStatus
from types import FrameType
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import ParameterKwarg
from litestar.types import ExceptionHandlersMap

from atriz_core.errors import (
    AuthenticationError,
    DomainError,
    FieldProblem,
    ServiceBusyError,
    TooManyRequestsError,
)
from atriz_core.kit.db_errors import TRANSACTION_CONFLICTS, innermost, violation_problem
from atriz_core.kit.request_ids import with_request_id
from atriz_database import DatabaseUnavailableError

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "problem_response"]

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)
_NAMED_FIELD = re.compile(r"field `([^`]+)`")
_PATTERN_REASON = re.compile(r"^Expected `str` matching regex '.*'", re.S)
# Litestar's text for a required header, query or cookie parameter that is absent (it carries
# no `extra`); only the name and kind are kept, not the URL after them.
_MISSING_PARAMETER = re.compile(r"^Missing required (\w+) parameter '([^']+)'")


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "reason": e.reason} for e in errors]
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _sent_name(request: Request[Any, Any, Any], key: str) -> str:
    """The name a parameter is sent under (`Idempotency-Key`) where the handler's own name for
    it differs (`idempotency_key`): the client knows only the first."""
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    except AttributeError:  # no handler (routing failed): nothing to rename
        return key
    definition = parameter.kwarg_definition if parameter is not None else None
    if isinstance(definition, ParameterKwarg):
        # `HeaderParameter(name=...)` and its kin keep it in `name`; `Parameter(header=...)`
        # and its kin in the field of the parameter's kind.
        return definition.name or definition.header or definition.query or definition.cookie or key
    return key


def _validation_problems(
    request: Request[Any, Any, Any], exc: ValidationException
) -> list[FieldProblem]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        # msgspec's text for a pattern quotes the regular expression, which tells a person
        # nothing (the OpenAPI document has the pattern for a program).
        reason = _PATTERN_REASON.sub(
            "is not in the form it must have", str(item.get("message", "is invalid"))
        )
        key = str(item.get("key") or "body")
        if key == "data":  # the whole body (Litestar's name for it)
            # msgspec names a missing or unknown field in the message.
            named = _NAMED_FIELD.search(reason)
            field = named[1] if named else "body"
        else:
            field = _sent_name(request, key)
        problems.append(FieldProblem(field, reason))
    missing = _MISSING_PARAMETER.match(exc.detail or "")
    if not problems and missing:
        problems.append(FieldProblem(missing[2], f"is required (a {missing[1]} parameter)"))
    if not problems:
        problems.append(FieldProblem("body", exc.detail))
    return problems


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if isinstance(exc, ValidationException):
        return problem_response(
            exc.status_code,
            "the request is not valid",
            title="Invalid request",
            errors=_validation_problems(request, exc),
            headers=headers,
        )
    if exc.status_code == 400:  # the body could not be decoded at all: malformed JSON
        return problem_response(
            400, exc.detail, errors=[FieldProblem("body", exc.detail)], headers=headers
        )
    return problem_response(exc.status_code, exc.detail, headers=headers)


def handle_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = None
    if isinstance(exc, TooManyRequestsError | ServiceBusyError):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    elif isinstance(exc, AuthenticationError) and exc.challenge:
        headers = {"WWW-Authenticate": exc.challenge}
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        errors=exc.problems,
        headers=headers,
        extensions=exc.extensions,
    )


# The database is out of reach or overloaded for now: the pool stayed busy for its whole acquire
# timeout, the connection was lost, the server is starting or stopping, or a lock was not
# granted within `lock_timeout`. None of these is the request's fault or a bug: 503, retry soon.
_UNAVAILABLE = (
    DatabaseUnavailableError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.LockNotAvailableError,
    # Class 53 (too many connections, out of memory or disk) and 57 (shut down, failed over,
    # statement timeout): the server's state, not the request's fault.
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
    ConnectionError,
)
RETRY_AFTER_SECONDS = 2


def handle_database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.warning(
        "database unavailable (%s) on %s %s", type(exc).__name__, request.method, request.url.path
    )
    return problem_response(
        503,
        "the service is busy or its database is out of reach; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def handle_transaction_conflict(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A serialization failure or deadlock that outlasted the retries (or hit a request that
    is not retried): nobody's fault, and worth trying again in a moment."""
    logger.warning(
        "transaction conflict (%s) on %s %s, not retried further",
        type(exc).__name__,
        request.method,
        request.url.path,
    )
    return problem_response(
        503,
        "the request collided with concurrent changes; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def handle_integrity_violation(
    request: Request[Any, Any, Any], exc: asyncpg.IntegrityConstraintViolationError
) -> Response[Any]:
    """A constraint violation: 409 or 422 naming the field, never the value."""
    problem = violation_problem(exc)
    if problem is None:
        return handle_unexpected(request, exc)
    return problem_response(problem.status, problem.detail, errors=problem.problems)


def _handle_grouped(
    request: Request[Any, Any, Any], group: BaseExceptionGroup[Any]
) -> Response[Any]:
    # Litestar closes two or more generator dependencies in a task group: a failed COMMIT
    # arrives wrapped. Answer as for the error inside.
    leaf = innermost(group)
    if isinstance(leaf, Exception) and not isinstance(leaf, BaseExceptionGroup):
        for cls in type(leaf).__mro__:
            handler = EXCEPTION_HANDLERS.get(cls)
            if handler is not None:
                return handler(request, leaf)
    logger.error("unhandled %s on %s %s", type(leaf).__name__, request.method, request.url.path)
    return problem_response(500, "an unexpected error occurred; it has been logged")


def _is_unavailable(exc: Exception) -> bool:
    # asyncpg's client-side encoding errors are InterfaceErrors too, and ValueErrors: a bug in
    # what the code passed, not an outage.
    return isinstance(exc, _UNAVAILABLE) and not (
        isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError)
    )


def handle_unstorable_value(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value PostgreSQL cannot store (class 22: a NUL in text, a number out of range) that
    input validation let through: the request's fault, named by column when PostgreSQL says."""
    field = getattr(exc, "column_name", None) or "body"
    logger.info("refused a value the database cannot store (SQLSTATE %s)", exc.sqlstate)  # type: ignore[attr-defined]
    return problem_response(
        400,
        "a value in the request cannot be stored",
        errors=[FieldProblem(field, "holds a character or value the database cannot store")],
    )


def undecodable_json(exc: BaseException) -> str | None:
    """Why a request's JSON body could not be decoded, when `exc` is one of the two errors
    msgspec raises instead of its `DecodeError` (which Litestar answers with a 400) and Litestar
    was decoding the body: bytes that are not UTF-8, or nesting deeper than the decoder's
    stack. None for anything else, such as the same errors raised by a bug elsewhere."""
    if not isinstance(exc, UnicodeDecodeError | RecursionError):
        return None
    if not any(
        _is_litestar_decode_json(frame) for frame, _ in traceback.walk_tb(exc.__traceback__)
    ):
        return None
    if isinstance(exc, UnicodeDecodeError):
        return "is not valid JSON: it is not UTF-8"
    return "is not valid JSON: it is nested too deeply"


def _is_litestar_decode_json(frame: FrameType) -> bool:
    code = frame.f_code
    return code.co_name == "decode_json" and f"{os.sep}litestar{os.sep}" in code.co_filename


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, BaseExceptionGroup):
        return _handle_grouped(request, exc)
    if (reason := undecodable_json(exc)) is not None:
        return problem_response(400, f"the body {reason}", errors=[FieldProblem("body", reason)])
    if _is_unavailable(exc):
        return handle_database_unavailable(request, exc)
    if isinstance(exc, asyncpg.InternalClientError):
        # Seen when PostgreSQL restarts: a pooled connection cut in the middle of an operation
        # leaves asyncpg's protocol in that operation, and the next query on it fails so. An
        # outage, answered as one; logged as an error too, since a connection shared by two
        # tasks at once (a bug) fails the same way.
        logger.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
        return handle_database_unavailable(request, exc)
    # asyncpg raises the bare DataError itself for an argument of the wrong type (the code's
    # bug: a 500); PostgreSQL's own class 22 errors come as its subclasses.
    if isinstance(exc, asyncpg.DataError) and type(exc) is not asyncpg.DataError:
        return handle_unstorable_value(request, exc)
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        sqlstate = getattr(exc, "sqlstate", None)
        constraint = getattr(exc, "constraint_name", None)
        logger.error(
            "unhandled %s (SQLSTATE %s, constraint %s; text withheld) on %s\n%s",
            type(exc).__name__,
            sqlstate,
            constraint,
            where,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
    else:
        logger.error("unhandled %s on %s", type(exc).__name__, where, exc_info=exc)
    return problem_response(500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    asyncpg.IntegrityConstraintViolationError: handle_integrity_violation,
    **dict.fromkeys(TRANSACTION_CONFLICTS, handle_transaction_conflict),
    Exception: handle_unexpected,
}
# Every answer carries the request's id (`request_id` in the body, `X-Request-ID`), whichever
# handler gave it, those above and any added to this map before this line.
EXCEPTION_HANDLERS = {kind: with_request_id(handle) for kind, handle in EXCEPTION_HANDLERS.items()}
