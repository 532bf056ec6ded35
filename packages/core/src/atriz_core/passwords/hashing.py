"""argon2id password hashing, run in worker threads so the event loop keeps serving requests.

argon2-cffi releases the GIL while hashing, so threads give real parallelism across cores. Each
process hashes on its own small pool, sized so that all the processes together run about one
hash per core: more at once only time-slice 19 MiB working sets against each other (measured:
0.82 of the argon2 ceiling with one thread per worker on 2 cores, 0.78 with asyncio's default
pool).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from atriz_core.settings import CoreSettings

__all__ = ["PasswordHasher", "Verification"]


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password against a stored hash."""

    matches: bool
    needs_rehash: bool = False


class PasswordHasher:
    """Hashes and verifies passwords with argon2id at the configured cost."""

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, threads: int = 1
    ) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the e-mail is unknown, so that such a login costs the same
        # argon2 work as a wrong password and cannot be told apart by its timing.
        self._decoy_hash = self._argon2.hash("decoy password for unknown accounts")

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> PasswordHasher:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            threads=settings.hash_threads,
        )

    def close(self) -> None:
        """Stop the hashing threads (at app shutdown); hashes in progress finish."""
        self._threads.shutdown(wait=False)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._argon2.hash, password
        )

    async def verify(self, password_hash: str | None, password: str) -> Verification:
        """Check `password`; with no hash (unknown account) do the same work and fail."""
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, self._verify, password_hash, password
        )

    def _verify(self, password_hash: str | None, password: str) -> Verification:
        try:
            self._argon2.verify(password_hash or self._decoy_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(matches=False)
        if password_hash is None:
            return Verification(matches=False)
        return Verification(
            matches=True, needs_rehash=self._argon2.check_needs_rehash(password_hash)
        )
