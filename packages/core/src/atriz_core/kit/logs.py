"""Structured logs: one pipeline for structlog's events and the standard library's records.

Our modules log with `logging.getLogger(__name__)`; the request line and anything else written
with structlog go through the same handler on the root logger and the same formatter, so every
line has the same shape: a JSON object per line in production, a readable line in development
and tests, each with `timestamp`, `level`, `logger`, `event` and, during a request, its
`request_id` (bound by `RequestContextMiddleware` with `structlog.contextvars`).

The root handler is added, not set through `logging.config.dictConfig`, which would remove the
handlers already there (an operator's, pytest's log capture). Building another app in the same
process replaces this module's handler, so the last app built decides where lines go: logging
is the process's, not the app's.

Keys that name a secret (`password`, `token`, `authorization`...) are masked in every event as a
last line of defence; the rule stays: never pass a password, token, hash or query parameter value
to a logger.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import IO, Any

import structlog
from litestar.logging.config import LoggingConfig, StructlogEventFilter, StructLoggingConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from structlog.typing import EventDict, Processor, WrappedLogger

from atriz_database import Environment

__all__ = ["SECRET_KEYS", "logging_plugin"]

SECRET_KEYS = frozenset(
    {
        "access_token",
        "authorization",
        "cookie",
        "new_password",
        "password",
        "password_hash",
        "refresh_token",
        "secret",
        "set-cookie",
        "token",
    }
)
# Servers' access logs print the whole request line, query string included, where mailed links
# carry their tokens: our own request line replaces them. httpx logs every URL it fetches at
# INFO, query included, the same way.
_QUIETED = ("uvicorn.access", "granian.access", "httpx")


def _mask_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in SECRET_KEYS.intersection(event):
        event[key] = "[withheld]"
    return event


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]


class AtrizLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler that `logging_plugin` installs (and replaces on a rebuild).

    Without a stream of its own it writes to whatever `sys.stderr` is when a line is written,
    as the standard library's last-resort handler does, not to the one of the moment it was
    built (a test runner swaps and closes its captures).
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        logging.Handler.__init__(self)
        self._own_stream = stream

    @property
    def stream(self) -> IO[str]:
        return self._own_stream or sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        self._own_stream = value

    def write_line(self, line: str) -> None:
        """Write a line rendered by structlog, under the lock that records are written under."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self.stream.write(line + self.terminator)
            self.flush()


class _LineLogger:
    """structlog's output for its own events: straight to the handler's stream, without a
    `LogRecord` (the request line is written on every request; through the standard library it
    cost three times as much)."""

    def __init__(self, handler: AtrizLogHandler, name: str = "") -> None:
        self._handler = handler
        self.name = name  # for `add_logger_name`

    def msg(self, message: str) -> None:
        self._handler.write_line(message)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


@dataclass
class _RootHandlerLogging(LoggingConfig):
    """The standard library's side: our handler on the root logger, added beside the others."""

    handler: logging.Handler | None = None
    level: int = logging.INFO

    def configure(self) -> Any:
        root = logging.getLogger()
        for old in [h for h in root.handlers if isinstance(h, AtrizLogHandler)]:
            root.removeHandler(old)
        if self.handler is not None:
            root.addHandler(self.handler)
        root.setLevel(self.level)
        # Litestar's own logger may hold a handler from an app built with Litestar's defaults.
        litestar = logging.getLogger("litestar")
        litestar.handlers.clear()
        litestar.propagate = True
        for name in _QUIETED:
            logging.getLogger(name).setLevel(logging.WARNING)
        return logging.getLogger


def logging_plugin(
    environment: Environment, *, stream: IO[str] | None = None, level: int = logging.INFO
) -> StructlogPlugin:
    """Litestar's structlog plugin, configured: JSON lines in production, a console format
    otherwise, on `stream` (standard error by default). Litestar's request logging middleware
    is off: `RequestContextMiddleware` writes the request line, without query or headers.

    structlog's events (`structlog.get_logger("name")`) are rendered by structlog and
    written to the handler's stream; the standard library's records reach the same handler
    through the root logger and are rendered by the same processors."""
    production = environment is Environment.PRODUCTION
    colors = environment is Environment.DEVELOPMENT and (stream or sys.stderr).isatty()

    def rendering() -> list[Processor]:
        if production:
            return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        # Plain tracebacks: the default (rich's, where installed) shows every frame's local
        # variables, which hold what a request carried (a password, a session cookie).
        plain = structlog.dev.plain_traceback
        return [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=plain)]

    handler = AtrizLogHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # `extra=` first, so that a secret passed there is masked too. A record another
            # handler formatted first carries `message`, a copy of `event`; uvicorn's carry
            # `color_message`, another.
            foreign_pre_chain=[
                structlog.stdlib.ExtraAdder(),
                StructlogEventFilter(["message", "color_message"]),
                *_shared(),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering()],
        )
    )
    config = StructLoggingConfig(
        processors=[*_shared(), *rendering()],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda name="": _LineLogger(handler, name),
        # A cached logger keeps the configuration of its first use: an app built later in the
        # same process (tests) would not get its lines. Uncached cost about 3 us a line.
        cache_logger_on_first_use=False,
        # Our exception handlers log what an error needs, without what a query carried.
        log_exceptions="never",
        standard_lib_logging_config=_RootHandlerLogging(handler=handler, level=level),
    )
    return StructlogPlugin(
        StructlogConfig(structlog_logging_config=config, enable_middleware_logging=False)
    )
