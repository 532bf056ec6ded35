"""The `/admin` routes: who may call them, users, roles, and the outbox for the apps."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest

from atriz_core.context import Core
from atriz_core.kit.pagination import CursorCodec, Keyset, cursor_secret_from_signing_key
from atriz_core.standing import get_standing
from atriz_core.testing import TEST_PASSWORD, CoreHarness, beside, running_core
from atriz_core.tokens.keys import rotate_key

ADMIN_ROUTES = [
    ("GET", "/admin/users"),
    ("GET", "/admin/roles"),
    ("POST", "/admin/roles"),
    ("POST", "/admin/users/00000000-0000-0000-0000-000000000000/deactivate"),
    ("POST", "/admin/users/00000000-0000-0000-0000-000000000000/reactivate"),
    ("DELETE", "/admin/users/00000000-0000-0000-0000-000000000000"),
    ("POST", "/admin/users/00000000-0000-0000-0000-000000000000/roles"),
    ("DELETE", "/admin/users/00000000-0000-0000-0000-000000000000/roles/admin"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_refuse_anonymous_and_non_admin_callers(
    core_harness: CoreHarness, method: str, path: str
) -> None:
    await core_harness.register()
    user = core_harness.bearer(await core_harness.login())

    anonymous = await core_harness.client.request(method, path)
    not_admin = await core_harness.client.request(method, path, headers=user)

    assert anonymous.status_code == 401
    assert not_admin.status_code == 403
    assert not_admin.json()["detail"] == "requires role admin"


async def admin_routes_answer(
    core_harness: CoreHarness, headers: dict[str, str], target: str
) -> set[int]:
    """The statuses every admin route gives `headers`, aimed at the user `target`."""
    statuses = set()
    for method, path in ADMIN_ROUTES:
        response = await core_harness.client.request(
            method, path.replace("00000000-0000-0000-0000-000000000000", target), headers=headers
        )
        statuses.add(response.status_code)
    return statuses


async def has_admin(core_harness: CoreHarness, user_id: str) -> bool:
    held: bool = await core_harness.sql_value(
        "SELECT EXISTS (SELECT FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
        " WHERE ur.user_id = $1 AND r.name = 'admin')",
        uuid.UUID(user_id),
    )
    return held


async def test_a_demoted_or_deactivated_admin_loses_the_admin_routes_at_once(
    core_harness: CoreHarness,
) -> None:
    """B's access token still says `admin` after A demotes or deactivates B; the admin routes
    ask the database, so it no longer opens them."""
    a_headers = await core_harness.admin_headers("a@example.test")
    b_headers = await core_harness.admin_headers("b@example.test")
    a = (await core_harness.client.get("/auth/me", headers=a_headers)).json()["id"]
    b = (await core_harness.client.get("/auth/me", headers=b_headers)).json()["id"]

    revoked = await core_harness.client.delete(f"/admin/users/{b}/roles/admin", headers=a_headers)
    assert revoked.status_code == 204

    assert await admin_routes_answer(core_harness, b_headers, a) == {403}
    regrant = await core_harness.client.post(
        f"/admin/users/{b}/roles", json={"role": "admin"}, headers=b_headers
    )
    assert regrant.status_code == 403
    assert regrant.json()["detail"] == "requires role admin"
    assert not await has_admin(core_harness, b)
    assert await core_harness.sql_value("SELECT is_active FROM users WHERE id = $1", uuid.UUID(a))

    granted = await core_harness.client.post(
        f"/admin/users/{b}/roles", json={"role": "admin"}, headers=a_headers
    )
    assert granted.status_code == 204
    assert (await core_harness.client.get("/admin/roles", headers=b_headers)).status_code == 200

    deactivated = await core_harness.client.post(f"/admin/users/{b}/deactivate", headers=a_headers)
    assert deactivated.status_code == 204

    assert await admin_routes_answer(core_harness, b_headers, a) == {401}
    for own in (f"/admin/users/{b}/reactivate", f"/admin/users/{a}/deactivate"):
        refused = await core_harness.client.post(own, headers=b_headers)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "the account is deactivated or deleted"
    assert not await core_harness.sql_value(
        "SELECT is_active FROM users WHERE id = $1", uuid.UUID(b)
    )
    assert await core_harness.sql_value("SELECT is_active FROM users WHERE id = $1", uuid.UUID(a))
    assert (await core_harness.client.get("/admin/users", headers=a_headers)).status_code == 200


async def test_a_deleted_admin_loses_the_admin_routes(core_harness: CoreHarness) -> None:
    a_headers = await core_harness.admin_headers("a@example.test")
    b_headers = await core_harness.admin_headers("b@example.test")
    b = (await core_harness.client.get("/auth/me", headers=b_headers)).json()["id"]

    deleted = await core_harness.client.delete(f"/admin/users/{b}", headers=a_headers)

    assert deleted.status_code == 204
    assert (await core_harness.client.get("/admin/users", headers=b_headers)).status_code == 401


async def test_an_admin_token_stops_at_the_admin_routes_once_its_session_ends(
    core_harness: CoreHarness,
) -> None:
    """A stolen access token of an administrator: once its session is signed out, the admin
    routes refuse it at once (the apps keep accepting such a token until it expires, as no
    user event tells them of one session's end)."""
    await core_harness.admin_headers()  # root@example.test, an administrator
    pair = await core_harness.login(email="root@example.test")
    stolen = core_harness.bearer(pair)
    victim = await core_harness.register(email="eve@example.test", name="Eve")

    out = await core_harness.client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}
    )
    assert out.status_code == 204

    listed = await core_harness.client.get("/admin/users", headers=stolen)
    assert listed.status_code == 401
    assert listed.json()["detail"] == "the session has ended; sign in again"
    assert listed.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    granted = await core_harness.client.post(
        f"/admin/users/{victim['id']}/roles", json={"role": "admin"}, headers=stolen
    )
    assert granted.status_code == 401
    assert not await has_admin(core_harness, victim["id"])


async def test_core_refuses_a_token_whose_user_signed_out_everywhere_at_once(
    core_harness: CoreHarness,
) -> None:
    """After "sign out everywhere", a stolen access token stops working at every route of core
    that acts for a signed-in user, at once: each asks whether the token's session is open (the
    apps refuse it within seconds, from `user_events`). A new sign-in in the same second works
    at core at once."""
    stolen = await core_harness.admin_headers()
    own = core_harness.bearer(await core_harness.login(email="root@example.test"))
    victim = await core_harness.register(email="eve@example.test", name="Eve")

    out = await core_harness.client.post("/auth/logout-all", headers=own)
    assert out.status_code == 204

    assert await core_harness.apps_refuse(stolen["Authorization"].split()[1])
    for method, path in (
        ("GET", "/auth/me"),
        ("GET", "/oauth/userinfo"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/verify-email/request"),
        ("GET", "/admin/users"),
    ):
        refused = await core_harness.client.request(method, path, headers=stolen)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["detail"] == "the session has ended; sign in again"
    granted = await core_harness.client.post(
        f"/admin/users/{victim['id']}/roles", json={"role": "admin"}, headers=stolen
    )
    assert granted.status_code == 401
    assert not await has_admin(core_harness, victim["id"])
    fresh = core_harness.bearer(await core_harness.login(email="root@example.test"))
    assert (await core_harness.client.get("/admin/users", headers=fresh)).status_code == 200
    assert (await core_harness.client.get("/auth/me", headers=fresh)).status_code == 200


async def test_the_admin_check_is_one_statement(core_harness: CoreHarness) -> None:
    headers = await core_harness.admin_headers()
    me = uuid.UUID((await core_harness.client.get("/auth/me", headers=headers)).json()["id"])
    claims = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    connection = await beside(core_harness.settings.database_url)
    statements: list[str] = []
    connection.add_query_logger(lambda record: statements.append(record.query))
    try:
        now = core_harness.clock.now()
        standing = await get_standing(connection, me, uuid.UUID(claims["sid"]), now)
        elsewhere = await get_standing(connection, me, uuid.uuid4(), now)
        over = await get_standing(
            connection, me, uuid.UUID(claims["sid"]), now + timedelta(days=31)
        )
        stranger = await get_standing(connection, uuid.uuid4(), uuid.uuid4(), now)
    finally:
        await connection.close()

    assert len(statements) == 4
    assert (standing.active, standing.admin, standing.session_open) == (True, True, True)
    assert (elsewhere.active, elsewhere.admin, elsewhere.session_open) == (True, True, False)
    assert (over.active, over.admin, over.session_open) == (True, True, False)
    assert (stranger.active, stranger.admin, stranger.session_open) == (False, False, False)


async def list_pages(
    core_harness: CoreHarness, headers: dict[str, str], limit: int, **params: str
) -> list[list[str]]:
    """The e-mails of every page of `/admin/users`, following `next_cursor` to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = await core_harness.client.get("/admin/users", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append([user["email"] for user in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_list_users_page_by_page_oldest_first(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    for n in range(5):
        await core_harness.register(email=f"user{n}@example.test", name=f"User_{n}")

    pages = await list_pages(core_harness, admin, 2)
    everyone = (await core_harness.client.get("/admin/users", headers=admin)).json()

    assert pages == [
        ["root@example.test", "user0@example.test"],
        ["user1@example.test", "user2@example.test"],
        ["user3@example.test", "user4@example.test"],
    ]
    assert len(everyone["items"]) == 6  # the default limit, 50, holds them all
    assert everyone["next_cursor"] is None
    assert [u["roles"] for u in everyone["items"][:2]] == [["admin", "user"], ["user"]]


async def test_users_created_at_the_same_instant_are_each_listed_once(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()
    for n in range(6):
        await core_harness.register(email=f"user{n}@example.test", name=f"User_{n}")
    await core_harness.sql_value("UPDATE users SET created_at = '2026-01-01T00:00:00Z'")
    by_id = await core_harness.sql_rows("SELECT email FROM users ORDER BY id")

    pages = await list_pages(core_harness, admin, 2)

    assert [email for page in pages for email in page] == [row["email"] for row in by_id]
    assert [len(page) for page in pages] == [2, 2, 2, 1]


async def test_search_users_page_by_page(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    for n in range(5):
        await core_harness.register(email=f"user{n}@example.test", name=f"User_{n}")

    matching = await list_pages(core_harness, admin, 2, q="USER")
    found = await list_pages(core_harness, admin, 2, q="USER3")
    # `_` is matched literally, not as LIKE's one-character wildcard ("Root" has no "r_").
    underscore = await list_pages(core_harness, admin, 50, q="r_")

    assert matching == [
        ["user0@example.test", "user1@example.test"],
        ["user2@example.test", "user3@example.test"],
        ["user4@example.test"],
    ]
    assert found == [["user3@example.test"]]
    assert len(underscore[0]) == 5


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "q=" + "x" * 201,
        "q=a%00b",  # PostgreSQL's text cannot hold NUL
        "cursor=garbage",
        "cursor=" + "A" * 1025,
    ],
)
async def test_bad_pagination_names_the_parameter(core_harness: CoreHarness, query: str) -> None:
    admin = await core_harness.admin_headers()
    response = await core_harness.client.get(f"/admin/users?{query}", headers=admin)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


async def first_cursor(core_harness: CoreHarness, headers: dict[str, str]) -> str:
    await core_harness.register()
    page = await core_harness.client.get("/admin/users?limit=1", headers=headers)
    cursor: str = page.json()["next_cursor"]
    return cursor


async def test_an_edited_or_foreign_cursor_is_refused(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    cursor = await first_cursor(core_harness, admin)
    edited = cursor[:10] + ("B" if cursor[10] == "A" else "A") + cursor[11:]
    core: Core = core_harness.app.state.core
    secret = cursor_secret_from_signing_key(core.keyring.current.private_key.private_bytes_raw())
    other_list = CursorCodec(secret).encode(
        Keyset("core.admin.roles.by_name", ("r.name",)), ("admin",)
    )

    for bad, reason in [(edited, "was altered"), (other_list, "another list or ordering")]:
        response = await core_harness.client.get(
            "/admin/users", params={"cursor": bad}, headers=admin
        )
        assert response.status_code == 400
        (problem,) = response.json()["errors"]
        assert problem["field"] == "cursor"
        assert reason in problem["reason"]
    follows = await core_harness.client.get(
        "/admin/users", params={"cursor": cursor}, headers=admin
    )
    assert [u["email"] for u in follows.json()["items"]] == ["ana@example.test"]


async def test_a_signing_key_rotation_ends_open_cursors(core_harness: CoreHarness) -> None:
    """Core's cursor secret is derived from its signing key: after a rotation the list starts
    again from its first page."""
    admin = await core_harness.admin_headers()
    cursor = await first_cursor(core_harness, admin)
    rotate_key(core_harness.settings.signing_key_dir)

    async with running_core(core_harness.settings) as rotated:
        headers = rotated.bearer(await rotated.login("root@example.test"))
        stale = await rotated.client.get("/admin/users", params={"cursor": cursor}, headers=headers)
        again = await rotated.client.get("/admin/users", headers=headers)

    assert stale.status_code == 400
    assert stale.json()["errors"][0]["field"] == "cursor"
    assert again.status_code == 200


async def test_openapi_shows_the_user_page_and_the_bounds_of_limit(
    core_harness: CoreHarness,
) -> None:
    schema = (await core_harness.client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/admin/users"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
    page = schema["components"]["schemas"]["UserPage"]

    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserPage"
    }
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/UserSummary"}
    assert set(page["properties"]) == {"items", "next_cursor"}
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 50)


async def test_deactivate_ends_sessions_and_records_a_user_event(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()
    user = await core_harness.register()
    session = await core_harness.login()

    response = await core_harness.client.post(
        f"/admin/users/{user['id']}/deactivate", headers=admin
    )

    assert response.status_code == 204
    refreshed = await core_harness.client.post(
        "/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    login = await core_harness.client.post(
        "/auth/login", json={"email": "ana@example.test", "password": TEST_PASSWORD}
    )
    assert login.status_code == 401
    events = await core_harness.sql_rows("SELECT user_id::text, event_type FROM user_events")
    assert [tuple(e) for e in events] == [(user["id"], "deactivated")]

    again = await core_harness.client.post(f"/admin/users/{user['id']}/reactivate", headers=admin)
    assert again.status_code == 204
    await core_harness.login()
    events = await core_harness.sql_rows("SELECT event_type FROM user_events ORDER BY id")
    assert [e["event_type"] for e in events] == ["deactivated", "reactivated"]


async def test_delete_is_soft_and_recorded(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    user = await core_harness.register()

    response = await core_harness.client.delete(f"/admin/users/{user['id']}", headers=admin)

    assert response.status_code == 204
    (row,) = await core_harness.sql_rows(
        "SELECT is_active, deleted_at FROM users WHERE id = $1", user["id"]
    )
    assert row["is_active"] is False
    assert row["deleted_at"] is not None
    gone = await core_harness.client.delete(f"/admin/users/{user['id']}", headers=admin)
    assert gone.status_code == 404


async def test_an_admin_cannot_lock_themselves_out(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    me = (await core_harness.client.get("/auth/me", headers=admin)).json()

    deactivate = await core_harness.client.post(
        f"/admin/users/{me['id']}/deactivate", headers=admin
    )
    revoke = await core_harness.client.delete(f"/admin/users/{me['id']}/roles/admin", headers=admin)

    assert deactivate.status_code == 409
    assert revoke.status_code == 409


async def test_roles_can_be_created_granted_and_revoked(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    user = await core_harness.register()

    created = await core_harness.client.post(
        "/admin/roles", json={"name": "pshop.auditor", "description": "Reads sales"}, headers=admin
    )
    duplicate = await core_harness.client.post(
        "/admin/roles", json={"name": "pshop.auditor"}, headers=admin
    )
    granted = await core_harness.client.post(
        f"/admin/users/{user['id']}/roles", json={"role": "pshop.auditor"}, headers=admin
    )
    tokens = await core_harness.login()
    me = (await core_harness.client.get("/auth/me", headers=core_harness.bearer(tokens))).json()

    assert created.status_code == 201
    assert created.json()["name"] == "pshop.auditor"
    assert duplicate.status_code == 409
    assert granted.status_code == 204
    assert me["roles"] == ["pshop.auditor", "user"]
    names = [
        r["name"] for r in (await core_harness.client.get("/admin/roles", headers=admin)).json()
    ]
    assert "pshop.auditor" in names
    assert "admin" in names

    revoked = await core_harness.client.delete(
        f"/admin/users/{user['id']}/roles/pshop.auditor", headers=admin
    )
    missing = await core_harness.client.delete(
        f"/admin/users/{user['id']}/roles/pshop.auditor", headers=admin
    )
    assert revoked.status_code == 204
    assert missing.status_code == 404
    audit = await core_harness.sql_rows(
        "SELECT event_type FROM auth_events WHERE actor_id IS NOT NULL ORDER BY id"
    )
    assert [a["event_type"] for a in audit] == ["role_created", "role_granted", "role_revoked"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Admin"}, "name"),
        ({"name": "pshop.manager.extra"}, "name"),
        ({"name": "a" * 82}, "name"),
        ({"name": "ok", "description": "d" * 501}, "description"),
        ({}, "name"),
    ],
)
async def test_bad_role_names_are_refused(
    core_harness: CoreHarness, body: dict[str, Any], field: str
) -> None:
    admin = await core_harness.admin_headers()
    response = await core_harness.client.post("/admin/roles", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


async def test_granting_to_unknown_users_or_roles_is_404(core_harness: CoreHarness) -> None:
    admin = await core_harness.admin_headers()
    user = await core_harness.register()

    no_user = await core_harness.client.post(
        "/admin/users/00000000-0000-0000-0000-000000000000/roles",
        json={"role": "admin"},
        headers=admin,
    )
    no_role = await core_harness.client.post(
        f"/admin/users/{user['id']}/roles", json={"role": "nope"}, headers=admin
    )
    bad_id = await core_harness.client.post("/admin/users/not-a-uuid/deactivate", headers=admin)

    assert no_user.status_code == 404
    assert no_role.status_code == 404
    assert bad_id.status_code in {400, 404}
