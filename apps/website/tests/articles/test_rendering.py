"""Bodies come back as HTML with no script, no event handler and no dangerous URL, whatever
the Markdown holds."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
import threading
import time
from typing import Any

import pytest

from atriz_core.testing import UserFactory
from atriz_website.articles import rendering

Website = Any  # the `website` fixture's value (conftest.Website)

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java%0ascript:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '[x](https://ok.test "title" onmouseover="alert(1)")',
    "[x]: javascript:alert(1)\n\n[x]",
    "<javascript:alert(1)>",
    "<a href='jav&#x09;ascript:alert(1)'>x</a>",
    "```html\n<script>alert(1)</script>\n```",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<details open ontoggle=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<!-- --><script>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
]

_TAG = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")
_HANDLER = re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)
_URL_ATTRIBUTE = re.compile(r"\b(?:href|src)\s*=\s*\"([^\"]*)\"", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_ALLOWED = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
    "li", "ol", "p", "pre", "strong", "ul",
}  # fmt: skip


def assert_not_executable(html: str) -> None:
    for tag, attributes in _TAG.findall(html):
        assert tag.lower() in _ALLOWED, f"tag {tag} in {html!r}"
        assert not _HANDLER.search(attributes), f"event handler in {html!r}"
        assert "style" not in attributes.lower(), f"style in {html!r}"
        for url in _URL_ATTRIBUTE.findall(attributes):
            # As a browser reads it: entities decoded, tabs and newlines dropped, then the
            # scheme, if any (`java%0ascript:` has none: it is a relative path).
            seen = re.sub(r"[\t\n\r]", "", html_lib.unescape(url)).strip()
            scheme = _SCHEME.match(seen)
            assert scheme is None or scheme[1].lower() in {"http", "https", "mailto"}, (
                f"URL {url!r} in {html!r}"
            )


async def test_xss_payloads_never_come_back_executable(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()

    for payload in XSS_PAYLOADS:
        article = await website.published(author, title="Payload", body=payload, summary=payload)
        read = await website.client.get(f"/articles/{article['slug']}")
        assert read.status_code == 200
        assert read.json()["body"] == payload, "the Markdown source is kept as written"
        assert_not_executable(read.json()["body_html"])
        assert "<script" not in read.json()["body_html"].lower()


async def test_markdown_renders_as_commonmark_with_safe_links(
    website: Website, make_user: UserFactory
) -> None:
    author = await make_user()
    article = await website.create(
        author,
        title="Markdown",
        body="## Title\n\n*em* **strong** `code`\n\n- one\n- two\n\n[site](https://atriz.test)",
    )

    html = article["body_html"]

    assert "<h2>Title</h2>" in html
    assert "<em>em</em>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert '<a href="https://atriz.test" rel="noopener noreferrer nofollow">site</a>' in html


async def test_rendering_a_large_body_leaves_the_event_loop_free(
    website: Website, make_user: UserFactory
) -> None:
    """The parser takes over a second for 100,000 characters of `![`: on the event loop, every
    other request of the worker waited that long (2 s measured between two ticks)."""
    author = await make_user()
    longest = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    posted = await website.client.post(
        "/articles", json={"title": "Brackets", "body": "![" * 50_000}, headers=author.headers
    )
    stop.set()
    await ticking

    assert posted.status_code == 201, posted.text
    assert longest < 0.3, f"the event loop was blocked for {longest:.2f} s"


async def test_no_transaction_waits_for_a_body_to_render(
    website: Website, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered inside the write's transaction, a slow body held a pooled connection and the
    author's hold meanwhile: a few such posts emptied the pool, and the author's deletion
    waited."""
    author = await make_user()
    rendering_now, finish = threading.Event(), threading.Event()
    original = rendering.render_markdown

    def slow(body: str) -> str:
        rendering_now.set()
        finish.wait(10)
        return original(body)

    monkeypatch.setattr(rendering, "render_markdown", slow)
    posting = asyncio.create_task(website.create(author, title="Slow", body="x"))
    assert await asyncio.to_thread(rendering_now.wait, 10)  # set on the renderer's thread
    in_transaction = await website.sql(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'idle in transaction'"
    )
    held = await website.sql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    finish.set()
    await posting

    assert (in_transaction, held) == (0, 0)
