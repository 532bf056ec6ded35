"""What the OpenID Connect tests share: a registered client and a browser that signs in."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from atriz_core.clients import services as clients
from atriz_core.clients.schemas import ClientCreate
from atriz_core.testing import TEST_PASSWORD, CoreHarness
from atriz_database.pool import connect

REDIRECT_URI = "https://app.example.test/auth/callback"
LOGOUT_URI = "https://app.example.test/"
EMAIL = "ana@example.test"


@dataclass(frozen=True)
class RegisteredClient:
    id: str
    secret: str | None
    redirect_uri: str = REDIRECT_URI

    @property
    def auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(self.id, self.secret) if self.secret else None


async def register_client(
    harness: CoreHarness,
    client_id: str = "webapp",
    *,
    first_party: bool = True,
    public: bool = False,
    redirect_uri: str = REDIRECT_URI,
) -> RegisteredClient:
    connection = await connect(harness.settings.database_url)
    try:
        _, secret = await clients.register_client(
            connection,
            ClientCreate(
                id=client_id,
                name=f"The {client_id} app",
                redirect_uris=[redirect_uri],
                post_logout_redirect_uris=[LOGOUT_URI],
                first_party=first_party,
                public=public,
            ),
        )
    finally:
        await connection.close()
    return RegisteredClient(client_id, secret, redirect_uri)


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(client: RegisteredClient, challenge: str, **overrides: Any) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def hidden(page: httpx.Response, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page.text)
    assert match, page.text
    return match[1].replace("&amp;", "&")


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def sign_in(
    harness: CoreHarness,
    return_to: str | None = None,
    password: str = TEST_PASSWORD,
    *,
    email: str = EMAIL,
    reauth: bool = False,
) -> httpx.Response:
    """Fill core's sign-in form as a browser does (the CSRF token from the page); `reauth`:
    the form even though the browser is signed in (`prompt=login`, `max_age`)."""
    query = {"return_to": return_to} if return_to else {}
    url = "/oauth/sign-in" + (
        f"?{httpx.QueryParams({**query, 'reauth': '1'} if reauth else query)}"
        if query or reauth
        else ""
    )
    form_page = await harness.client.get(url)
    assert form_page.status_code == 200, form_page.text
    data = {"email": email, "password": password, "csrf_token": hidden(form_page, "csrf_token")}
    if return_to:
        data["return_to"] = return_to
    return await harness.client.post("/oauth/sign-in", data=data)


async def authorize(harness: CoreHarness, params: dict[str, str]) -> httpx.Response:
    """`GET /oauth/authorize`, signing in on the way if asked to; the answer that leaves core."""
    response = await harness.client.get("/oauth/authorize", params=params)
    if response.status_code == 303 and response.headers["location"].startswith("/oauth/sign-in"):
        asked = query_of(response.headers["location"])
        signed_in = await sign_in(harness, asked["return_to"], reauth="reauth" in asked)
        assert signed_in.status_code == 303, signed_in.text
        response = await harness.client.get(signed_in.headers["location"])
    return response


async def code_for(harness: CoreHarness, params: dict[str, str]) -> str:
    response = await authorize(harness, params)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(params["redirect_uri"] + "?"), location
    answer = query_of(location)
    assert answer["state"] == params["state"]
    return answer["code"]


async def exchange(
    harness: CoreHarness,
    client: RegisteredClient,
    code: str,
    verifier: str | None,
    **overrides: str,
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    if client.secret is None:
        data["client_id"] = client.id
    data.update(overrides)
    return await harness.client.post("/oauth/token", data=data, auth=client.auth)


async def signed_in_again(harness: CoreHarness, client: RegisteredClient) -> dict[str, Any]:
    """The browser signs in again through `client` (`prompt=login`); the code exchanged (200
    asserted): the new sign-in's tokens."""
    verifier, challenge = pkce()
    code = await code_for(harness, authorize_params(client, challenge, prompt="login"))
    response = await exchange(harness, client, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def live_sessions(harness: CoreHarness) -> int:
    """How many sessions (browser and client ones) are not ended."""
    count: int = await harness.sql_value("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
    return count


async def signed_in_emails(harness: CoreHarness) -> list[str]:
    """The e-mail of the user of each session not ended."""
    rows = await harness.sql_rows(
        "SELECT u.email FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.revoked_at IS NULL"
    )
    return [row["email"] for row in rows]


async def refresh(core_harness: CoreHarness, client: RegisteredClient, token: str) -> int:
    """The status of a refresh-token grant of `client` at `/oauth/token`."""
    response = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=client.auth,
    )
    return response.status_code


@pytest.fixture
async def user(core_harness: CoreHarness) -> dict[str, Any]:
    return await core_harness.register()


@pytest.fixture
async def webapp(core_harness: CoreHarness) -> RegisteredClient:
    return await register_client(core_harness)


@pytest.fixture
def core_overrides() -> dict[str, Any]:
    # As in production: the issuer is core's public https URL, which discovery is served at.
    return {"issuer": "https://auth.atriz.test"}
