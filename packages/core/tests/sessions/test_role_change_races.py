"""A refresh beside a role change: it waits for the change's lock on the user and reads the
roles after the change commits, so no token leaves core carrying a role taken away before it
was issued (the apps would accept it: its `iat` is after the change's event)."""

from __future__ import annotations

import asyncio
import uuid

import jwt

from atriz_core.testing import CoreHarness

ROLE = "pshop.cashier"


async def signed_in_with_the_role(
    core: CoreHarness,
) -> tuple[uuid.UUID, uuid.UUID, dict[str, str]]:
    """(the user's id, an administrator's id, the user's tokens): a user holding ROLE."""
    admin = await core.admin_headers()
    user = await core.register()
    granted = await core.client.post(
        f"/admin/users/{user['id']}/roles", json={"role": ROLE}, headers=admin
    )
    assert granted.status_code == 204, granted.text
    admin_id = await core.sql_value("SELECT id FROM users WHERE email = 'root@example.test'")
    return uuid.UUID(user["id"]), admin_id, await core.login()


async def test_a_refresh_beside_a_role_change_reads_the_roles_after_it(
    core_harness: CoreHarness,
) -> None:
    user_id, admin_id, tokens = await signed_in_with_the_role(core_harness)
    assert ROLE in jwt.decode(tokens["access_token"], options={"verify_signature": False})["roles"]

    async with core_harness.role_removal_held_open(user_id, ROLE, admin_id=admin_id):
        core_harness.clock.advance(5)  # the refresh reads its clock after the change's stamp
        refreshing = asyncio.create_task(
            core_harness.client.post(
                "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
        )
        # It waits for the change, which holds the user's row, instead of reading the roles
        # from before it.
        await core_harness.until_a_statement_waits_on_a_lock()
    response = await refreshing

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["user"]
    # Issued after the change's event, so the apps accept it: it is the token they should.
    assert not await core_harness.apps_refuse(response.json()["access_token"])
