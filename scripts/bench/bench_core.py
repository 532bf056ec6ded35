"""Core as `atriz serve core` builds it, with the bench switches of `bench_toggles` applied
first (for A/B measurements of the kit's per-request work; none set: the same app)."""

from __future__ import annotations

from bench_toggles import apply_toggles
from litestar import Litestar


def create_app() -> Litestar:
    apply_toggles()
    from atriz_core.app import create_app_from_env

    return create_app_from_env()
