"""Core's layers: business rules and their SQL import no web framework.

Each module is imported in a fresh interpreter, since this one has long since loaded Litestar.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BUSINESS_MODULES = [
    "atriz_core.accounts.services",
    "atriz_core.accounts.links",
    "atriz_core.accounts.repository",
    "atriz_core.sessions.services",
    "atriz_core.sessions.repository",
    "atriz_core.admin.services",
    "atriz_core.admin.repository",
    "atriz_core.clients.services",
    "atriz_core.clients.repository",
    "atriz_core.oidc.services",
    "atriz_core.oidc.repository",
    "atriz_core.oidc.csrf",
    "atriz_core.users.repository",
    "atriz_core.limits",
    "atriz_core.audit",
    "atriz_core.user_events",
    "atriz_core.metrics",
    "atriz_core.kit.pagination",
    "atriz_core.client.verifier",
    "atriz_core.client.user_events",
]

_CHECK = """
import importlib, sys
importlib.import_module(sys.argv[1])
loaded = sorted(name for name in sys.modules if name == "litestar" or name.startswith("litestar."))
print(loaded[:5])
sys.exit(1 if loaded else 0)
"""


@pytest.mark.parametrize("module", BUSINESS_MODULES)
def test_business_module_does_not_import_litestar(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (
        f"importing {module} loads Litestar: {result.stdout.strip()} {result.stderr.strip()}"
    )
