"""Packages whose public names load their module on first use (PEP 562).

`atriz_core.client`, `atriz_core.kit` and `atriz_core.testing` re-export names from many
modules; importing one plain module of theirs (a business service importing the token
verifier's `Principal`, say) must not load Litestar, argon2 or Schemathesis with the rest.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `name` from `package.<homes[name]>` the
    first time it is asked for, and keeps it. (No `__dir__`: pytest scans a plugin's attributes,
    and that scan must not load every module.)"""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
