"""The kit's security helpers over every route: bad tokens, the authorization matrix, and
fuzzing the OpenAPI document with a real token."""

from __future__ import annotations

from typing import Any

import pytest

from atriz_core.testing import (
    TokenMinter,
    UserFactory,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    assert_openapi_fuzzing_passes,
    make_actors,
)
from atriz_website.settings import SERVICE

Website = Any  # the `website` fixture's value (conftest.Website)
EDITOR = "website.editor"
PROTECTED = {
    "GET /profiles/me",
    "PUT /profiles/me",
    "POST /articles",
    "GET /articles/manage",
    "GET /articles/manage/{article_id}",
    "PUT /articles/{article_id}",
    "DELETE /articles/{article_id}",
    "POST /articles/{article_id}/publish",
    "POST /articles/{article_id}/archive",
}


async def test_every_protected_route_refuses_bad_tokens_and_public_ones_need_none(
    website: Website, token_minter: TokenMinter
) -> None:
    routes = await assert_every_route_rejects_bad_tokens(
        website.client, website.app, token_minter, SERVICE
    )

    checked = {str(route) for route in routes}
    assert checked == PROTECTED, checked
    for path in (
        "/articles",
        "/articles/anything",
        "/profiles/5eed0000-0000-4000-8000-000000000005",
    ):
        assert (await website.client.get(path)).status_code in (200, 404)


async def test_the_authorization_matrix(website: Website, make_user: UserFactory) -> None:
    actors = await make_actors(make_user, roles=(EDITOR, "admin"))
    owner = actors["owner"]
    assert owner is not None
    writers = {"anonymous": 401, "owner": 200, "other_user": 403, EDITOR: 200, "admin": 200}

    async def live_article() -> str:
        return f"/articles/{(await website.published(owner, title='Live'))['id']}"

    async def draft() -> str:
        return f"/articles/{(await website.create(owner, title='Draft'))['id']}"

    async def draft_to_manage() -> str:
        return f"/articles/manage/{(await website.create(owner, title='Draft'))['id']}"

    version_2 = {"If-Match": '"2"'}
    await assert_authorization_matrix(
        website.client, "PUT", live_article, writers, actors, json={"title": "X"}, headers=version_2
    )
    await assert_authorization_matrix(
        website.client, "DELETE", live_article, {**writers, "owner": 204, EDITOR: 204,
        "admin": 204}, actors, headers=version_2
    )  # fmt: skip

    async def live_archive() -> str:
        return f"{await live_article()}/archive"

    await assert_authorization_matrix(
        website.client, "POST", live_archive, writers, actors, headers=version_2
    )

    async def draft_publish() -> str:
        return f"{await draft()}/publish"

    await assert_authorization_matrix(
        website.client,
        "POST",
        draft_publish,
        {**writers, "other_user": 404},
        actors,
        headers={"If-Match": '"1"'},
    )
    await assert_authorization_matrix(
        website.client,
        "GET",
        draft_to_manage,
        {"anonymous": 401, "owner": 200, "other_user": 404, EDITOR: 200, "admin": 200},
        actors,
    )
    everyone = {"anonymous": 401, "owner": 200, "other_user": 200, EDITOR: 200}
    await assert_authorization_matrix(website.client, "GET", "/profiles/me", everyone, actors)
    await assert_authorization_matrix(website.client, "GET", "/articles/manage", everyone, actors)
    await assert_authorization_matrix(
        website.client,
        "POST",
        "/articles",
        {"anonymous": 401, "owner": 201, "other_user": 201, EDITOR: 201},
        actors,
        json={"title": "New"},
    )
    public = {"anonymous": 200, "owner": 200, "other_user": 200}
    await assert_authorization_matrix(website.client, "GET", "/articles", public, actors)


@pytest.mark.slow
async def test_the_openapi_passes_fuzzing_with_a_real_token(
    website: Website, make_user: UserFactory
) -> None:
    editor = await make_user(roles=(EDITOR,))
    await website.published(editor, title="Something to find")

    await assert_openapi_fuzzing_passes(website.client, headers=editor.headers, max_examples=15)
