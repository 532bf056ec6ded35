"""Opaque tokens (refresh, e-mail verification, password reset): random, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["hash_token", "new_token"]


def new_token() -> tuple[str, bytes]:
    """A 256-bit random token for the client, and the hash the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    """SHA-256: enough for 256-bit random tokens, which no dictionary can guess.

    Lookup is by this hash in a unique index, so no token is ever compared in Python.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
