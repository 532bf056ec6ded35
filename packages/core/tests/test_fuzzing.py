"""Core's OpenAPI holds under schema fuzzing: no server error, and every answer (status, content
type, body) as the document describes it.

Admin operations are fuzzed with an administrator's token, the others with a plain user's; both
users are real (`make_user`), and core signs with the key that minted their tokens.
"""

from __future__ import annotations

import pytest

from atriz_core.testing import CoreHarness, UserFactory, fuzz_openapi


@pytest.mark.slow
async def test_core_openapi_passes_schema_fuzzing(
    core_harness: CoreHarness, make_user: UserFactory
) -> None:
    admin = await make_user(roles=("admin",))
    user = await make_user()

    def headers(method: str, path: str) -> dict[str, str]:
        return admin.headers if path.startswith("/admin/") else user.headers

    report = await fuzz_openapi(core_harness.client, headers=headers, max_examples=25)

    report.assert_ok()
    assert len(report.operations) >= 20
    assert report.requests > 20 * len(report.operations)
