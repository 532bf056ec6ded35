"""What apps import from the kit, the client and the test kit is there, declared in `__all__`,
and loads lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["atriz_core.kit", "atriz_core.client", "atriz_core.testing"])
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)

    missing = [name for name in module.__all__ if getattr(module, name, None) is None]

    assert module.__all__
    assert not missing


def test_importing_the_kit_package_loads_no_litestar_until_a_name_needs_it() -> None:
    probe = (
        "import sys, atriz_core.kit, atriz_core.kit.pagination; print('litestar' in sys.modules)"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert loaded.stdout.strip() == "False"
