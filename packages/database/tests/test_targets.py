"""Target registration and selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from atriz_database import ConfigurationError, TargetRegistry, UnknownTargetError
from atriz_database.testing import sample_target


def test_all_orders_targets_after_their_dependencies(tmp_path: Path) -> None:
    core = sample_target(tmp_path / "core", name="core")
    apps = [
        sample_target(tmp_path / name, name=name, depends_on=("core",))
        for name in ("website", "pshop", "mextrack")
    ]
    registry = TargetRegistry([*apps, core])

    assert [t.name for t in registry.select("all")] == ["core", "mextrack", "pshop", "website"]
    assert registry.select("pshop") == [apps[1]]


def test_installed_packages_register_core() -> None:
    registry = TargetRegistry.from_entry_points()
    core = registry.get("core")
    assert core.database == "atriz_shared"
    assert core.url_env == "SHARED_DATABASE_URL"
    assert any(core.migrations.glob("*.sql"))
    assert registry.names[0] == "core"


def test_unknown_target_lists_the_known_ones(tmp_path: Path) -> None:
    registry = TargetRegistry([sample_target(tmp_path, name="core")])
    with pytest.raises(UnknownTargetError, match=r"unknown target 'shop' \(known: core, all\)"):
        registry.select("shop")


def test_dependency_on_an_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="app depends on unknown core"):
        TargetRegistry([sample_target(tmp_path, name="app", depends_on=("core",))])


def test_dependency_cycle_is_refused(tmp_path: Path) -> None:
    a = sample_target(tmp_path / "a", name="a", depends_on=("b",))
    b = sample_target(tmp_path / "b", name="b", depends_on=("a",))
    with pytest.raises(ConfigurationError, match="cycle"):
        TargetRegistry([a, b])
