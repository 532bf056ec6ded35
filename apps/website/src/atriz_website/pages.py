"""The website's page for browsers: the signed-in user's profile and their articles."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from atriz_core.client.litestar import PUBLIC
from atriz_core.kit.browser_sign_in import app_page, sign_in_redirect, signed_in_user
from atriz_core.kit.database import DbConnection, SharedDb
from atriz_core.kit.html import escape
from atriz_core.kit.pagination_params import cursors_of
from atriz_website.articles import services as articles
from atriz_website.profiles import services as profiles

PAGE_SIZE = 20


@get("/", opt=PUBLIC, include_in_schema=False)
async def home(
    request: Request[Any, Any, Any], conn: DbConnection, shared_conn: SharedDb
) -> Response[Any]:
    """Your profile and your articles (signed in through core; otherwise off to sign in)."""
    user = await signed_in_user(request, conn)
    if user is None:
        return sign_in_redirect(request)
    profile = await profiles.get_own_profile(conn, shared_conn, user.id)
    page = await articles.list_my_articles(
        conn,
        cursors_of(request),
        user,
        author=user.id,
        status=None,
        limit=PAGE_SIZE,
        cursor=None,
    )
    rows = "\n".join(
        f"<tr><td>{escape(article.title)}</td><td>{escape(article.status)}</td>"
        f"<td>{article.published_at:%Y-%m-%d}</td></tr>"
        if article.published_at
        else f"<tr><td>{escape(article.title)}</td><td>{escape(article.status)}</td><td></td></tr>"
        for article in page.items
    )
    content = (
        f"<h2>{escape(profile.display_name)}</h2>\n"
        f"<p>{escape(profile.bio) or 'No bio yet.'}</p>\n"
        "<h2>Your articles</h2>\n"
        + (
            f"<table><tr><th>Title</th><th>Status</th><th>Published</th></tr>\n{rows}</table>"
            if rows
            else "<p>You have written no articles yet.</p>"
        )
    )
    return app_page(request, user, "Atriz website", content)
