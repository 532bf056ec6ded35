"""PShop as a real server process for the kill -9 test (`granian --factory
pshop_server:app_from_env`): settings from the environment, and a verifier that trusts the
test's signing key (`PSHOP_TEST_JWKS`, `PSHOP_TEST_ISSUER`) instead of fetching core's."""

from __future__ import annotations

import json
import os

from litestar import Litestar

from atriz_core.client.verifier import StaticKeys, TokenVerifier
from atriz_pshop.app import create_app
from atriz_pshop.settings import PshopSettings


def app_from_env() -> Litestar:
    verifier = TokenVerifier(
        StaticKeys(json.loads(os.environ["PSHOP_TEST_JWKS"])),
        issuer=os.environ["PSHOP_TEST_ISSUER"],
        audience="pshop",
    )
    return create_app(PshopSettings.from_env(), verifier=verifier)
