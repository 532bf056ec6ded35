"""What the auth services need besides a connection, built once at start-up, and who calls.

Plain values: the services that take them do not import Litestar (`atriz_core.request` holds
the request class that reads them off a Litestar request)."""

from __future__ import annotations

from dataclasses import dataclass

from atriz_core.clock import Clock
from atriz_core.mail import Mailer
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.settings import CoreSettings
from atriz_core.tokens.keys import KeyRing, RsaSigningKey, SigningKey

__all__ = ["Core", "RequestContext"]


@dataclass(frozen=True)
class Core:
    settings: CoreSettings
    hasher: PasswordHasher
    keyring: KeyRing[SigningKey]
    id_token_keys: KeyRing[RsaSigningKey]
    clock: Clock
    mailer: Mailer


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, for the audit log and the per-address login limit."""

    client_address: str | None
    user_agent: str | None
