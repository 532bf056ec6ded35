"""Ed25519 signing keys: loading, generating in development, rotating, and the public JWKS."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atriz_database import ConfigurationError, Environment

__all__ = ["KeyRing", "SigningKey", "load_keyring", "rotate_key"]

# JWKS publishes the current key and the one before it, so tokens signed just before a rotation
# stay verifiable until they expire.
PUBLISHED_KEYS = 2


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key pair; `kid` is its RFC 7638 JWK thumbprint."""

    private_key: Ed25519PrivateKey

    # Cached: `kid` goes into every access token, and deriving it means serialising the public
    # key and hashing its JWK, on the login hot path.
    @cached_property
    def public_x(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _b64url(raw)

    @cached_property
    def kid(self) -> str:
        canonical = json.dumps(
            {"crv": "Ed25519", "kty": "OKP", "x": self.public_x}, separators=(",", ":")
        )
        return _b64url(hashlib.sha256(canonical.encode()).digest())

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x,
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    @classmethod
    def from_pem(cls, pem: bytes, source: str) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{source} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{source} is not an Ed25519 key")
        return cls(key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class KeyRing:
    """Signing keys, newest first: the first signs, the first two are published."""

    keys: tuple[SigningKey, ...]

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys[:PUBLISHED_KEYS]]}


def _write_key(folder: Path, key: SigningKey) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}.pem"
    # O_EXCL: never overwrite a key; 0600: the private key is for this user only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.to_pem())
    return path


def load_keyring(*, pem: str | None, folder: Path, environment: Environment) -> KeyRing:
    """The signing keys from `CORE_SIGNING_KEY`, else the key folder (names sort by age).

    Outside production an empty folder gets a newly generated key, reused from then on; in
    production no key is an error.
    """
    if pem:
        return KeyRing((SigningKey.from_pem(pem.encode(), "CORE_SIGNING_KEY"),))
    paths = _key_files(folder)
    if not paths:
        if environment is Environment.PRODUCTION:
            raise ConfigurationError(
                f"no signing key: set CORE_SIGNING_KEY or put a key in {folder}"
                " (`uv run atriz keys rotate`)"
            )
        paths = _generate_first_key(folder)
    return KeyRing(tuple(SigningKey.from_pem(p.read_bytes(), str(p)) for p in paths))


def _key_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pem"), reverse=True) if folder.is_dir() else []


def _generate_first_key(folder: Path) -> list[Path]:
    # Several workers start at once: the first one to take the lock generates the key, the
    # others find it, so every worker signs with the same key.
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _key_files(folder):
            _write_key(folder, SigningKey(Ed25519PrivateKey.generate()))
        return _key_files(folder)


def rotate_key(folder: Path) -> Path:
    """Add a new current key; the previous one stays published until the next rotation."""
    return _write_key(folder, SigningKey(Ed25519PrivateKey.generate()))
