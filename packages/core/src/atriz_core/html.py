"""Core's server-rendered pages: one shell, one style, one set of headers, no script.

Every page (the mailed links' pages, the sign-in, consent and sign-out pages, their error pages)
is sent with a Content-Security-Policy that allows no script, no framing (`frame-ancestors
'none'`, and `X-Frame-Options: DENY` for older browsers: no other site can overlay a page of
core's to steal a click) and no form target but core itself, plus the origins a page's form
may be redirected to: browsers apply `form-action` to the redirects that follow a form's post,
so a sign-in that ends at a client's redirect URI needs that origin listed. Pages are never
cached (`Cache-Control: no-store`) and send no referrer.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape

from litestar import Response
from litestar.enums import MediaType

__all__ = ["PAGE_HEADERS", "page", "page_headers", "paragraphs"]

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;"
    "color:#1a1a1a;background:#fff}"
    "label{display:block;margin-top:1rem;font-weight:600}"
    "input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}"
    "button{margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;cursor:pointer}"
    ".hint{color:#444;font-size:.9rem;margin:.25rem 0 0}"
    ".problem{color:#8b0000;border-left:4px solid #8b0000;padding-left:.75rem}"
)
# The one inline style is allowed by its hash, so the policy needs no 'unsafe-inline'.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def page_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """The headers of a page whose forms may post to core and be redirected to the origins
    `form_targets` (`https://app.example`)."""
    targets = " ".join(["'self'", *sorted(set(form_targets))])
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action {targets}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


PAGE_HEADERS: Mapping[str, str] = page_headers()
"""Sent with every page whose forms go nowhere but core."""


def page(
    title: str,
    content: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    form_targets: Iterable[str] = (),
) -> Response[str]:
    """A whole page; `content` is HTML whose every variable part was escaped by the caller."""
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} - Atriz</title>
<style>{_STYLE}</style>
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
        headers={**page_headers(form_targets), **(headers or {})},
    )


def paragraphs(*texts: str) -> str:
    """Each text, escaped, as a paragraph."""
    return "\n".join(f"<p>{escape(text)}</p>" for text in texts)
