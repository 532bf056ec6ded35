"""Markdown bodies to HTML that is safe to put in a page, and search snippets likewise.

Two well-kept libraries, each doing what it is good at: markdown-it-py (the CommonMark reference
parser's port) renders, with raw HTML turned off, so that `<script>` in a body is text, not a
tag; its link check already refuses `javascript:`, `vbscript:`, `file:` and `data:` URLs. nh3
(Rust's Ammonia) then sanitises the result against an allow-list of tags, attributes and URL
schemes, so that even a renderer bug or a future plugin cannot let an event handler, a script
or a `javascript:` URL through. The HTML is rendered once, when an article is written, and
stored beside its Markdown.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import nh3
from markdown_it import MarkdownIt

__all__ = ["clean_snippet", "render_markdown", "rendered"]

# What CommonMark produces, and nothing else.
_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
    "li", "ol", "p", "pre", "strong", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},  # `language-python` on fenced code, for a highlighter
}
_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False})
_cleaner = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)
_snippet_cleaner = nh3.Cleaner(
    tags={"mark"}, clean_content_tags={"script", "style"}, attributes={}, url_schemes=set()
)


def render_markdown(body: str) -> str:
    """The body's HTML: rendered as CommonMark without raw HTML, then sanitised."""
    return _cleaner.clean(_markdown.render(body))


def clean_snippet(snippet: str) -> str:
    """A search snippet (`ts_headline` over the Markdown source, hits in `<mark>`) as safe HTML:
    only `<mark>` survives; any other markup in the source is dropped and text is escaped."""
    return _snippet_cleaner.clean(snippet)


# One thread: renders queue behind each other, and one at a time shares the GIL with the loop.
_renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="markdown")


async def rendered(body: str) -> str:
    """`render_markdown` off the event loop: the pure-Python parser takes over a second for
    some bodies of the largest size allowed (100,000 characters of `![`), which every other
    request of the worker would otherwise wait out. Called before the request takes a pooled
    connection (`kit.database.db_connection`): a few such renders would hold them all."""
    return await asyncio.get_running_loop().run_in_executor(_renderer, render_markdown, body)
