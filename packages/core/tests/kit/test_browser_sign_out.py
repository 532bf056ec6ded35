"""The kit's sign-out refuses a post from another site, and accepts the app's own form although
its pages send no referrer (so browsers send `Origin: null` with it)."""

from __future__ import annotations

import pytest
from litestar.testing import RequestFactory

from atriz_core.kit.browser_sign_in.routes import _cross_site

APP = "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("headers", "cross_site"),
    [
        ({"sec-fetch-site": "same-origin", "origin": "null"}, False),
        ({"sec-fetch-site": "none"}, False),
        ({"sec-fetch-site": "cross-site", "origin": "https://evil.test"}, True),
        ({"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:8002"}, True),
        ({"origin": APP}, False),
        ({"origin": "https://evil.test"}, True),
        ({}, False),
    ],
)
def test_a_sign_out_from_another_site_is_told_apart(
    headers: dict[str, str], cross_site: bool
) -> None:
    request = RequestFactory().post("/auth/logout", headers=headers)

    assert _cross_site(request, APP) is cross_site
