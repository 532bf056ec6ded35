"""What the auth services need besides a connection, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from atriz_core.clock import Clock
from atriz_core.mail import Mailer
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.settings import CoreSettings
from atriz_core.tokens.keys import KeyRing

__all__ = [
    "Core",
    "CoreDep",
    "RequestContext",
    "RequestContextDep",
    "provide_core",
    "provide_request_context",
]


@dataclass(frozen=True)
class Core:
    settings: CoreSettings
    hasher: PasswordHasher
    keyring: KeyRing
    clock: Clock
    mailer: Mailer


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, for the audit log and the per-address login limit."""

    client_address: str | None
    user_agent: str | None


CoreDep = NamedDependency[Core]
RequestContextDep = NamedDependency[RequestContext]


def provide_core(request: Request[Any, Any, Any]) -> Core:
    core: Core = request.app.state.core
    return core


def provide_request_context(request: Request[Any, Any, Any]) -> RequestContext:
    agent = request.headers.get("user-agent")
    return RequestContext(
        client_address=request.client.host if request.client else None,
        user_agent=agent[:512] if agent else None,
    )
