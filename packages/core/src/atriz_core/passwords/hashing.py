"""argon2id password hashing, run in worker threads so the event loop keeps serving requests.

argon2-cffi releases the GIL while hashing, so threads give real parallelism across cores. Each
process hashes on its own small pool, sized so that all the processes together run about one
hash per core: more at once only time-slice 19 MiB working sets against each other (measured:
0.82 of the argon2 ceiling with one thread per worker on 2 cores, 0.78 with asyncio's default
pool).

The queue in front of those threads is bounded by the wait it implies: a request that would wait
longer than `max_queue_wait` seconds for a thread is refused at once (`HashingBusyError`, a 503
with `Retry-After`), so that a login flood cannot build a queue without end and every admitted
login answers within a few seconds. A request is admitted or refused once (`admission`): a login
that books its attempt after it was admitted must not be refused when it hashes, or its booking
stays behind as a failure (measured: a 64-connection login storm locked 28 of 32 accounts and
filled the address's failure count within 6 s). An admitted request holds its place in the queue
from admission on, before its hash is submitted: counted only once submitted, every request
admitted during the others' round trips to PostgreSQL saw the same short queue, and a
64-connection storm's logins waited 3 to 4 s behind a 2 s bound.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from atriz_core.errors import ServiceBusyError
from atriz_core.settings import CoreSettings

__all__ = ["HashingBusyError", "PasswordHasher", "Verification"]

T = TypeVar("T")
# Weight of the newest hash in the running mean of hashing times.
_SMOOTHING = 0.1


class _Admission:
    """A request's admission to hashing; `holds_place` until its first hash is submitted."""

    holds_place = True


# Set by `admission` in the context of the request it admits (each request served has a
# context of its own), so that the request's hashes are not checked a second time.
_admitted: ContextVar[_Admission | None] = ContextVar("admitted_to_hashing", default=None)


class HashingBusyError(ServiceBusyError):
    """Every hashing thread is booked for longer than a request may wait."""


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a password against a stored hash."""

    matches: bool
    needs_rehash: bool = False


class PasswordHasher:
    """Hashes and verifies passwords with argon2id at the configured cost."""

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        threads: int = 1,
        max_queue_wait: float = 2.0,
    ) -> None:
        self._thread_count = threads
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self.max_queue_wait = max_queue_wait
        self.pending = 0
        """Hashes submitted and not finished (running or queued), and admitted requests that
        have not submitted theirs yet."""
        started = time.perf_counter()
        # Verified against when the e-mail is unknown, so that such a login costs the same
        # argon2 work as a wrong password and cannot be told apart by its timing.
        self._decoy_hash = self._argon2.hash("decoy password for unknown accounts")
        self.mean_seconds = time.perf_counter() - started
        """Running mean of one hash's time in its thread, to price the queue's wait."""

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> PasswordHasher:
        return cls(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            threads=settings.hash_threads,
            max_queue_wait=settings.hash_queue_max_wait_seconds,
        )

    def close(self) -> None:
        """Stop the hashing threads (at app shutdown); hashes in progress finish."""
        self._threads.shutdown(wait=False)

    def expected_wait(self) -> float:
        """Seconds a hash submitted now would wait for a thread."""
        return self.pending / self._thread_count * self.mean_seconds

    def _check_capacity(self) -> None:
        wait = self.expected_wait()
        if wait > self.max_queue_wait:
            raise HashingBusyError(
                "the service is busy; try again shortly",
                retry_after_seconds=math.ceil(wait),
            )

    @contextmanager
    def admission(self) -> Iterator[None]:
        """Admit the current request to hashing for the `with` block, or raise
        `HashingBusyError` if a hash submitted now would wait too long.

        Callers that book something before hashing (a login reserves an attempt) are admitted
        first, so that a refused request books nothing; the hashes of an admitted request are
        then not refused. The request holds a place in the queue from now until its first hash
        is submitted, or until the block ends without one.
        """
        self._check_capacity()
        admitted = _Admission()
        self.pending += 1
        token = _admitted.set(admitted)
        try:
            yield
        finally:
            _admitted.reset(token)
            if admitted.holds_place:
                self.pending -= 1

    async def hash(self, password: str) -> str:
        return await self._run(partial(self._argon2.hash, password))

    async def verify(self, password_hash: str | None, password: str) -> Verification:
        """Check `password`; with no hash (unknown account) do the same work and fail."""
        return await self._run(partial(self._verify, password_hash, password))

    async def _run(self, work: Callable[[], T]) -> T:
        admitted = _admitted.get()
        if admitted is not None and admitted.holds_place:
            admitted.holds_place = False  # this hash takes the place the admission held
        else:
            if admitted is None:  # a caller that did not ask first
                self._check_capacity()
            self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, self._timed, work
            )
        finally:
            self.pending -= 1

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return work()
        finally:
            # A float store is atomic under the GIL; a lost update only delays the mean.
            elapsed = time.perf_counter() - started
            self.mean_seconds += _SMOOTHING * (elapsed - self.mean_seconds)

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
