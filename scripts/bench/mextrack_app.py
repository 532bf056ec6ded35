"""Mextrack as it is served, trusting the bench's signing key (`BENCH_JWKS`, `BENCH_ISSUER`)
instead of core's JWKS, for `mextrack_ingest.py` and `mextrack_queries.py`. Its settings come
from the environment as in production (`MEXTRACK_DATABASE_URL`, `MEXTRACK_SHARED_DATABASE_URL`)."""

from __future__ import annotations

import json
import os

from litestar import Litestar

from atriz_core.client import StaticKeys, TokenVerifier
from atriz_mextrack.app import create_app
from atriz_mextrack.settings import MextrackSettings


def create_bench_app() -> Litestar:
    verifier = TokenVerifier(
        StaticKeys(json.loads(os.environ["BENCH_JWKS"])),
        issuer=os.environ["BENCH_ISSUER"],
        audience="mextrack",
    )
    return create_app(MextrackSettings.from_env(), verifier=verifier)
