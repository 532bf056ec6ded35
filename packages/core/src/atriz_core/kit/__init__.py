"""The app kit: everything a service of Atriz stands on, written once.

Building the service (`app_service`, `create_service`: auth, problem details, health and
readiness, OpenAPI, pools), typed settings (`AppSettings`, `Env`), a connection per request and
a transaction per write (`DbConnection`, `SharedDb`), database errors mapped to HTTP once,
pagination (`Page`, `Keyset`, `PageLimit`, `PageCursor`, `cursors_of`), the user-event consumer
(`UserEvent` handlers, `CURSOR_TABLE_SQL`), user references (`user_reference`, `repair_with`),
revocation, metrics, request ids and logs.

The names below load their module on first use, so that a business service importing one
plain module of the kit (pagination's cursors, say) does not load Litestar with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atriz_core.lazy import lazy_exports

if TYPE_CHECKING:
    from atriz_core.kit.database import DbConnection, SharedDb
    from atriz_core.kit.events import CURSOR_TABLE_ROLLBACK_SQL, CURSOR_TABLE_SQL, UserEventHandler
    from atriz_core.kit.openapi import problem_responses
    from atriz_core.kit.pagination import InvalidCursorError, Keyset, Page
    from atriz_core.kit.pagination_params import (
        DEFAULT_LIMIT,
        PageCursor,
        PageLimit,
        cursors_of,
        page_limit,
        schema_name,
    )
    from atriz_core.kit.references import repair_with, user_reference
    from atriz_core.kit.service import app_service, create_service
    from atriz_core.kit.settings import AppSettings, Env, app_fields

__all__ = [
    "CURSOR_TABLE_ROLLBACK_SQL",
    "CURSOR_TABLE_SQL",
    "DEFAULT_LIMIT",
    "AppSettings",
    "DbConnection",
    "Env",
    "InvalidCursorError",
    "Keyset",
    "Page",
    "PageCursor",
    "PageLimit",
    "SharedDb",
    "UserEventHandler",
    "app_fields",
    "app_service",
    "create_service",
    "cursors_of",
    "page_limit",
    "problem_responses",
    "repair_with",
    "schema_name",
    "user_reference",
]

_HOMES = {
    "DbConnection": "database",
    "SharedDb": "database",
    "CURSOR_TABLE_ROLLBACK_SQL": "events",
    "CURSOR_TABLE_SQL": "events",
    "UserEventHandler": "events",
    "problem_responses": "openapi",
    "InvalidCursorError": "pagination",
    "Keyset": "pagination",
    "Page": "pagination",
    "DEFAULT_LIMIT": "pagination_params",
    "PageCursor": "pagination_params",
    "PageLimit": "pagination_params",
    "cursors_of": "pagination_params",
    "page_limit": "pagination_params",
    "schema_name": "pagination_params",
    "repair_with": "references",
    "user_reference": "references",
    "app_service": "service",
    "create_service": "service",
    "AppSettings": "settings",
    "Env": "settings",
    "app_fields": "settings",
}


__getattr__ = lazy_exports(__name__, _HOMES)
