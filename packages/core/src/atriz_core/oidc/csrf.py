"""CSRF protection of core's forms: a signed double-submit token (OWASP).

A random value goes into a cookie (`SameSite=Strict`, `HttpOnly`); the form carries an HMAC of
it under a key only core holds (derived from its signing key, like the cursor secret). Another
site can make a browser post to core, but it can read neither the cookie nor a page of core's,
so it cannot supply the matching field; and unlike a plain double submit, a cookie planted by a
neighbouring host is of no use without core's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atriz_core.tokens.opaque import same_token

__all__ = ["CsrfTokens"]

_INFO = b"atriz csrf"


class CsrfTokens:
    """Makes and checks the cookie and the form field."""

    def __init__(self, signing_key: bytes, *, also: Sequence[bytes] = ()) -> None:
        """Tokens made with `signing_key`'s secret, and accepted also from those of `also`:
        the other key core holds, with which a core process that has not loaded the newest key
        yet (a rollout) makes its tokens, or did before the newest became current."""
        self._key, *others = (_derived(key) for key in (signing_key, *also))
        self._keys = [self._key, *others]

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    def form_token(self, cookie: str) -> str:
        return _token(self._key, cookie)

    def valid(self, cookie: str | None, token: str | None) -> bool:
        """Whether the form's `token` goes with the browser's `cookie` (constant time)."""
        if not cookie or not token or len(cookie) > 100:
            return False
        matches = [same_token(token, _token(key, cookie)) for key in self._keys]
        return any(matches)


def _derived(signing_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(signing_key)


def _token(key: bytes, cookie: str) -> str:
    digest = hmac.new(key, cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
