"""Opaque tokens (refresh, e-mail verification, password reset): random, stored only as hashes;
and the constant-time check of a token a browser echoes back (a CSRF token, a sign-in's state)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_token", "new_token", "same_token"]


def new_token() -> tuple[str, bytes]:
    """A 256-bit random token for the client, and the hash the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    """SHA-256: enough for 256-bit random tokens, which no dictionary can guess.

    Lookup is by this hash in a unique index, so no token is ever compared in Python.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def same_token(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, in constant time. Compared as bytes: `hmac.compare_digest`
    raises TypeError for a `str` holding anything but ASCII, which anyone can send (a 500)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
