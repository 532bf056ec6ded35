"""The example app's user references: declared once, checked by `db-check-refs`, repaired by the
app's own user-event policy."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg

from atriz_core.kit.references import repair_with, user_reference
from atriz_core.kit.settings import AppSettings
from atriz_core.testing import UserFactory
from atriz_database import DatabaseTarget
from atriz_database.references import check_references

RunningNotes = Any  # the `notes` fixture's value (conftest.RunningNotes)


async def test_a_deleted_users_notes_are_found_and_repaired_by_the_apps_policy(
    notes: RunningNotes,
    notes_settings: AppSettings,
    core_database_url: str,
    make_user: UserFactory,
    example: Any,
) -> None:
    kept, deleted = await make_user(), await make_user()
    for user in (kept, deleted, deleted):
        created = await notes.client.post("/notes", json={"body": "hello"}, headers=user.headers)
        assert created.status_code == 201, created.text
    # Deleted while the app was not listening: only the check can find what it left behind.
    shared = await asyncpg.connect(core_database_url)
    try:
        await shared.execute("UPDATE users SET deleted_at = now() WHERE id = $1", deleted.id)
    finally:
        await shared.close()
    target: DatabaseTarget = replace(example.target, references=(user_reference("notes.owner_id"),))

    def check() -> Any:
        [result] = check_references(
            target, notes_settings.database_url, lambda _: core_database_url
        )
        return result

    before = await asyncio.to_thread(check)
    await asyncio.to_thread(
        repair_with(example.apply_user_event), notes_settings.database_url, before.dangling
    )
    after = await asyncio.to_thread(check)

    assert (before.checked, before.missing, before.gone) == (2, [], [deleted.id])
    assert (after.checked, after.dangling) == (1, [])
    assert await notes.sql("SELECT count(*) FROM notes WHERE owner_id = $1", kept.id) == 1
