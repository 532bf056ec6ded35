"""Core's protected routes, through the same kit helpers as every app's: every bad token is a
401 on every one of them, and the admin routes answer each kind of caller as they should."""

from __future__ import annotations

from atriz_core.testing import (
    CoreHarness,
    TokenMinter,
    UserFactory,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    make_actors,
)


async def test_every_protected_route_of_core_refuses_bad_tokens(
    core_harness: CoreHarness, token_minter: TokenMinter
) -> None:
    # Core accepts a token for any of the apps; the bad tokens are made from one app's (core's
    # key, "pshop" only), so that "another app's audience" is one core does not accept.
    one_app = TokenMinter(token_minter.issuer, ("pshop",), key=token_minter.key)

    checked = await assert_every_route_rejects_bad_tokens(
        core_harness.client, core_harness.app, one_app, audience="pshop"
    )

    paths = {route.path for route in checked}
    assert {"/auth/me", "/auth/logout-all", "/auth/password", "/admin/users"} <= paths
    assert "/auth/login" not in paths  # for signed-out callers


async def test_admin_routes_answer_each_kind_of_caller(
    core_harness: CoreHarness, make_user: UserFactory
) -> None:
    actors = await make_actors(make_user, roles=("admin", "pshop.manager"))

    await assert_authorization_matrix(
        core_harness.client,
        "GET",
        "/admin/roles",
        {"anonymous": 401, "owner": 403, "other_user": 403, "pshop.manager": 403, "admin": 200},
        actors,
    )
