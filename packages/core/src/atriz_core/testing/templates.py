"""Migrated template databases for a test session, which fresh test databases are copies of.

Running a target's migrations takes a third of a second or more; copying a migrated database
(`CREATE DATABASE ... TEMPLATE`) a few hundredths. So each target (seeded or not) is migrated
once per session, into a template named for the session (`atriz_tpl_<time>_<token>_...`, so
that sessions sharing a server never meet), and every test database after that is a copy.
Templates are dropped when the session ends; ones left by a session that died are dropped by
the next session once they are `STALE_AFTER` old.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from atriz_database import DatabaseTarget
from atriz_database.cloning import clone_database, drop_template, seal_template
from atriz_database.connections import connect, create_database
from atriz_database.migrations import Requirement
from atriz_database.urls import with_database

__all__ = ["STALE_AFTER", "DatabaseTemplates", "Template"]

PREFIX = "atriz_tpl_"
STALE_AFTER = timedelta(hours=6)
"""Longer than any test session runs: a template this old belongs to one that is over."""
_STAMP = "%Y%m%d%H%M%S"
_NAME = re.compile(rf"^{PREFIX}(\d{{14}})_")


@dataclass(frozen=True)
class Template:
    """A migrated database that test databases are copies of."""

    url: str
    requirements: tuple[Requirement, ...]
    """The `-- requires:` lines its migrations met: a copy is good for a test whose
    databases of those targets meet them too."""


Build = Callable[[str], tuple[Requirement, ...]]
"""Migrates (and seeds) the empty database at the URL given; returns the requirements met."""


class DatabaseTemplates:
    """The session's templates, one per target, seeded or not, and its migration files."""

    def __init__(self, server_url: str, now: datetime | None = None) -> None:
        self._server_url = server_url
        self._started = now or datetime.now(UTC)
        self._session = f"{PREFIX}{self._started:{_STAMP}}_{uuid.uuid4().hex[:6]}"
        self._made: dict[tuple[DatabaseTarget, bool, str], Template] = {}

    @property
    def urls(self) -> list[str]:
        """The URLs of this session's templates, in the order they were made."""
        return [template.url for template in self._made.values()]

    def template(self, target: DatabaseTarget, seeded: bool, build: Build) -> Template:
        """The session's template of `target`, made by `build` on first use. A build that fails
        leaves no template behind and raises its error."""
        # Keyed by the files' contents too: a test that writes migrations into its own
        # target's folder must not get a copy of what the folder held before.
        key = (target, seeded, _fingerprint(target, seeded))
        if key not in self._made:
            label = f"{target.name}_seeded" if seeded else target.name
            url = with_database(self._server_url, f"{self._session}_{len(self._made)}_{label}"[:63])
            create_database(url)
            try:
                requirements = build(url)
                seal_template(url)
            except BaseException:
                drop_template(url)
                raise
            self._made[key] = Template(url, requirements)
        return self._made[key]

    def copy(self, template: Template, url: str) -> None:
        """Create the database at `url` as a copy of `template` (see `clone_database`)."""
        clone_database(template.url, url)

    def drop(self) -> None:
        """Drop this session's templates."""
        for url in self.urls:
            drop_template(url)
        self._made.clear()

    def drop_stale(self) -> list[str]:
        """Drop the templates of sessions that started `STALE_AFTER` ago or more (sessions
        that died before their end); return their names."""
        with connect(self._server_url) as connection:
            names = [
                str(row[0])
                for row in connection.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)
                ).fetchall()
            ]
        stale = [name for name in names if self._is_stale(name)]
        for name in stale:
            drop_template(with_database(self._server_url, name))
        return stale

    def _is_stale(self, name: str) -> bool:
        match = _NAME.match(name)
        if match is None:
            return False  # not named by this class: not ours to drop
        started = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
        return started <= self._started - STALE_AFTER


def _fingerprint(target: DatabaseTarget, seeded: bool) -> str:
    digest = hashlib.sha256()
    folders = [target.migrations, target.seeds] if seeded else [target.migrations]
    for folder in folders:
        for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
