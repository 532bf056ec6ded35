"""Signing keys: loading, generating in development, rotating, and the public JWKS.

Two kinds, each in a folder of its own: Ed25519 keys (`SigningKey`) sign the access tokens, and
RSA keys (`RsaSigningKey`) sign OpenID Connect ID tokens with RS256, the one algorithm every
OpenID client must support. Both kinds are handled alike. A key file is named after the UTC time
it was made (`20260101T120000000000Z.pem`); the newest is the current key, which signs. After a
rotation the one before it only verifies, and is published only as long as a token it signed may
still be valid: until the current key's time, plus the access-token lifetime, plus the most
leeway a verifier allows past `exp`. Older files are never loaded. `CORE_SIGNING_KEY`
(`CORE_ID_TOKEN_KEY` for the RSA key: a PEM in the environment) is one key and nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atriz_core.settings import MAX_ACCESS_TOKEN_SECONDS
from atriz_database import ConfigurationError, Environment

__all__ = [
    "PREVIOUS_KEY_LEEWAY_SECONDS",
    "KeyRing",
    "PublishedKeys",
    "RsaSigningKey",
    "SigningKey",
    "load_id_token_keyring",
    "load_keyring",
    "previous_key_published_until",
    "rotate_key",
]

# A verifier accepts a token up to this long past its `exp` (`client.verifier.MAX_LEEWAY_SECONDS`):
# the previous key stays published that much longer than its last token lives.
PREVIOUS_KEY_LEEWAY_SECONDS = 60
_STAMP = "%Y%m%dT%H%M%S%fZ"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _thumbprint(members: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the key's required members, sorted, without whitespace."""
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


class Key(Protocol):
    """What a key ring needs of a key of either kind."""

    purpose: str
    """What keys of this kind sign, for messages."""

    @property
    def kid(self) -> str: ...

    def public_jwk(self) -> dict[str, str]: ...

    def to_pem(self) -> bytes: ...

    @classmethod
    def from_pem(cls, pem: bytes, source: str) -> Self: ...

    @classmethod
    def generate(cls) -> Self: ...


K = TypeVar("K", bound=Key)


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key pair, which signs access tokens; `kid` is its RFC 7638 JWK thumbprint."""

    private_key: Ed25519PrivateKey
    purpose = "access tokens (Ed25519)"

    # Cached: `kid` goes into every access token, and deriving it means serialising the public
    # key and hashing its JWK, on the login hot path.
    @cached_property
    def public_x(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _b64url(raw)

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def kid(self) -> str:
        return _thumbprint({"crv": "Ed25519", "kty": "OKP", "x": self.public_x})

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

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def to_pem(self) -> bytes:
        return _pem(self.private_key)


def _pem(key: Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


RSA_KEY_BITS = 2048
"""RFC 7518's minimum for RS256, and what OpenID providers commonly use: every ID token costs a
signature, which at 3072 bits takes about three times as long (and a key eight times as long to
make). Rotate the key (`atriz keys rotate --id-token`) rather than grow it."""


@dataclass(frozen=True)
class RsaSigningKey:
    """One RSA key pair, which signs ID tokens (RS256); `kid` is its RFC 7638 thumbprint."""

    private_key: rsa.RSAPrivateKey
    purpose = "ID tokens (RSA)"

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @cached_property
    def _public_members(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()
        return {"e": _b64url_int(numbers.e), "kty": "RSA", "n": _b64url_int(numbers.n)}

    @cached_property
    def kid(self) -> str:
        return _thumbprint(self._public_members)

    def public_jwk(self) -> dict[str, str]:
        return {**self._public_members, "kid": self.kid, "use": "sig", "alg": "RS256"}

    @classmethod
    def from_pem(cls, pem: bytes, source: str) -> RsaSigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{source} is not a PEM private key") from exc
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ConfigurationError(f"{source} is not an RSA key of at least 2048 bits")
        return cls(key)

    @classmethod
    def generate(cls) -> RsaSigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS))

    def to_pem(self) -> bytes:
        return _pem(self.private_key)


def previous_key_published_until(current_since: datetime, access_token_seconds: int) -> datetime:
    """When the last token the previous key can have signed has expired for every verifier."""
    return current_since + timedelta(seconds=access_token_seconds + PREVIOUS_KEY_LEEWAY_SECONDS)


@dataclass(frozen=True)
class KeyRing(Generic[K]):
    """The current signing key and, after a rotation, the previous one, which only verifies.

    `keys` is newest first, at most two; `current_since` is when the current key replaced the
    previous one (required when there is one).
    """

    keys: tuple[K, ...]
    current_since: datetime | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.keys) <= 2:
            raise ValueError("a key ring holds the current key and at most the previous one")
        if len(self.keys) == 2 and self.current_since is None:
            raise ValueError("a ring with a previous key needs the time the current one began")

    @property
    def current(self) -> K:
        """The newest key (the one core signs with from `current_since` on)."""
        return self.keys[0]

    def signing(self, now: datetime) -> K:
        """The key to sign with at `now`: the newest, unless its time has not come yet (a key
        rotated with `--activate-in`: published first, so that every verifier, and every core
        process of a rollout, knows it before any token it signs appears)."""
        if len(self.keys) == 2 and self.current_since is not None and now < self.current_since:
            return self.keys[1]
        return self.keys[0]

    def published(self, now: datetime, access_token_seconds: int) -> tuple[K, ...]:
        """The keys whose tokens may still be valid at `now`: the current one, and the previous
        one until the last token it signed has expired."""
        if self.current_since is None or len(self.keys) == 1:
            return self.keys[:1]
        if now < previous_key_published_until(self.current_since, access_token_seconds):
            return self.keys
        return self.keys[:1]

    def jwks(
        self,
        now: datetime | None = None,
        access_token_seconds: int = MAX_ACCESS_TOKEN_SECONDS,
    ) -> dict[str, Any]:
        """The public JWKS at `now` (default: the system clock) for tokens that live
        `access_token_seconds` (default: the longest the settings allow)."""
        published = self.published(now or datetime.now(UTC), access_token_seconds)
        return {"keys": [key.public_jwk() for key in published]}


class PublishedKeys:
    """Core's own key source for its `TokenVerifier`: exactly the keys its JWKS publishes at
    the moment, so core trusts the previous key no longer than the apps do."""

    def __init__(
        self, ring: KeyRing[SigningKey], *, now: Callable[[], datetime], access_token_seconds: int
    ) -> None:
        self.ring = ring
        self.now = now
        self.access_token_seconds = access_token_seconds

    async def key_for(self, kid: str) -> Ed25519PublicKey | None:
        for key in self.ring.published(self.now(), self.access_token_seconds):
            if key.kid == kid:
                return key.public_key
        return None


def _write_key(folder: Path, key: Key, now: datetime | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_STAMP)
    path = folder / f"{stamp}.pem"
    # Written under a name no reader looks at, then linked into place: a worker starting at
    # that moment sees the whole key or none of it, never an empty file. O_EXCL and link()
    # never overwrite a key; 0600: the private key is for this user only.
    partial = folder / f".{stamp}.{os.getpid()}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key.to_pem())
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return path


def _key_time(path: Path) -> datetime | None:
    try:
        return datetime.strptime(path.stem, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def load_keyring(*, pem: str | None, folder: Path, environment: Environment) -> KeyRing[SigningKey]:
    """The access-token keys from `CORE_SIGNING_KEY`, else the two newest of the key folder.

    Outside production an empty folder gets a newly generated key, reused from then on; in
    production no key is an error.
    """
    return _load_keys(SigningKey, pem, folder, environment, "CORE_SIGNING_KEY", "")


def load_id_token_keyring(
    *, pem: str | None, folder: Path, environment: Environment
) -> KeyRing[RsaSigningKey]:
    """The ID-token keys from `CORE_ID_TOKEN_KEY`, else the two newest of their folder; as
    `load_keyring` does for the access-token keys."""
    return _load_keys(RsaSigningKey, pem, folder, environment, "CORE_ID_TOKEN_KEY", " --id-token")


def _load_keys(
    kind: type[K],
    pem: str | None,
    folder: Path,
    environment: Environment,
    variable: str,
    rotate_option: str,
) -> KeyRing[K]:
    if pem:
        return KeyRing((kind.from_pem(pem.encode(), variable),))
    paths = _key_files(folder)
    if not paths:
        if environment is Environment.PRODUCTION:
            raise ConfigurationError(
                f"no signing key for {kind.purpose}: set {variable} or put a key in {folder}"
                f" (`uv run atriz keys rotate{rotate_option}`)"
            )
        paths = _generate_first_key(folder, kind)
    # Only the current key and the one before it: any older key's tokens have long expired,
    # and a key that is not loaded can be neither published nor trusted.
    current, *previous = paths[:2]
    keys = tuple(kind.from_pem(p.read_bytes(), str(p)) for p in (current, *previous))
    if not previous:
        return KeyRing(keys)
    since = _key_time(current)
    if since is None:
        raise ConfigurationError(
            f"cannot tell when {current} became the current signing key: name key files after"
            " the UTC time they were made, as `atriz keys rotate` does (20260101T120000000000Z.pem)"
        )
    return KeyRing(keys, current_since=since)


def _key_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pem"), reverse=True) if folder.is_dir() else []


def _generate_first_key(folder: Path, kind: type[Key]) -> list[Path]:
    # Several workers start at once: the first one to take the lock generates the key, the
    # others find it, so every worker signs with the same key.
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _key_files(folder):
            _write_key(folder, kind.generate())
        return _key_files(folder)


def rotate_key(
    folder: Path,
    *,
    now: datetime | None = None,
    kind: type[Key] = SigningKey,
    activate_in: float = 0,
) -> Path:
    """Add a new key of `kind`, to sign with `activate_in` seconds after `now` (default: the
    system clock): the file is named after that time. Core loads it when it restarts, publishes
    it at once and signs with it from that time on; the previous key stays published until
    `previous_key_published_until`."""
    now = now or datetime.now(UTC)
    files = _key_files(folder)
    newest = next(iter(files), None)
    newest_time = _key_time(newest) if newest else None
    if newest_time is not None and newest_time > now:
        # Core loads two keys: a second one to come would push out the key in use.
        raise ConfigurationError(
            f"{newest} is dated {newest_time:%Y-%m-%d %H:%M:%S} UTC, after now: a key waiting"
            " for its time (rotate again after that), or a clock set back"
        )
    if len(files) >= 2 and newest_time is not None:
        # A third key pushes out the previous one, whose tokens may still be valid.
        until = previous_key_published_until(newest_time, MAX_ACCESS_TOKEN_SECONDS)
        if now < until:
            raise ConfigurationError(
                f"{files[1]} verifies tokens until {until:%Y-%m-%d %H:%M:%S} UTC: rotate again"
                " after that"
            )
    now += timedelta(seconds=activate_in)
    if newest_time is not None and newest_time >= now:
        # The new key would sort before the newest one and never sign: refuse rather than
        # report a rotation that did not happen (a clock set back, say).
        raise ConfigurationError(f"{newest} is not older than {now:%Y-%m-%d %H:%M:%S.%f} UTC")
    return _write_key(folder, kind.generate(), now)
