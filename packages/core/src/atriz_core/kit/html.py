"""Server-rendered pages for any service: one look, no script, strict headers.

`html_page(title, content)` wraps `content` (HTML whose every variable part the caller escaped
with `escape`) in a whole page, sent with a Content-Security-Policy that allows no script, no
framing and no form target but this service (plus `extra_form_actions`, for a form that posts
to core), `Referrer-Policy: no-referrer` and `Cache-Control: no-store`, so that a page showing
a user's data is kept by no shared cache.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from html import escape

from litestar import Response
from litestar.enums import MediaType

__all__ = ["PAGE_HEADERS", "escape", "html_page", "paragraphs"]

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
    "color:#1a1a1a;background:#fff}"
    "label{display:block;margin-top:1rem;font-weight:600}"
    "input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}"
    "button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;cursor:pointer}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;"
    "border-bottom:1px solid #ddd}"
    ".hint{color:#444;font-size:.9rem;margin:.25rem 0 0}"
    ".problem{color:#8b0000;border-left:4px solid #8b0000;padding-left:.75rem}"
)
# The one inline style is allowed by its hash, so the policy needs no 'unsafe-inline'.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def page_headers(extra_form_actions: Sequence[str] = ()) -> dict[str, str]:
    """The headers of every page; `extra_form_actions` are origins its forms may post to."""
    form_action = " ".join(("'self'", *extra_form_actions))
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


PAGE_HEADERS: Mapping[str, str] = page_headers()
"""Sent with every page that posts only to its own service."""


def html_page(
    title: str,
    content: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    extra_form_actions: Sequence[str] = (),
) -> Response[str]:
    """A whole page; `content` is HTML whose every variable part was escaped by the caller."""
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} - Atriz</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
{content}
</main>
</body>
</html>
"""
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers={**page_headers(extra_form_actions), **(headers or {})},
    )


def paragraphs(*texts: str) -> str:
    """Plain texts as escaped paragraphs."""
    return "\n".join(f"<p>{escape(text)}</p>" for text in texts)
