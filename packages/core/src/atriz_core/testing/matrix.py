"""The authorization matrix: one request sent as each kind of caller, every status checked.

    actors = await make_actors(make_user, roles=("pshop.manager", "pshop.cashier"))
    product = await create_product(client, actors["owner"])
    await assert_authorization_matrix(
        client, "DELETE", f"/products/{product['id']}",
        {"anonymous": 401, "other_user": 403, "pshop.cashier": 403, "pshop.manager": 204},
        actors,
    )

Actors are `TestUser`s; `anonymous` sends no token. The request is sent as each actor in the
order of `expected`, so put the actor whose request changes the resource last, or pass `path` as
an async function that makes a fresh resource for each actor. Every mismatch is reported in one
assertion, so one run shows the whole matrix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from httpx import AsyncClient

from atriz_core.testing.users import TestUser, UserFactory

__all__ = [
    "ANONYMOUS",
    "OTHER_USER",
    "OWNER",
    "Actors",
    "assert_authorization_matrix",
    "make_actors",
]

ANONYMOUS = "anonymous"
OWNER = "owner"
OTHER_USER = "other_user"

Actors = Mapping[str, TestUser | None]
"""Actor name -> the user it acts as (None: no token)."""


async def make_actors(
    make_user: UserFactory, roles: Sequence[str] = ()
) -> dict[str, TestUser | None]:
    """`anonymous`, `owner` and `other_user` (plain users), and one user per role in `roles`,
    named after it."""
    actors: dict[str, TestUser | None] = {
        ANONYMOUS: None,
        OWNER: await make_user(),
        OTHER_USER: await make_user(),
    }
    for role in roles:
        actors[role] = await make_user(roles=(role,))
    return actors


async def assert_authorization_matrix(
    client: AsyncClient,
    method: str,
    path: str | Callable[[], Awaitable[str]],
    expected: Mapping[str, int],
    actors: Actors,
    **request: Any,
) -> None:
    """Send `method path` (with `request`'s `json=`, `params=` ...) as each actor of `expected`
    and compare the status with the one expected; list every mismatch in one assertion.

    `path` may be an async function returning the path: it is called once per actor, for
    routes whose success changes what the next actor would find."""
    unknown = [name for name in expected if name != ANONYMOUS and name not in actors]
    assert not unknown, f"no actor named {', '.join(unknown)} (known: {', '.join(actors)})"
    extra_headers = dict(request.pop("headers", None) or {})
    mismatches = []
    shown = path if isinstance(path, str) else "<fresh path per actor>"
    for name, status in expected.items():
        actor = actors.get(name)
        url = path if isinstance(path, str) else await path()
        headers = {**extra_headers, **(actor.headers if actor is not None else {})}
        response = await client.request(method, url, headers=headers, **request)
        if response.status_code != status:
            mismatches.append(
                f"  {name}: expected {status}, got {response.status_code} {response.text[:160]}"
            )
    assert not mismatches, (
        f"authorization matrix of {method} {shown}: {len(mismatches)} of {len(expected)}"
        " actors got another status\n" + "\n".join(mismatches)
    )
