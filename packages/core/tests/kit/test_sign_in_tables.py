"""Each app's migration holds the kit's browser sign-in tables exactly as the kit defines them
(yoyo reads plain SQL, so the apps copy `SIGN_IN_TABLES_SQL`): a copy that drifts fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from atriz_core.kit.browser_sign_in import SIGN_IN_TABLES_ROLLBACK_SQL, SIGN_IN_TABLES_SQL

APPS = Path(__file__).parents[4] / "apps"


@pytest.mark.parametrize("app", ["website", "mextrack", "pshop"])
def test_every_app_migrates_the_kits_sign_in_tables_verbatim(app: str) -> None:
    migrations = APPS / app / "src" / f"atriz_{app}" / "migrations"
    forward = migrations / "20261202_230000_create_web_sessions.sql"
    rollback = migrations / "20261202_230000_create_web_sessions.rollback.sql"

    assert SIGN_IN_TABLES_SQL in forward.read_text(encoding="utf-8")
    assert SIGN_IN_TABLES_ROLLBACK_SQL in rollback.read_text(encoding="utf-8")
