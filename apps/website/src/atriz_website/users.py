"""What a user's deletion means on the website, applied once per event by the kit's consumer.

A deleted user's profile is removed; their drafts are deleted; their other articles
(published, scheduled, archived) keep their content, with the author shown as removed
(`author_id` cleared, `author_removed_at` set). A deactivated user's data stays: they may come
back.
"""

from __future__ import annotations

import asyncpg

from atriz_core.client.user_events import DELETED, UserEvent
from atriz_core.kit.references import repair_with
from atriz_website.articles import repository as articles
from atriz_website.profiles import repository as profiles

__all__ = ["apply_user_event", "repair_references"]


async def apply_user_event(conn: asyncpg.Connection, event: UserEvent) -> None:
    """Apply one user event in the website's database (in the consumer's transaction)."""
    if event.event_type == DELETED:
        await profiles.delete_profile(conn, event.user_id)
        await articles.delete_drafts_of(conn, event.user_id)
        await articles.detach_author(conn, event.user_id)


repair_references = repair_with(apply_user_event)
"""For `db-check-refs --fix`: the same policy, for users whose event this app missed."""
