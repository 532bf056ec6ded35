"""What a list route adds in Litestar to `atriz_core.kit.pagination`: its query parameters
(`PageLimit`, `PageCursor`, `page_limit`), its page's name in OpenAPI (`schema_name`) and the
service's `CursorCodec` (`cursors_of`). The module docstring of `atriz_core.kit.pagination`
shows a list route whole.

- **`limit` is validated, not clamped.** Above its maximum or below 1 is a 400 naming `limit`:
  a client asking for 10,000 rows learns that it gets at most 200, rather than silently fewer.
  The parameters are typed query parameters (`PageLimit`, `PageCursor`), not a dependency: a
  second dependency beside the connection makes Litestar resolve them in an anyio task group,
  about 100 us of CPU per request (measured in-process on Litestar 2.25), for two values'
  worth of parsing.
- **Wiring.** The service keeps one `CursorCodec(settings.cursor_secret)` in `app.state.cursors`
  (`CURSORS_STATE_KEY`), which `cursors_of(request)` returns.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.connection import ASGIConnection
from litestar.params import KwargDefinition, QueryParameter

from atriz_core.kit.pagination import MAX_CURSOR_LENGTH, CursorCodec

__all__ = [
    "CURSORS_STATE_KEY",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PageCursor",
    "PageLimit",
    "cursors_of",
    "page_limit",
    "schema_name",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSORS_STATE_KEY = "cursors"
"""Where the service keeps its `CursorCodec` in `app.state`."""


def schema_name(name: str) -> Any:
    """Metadata for `Annotated[Page[Item], schema_name("ItemPage")]`: the OpenAPI component
    name of a generic page (or of any type used as a handler's return annotation)."""
    return KwargDefinition(schema_component_key=name)


def page_limit(maximum: int = MAX_LIMIT) -> Any:
    """The `limit` query parameter's bounds, for `limit: Annotated[int, page_limit(100)] = 20`
    (the default goes on the parameter: Litestar deprecates defaults inside `Annotated`).
    OpenAPI shows the bounds and the default; a value outside 1..maximum is a 400 naming `limit`.
    """
    if maximum < 1:
        raise ValueError("a page holds at least one item")
    return QueryParameter(
        ge=1, le=maximum, description=f"How many items to return, 1 to {maximum}."
    )


PageLimit = Annotated[int, page_limit()]
"""`limit: PageLimit = DEFAULT_LIMIT`: 1 to `MAX_LIMIT`."""

PageCursor = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_CURSOR_LENGTH,
        description=(
            "The previous page's `next_cursor`, to get the page after it; omit it for the first"
            " page. Opaque: a cursor that was edited, or comes from another list, is refused."
        ),
    ),
]
"""`cursor: PageCursor = None`: the previous page's `next_cursor`, absent for the first page."""


def cursors_of(connection: ASGIConnection[Any, Any, Any, Any]) -> CursorCodec:
    """The service's `CursorCodec`, kept in `app.state` under `CURSORS_STATE_KEY`."""
    codec = connection.app.state.get(CURSORS_STATE_KEY)
    if not isinstance(codec, CursorCodec):
        raise RuntimeError(
            f"no CursorCodec in app.state.{CURSORS_STATE_KEY}: build the service with"
            f" state={{{CURSORS_STATE_KEY!r}: CursorCodec(settings.cursor_secret)}}"
        )
    return codec
