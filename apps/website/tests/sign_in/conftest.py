"""The website's browser sign-in (the kit's backend-for-frontend) against core, both in this
process, reached by browsers (httpx cookie jars) that go to each by host name, over https as in
production; and any other host of the same parent domain, which an attacker may control."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from atriz_core.clients import services as clients
from atriz_core.clients.schemas import ClientCreate
from atriz_core.kit.browser_sign_in import SIGN_IN_STATE_KEY, OidcProvider
from atriz_core.testing import TEST_PASSWORD, CoreHarness, TokenMinter, serving
from atriz_database.pool import connect
from atriz_website.app import create_app
from atriz_website.settings import WebsiteSettings

APP = "https://www.atriz.example.test"
CORE = "https://auth.atriz.test"
SIBLING = "https://shop.atriz.example.test"
EMAIL = "ana@example.test"


class Hosts(httpx.AsyncBaseTransport):
    """Sends each request to the app serving its host."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.hosts = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.hosts[request.url.host].handle_async_request(request)


@dataclass
class Browsers:
    app: Any
    core: CoreHarness
    hosts: Hosts

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.hosts, follow_redirects=False, timeout=20)

    def sibling_sets(self, set_cookie: str) -> None:
        """The sibling host answers every request with `Set-Cookie: set_cookie`."""

        async def plant(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"set-cookie", set_cookie.encode()), (b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"a picture"})

        self.hosts.hosts[urlsplit(SIBLING).hostname or ""] = httpx.ASGITransport(app=plant)


async def _register_website(core: CoreHarness) -> str:
    connection = await connect(core.settings.database_url)
    try:
        _, secret = await clients.register_client(
            connection,
            ClientCreate(
                id="website",
                name="Website",
                redirect_uris=[f"{APP}/auth/callback"],
                post_logout_redirect_uris=[f"{APP}/"],
                first_party=True,
                public=False,
            ),
        )
    finally:
        await connection.close()
    assert secret is not None
    return secret


@pytest.fixture
async def browsers(
    core_harness: CoreHarness, website_settings: WebsiteSettings, token_minter: TokenMinter
) -> AsyncIterator[Browsers]:
    settings = replace(
        website_settings,
        public_url=APP,
        core_url=CORE,
        issuer=token_minter.issuer,
        oidc_client_secret=await _register_website(core_harness),
    )
    app = create_app(settings, verifier=token_minter.verifier("website"))
    hosts = Hosts({"www.atriz.example.test": app, "auth.atriz.test": core_harness.app})
    async with serving(app), httpx.AsyncClient(transport=hosts, timeout=20) as server_side:
        # The app reaches core through the same hosts (its discovery, the code exchange).
        client = app.state[SIGN_IN_STATE_KEY].client
        app.state[SIGN_IN_STATE_KEY] = OidcProvider(client, server_side)
        yield Browsers(app, core_harness, hosts)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _absolute(location: str) -> str:
    return location if location.startswith("http") else CORE + location


async def callback_url(browser: httpx.AsyncClient, email: str) -> str:
    """Start the website's sign-in, sign in at core if asked; the callback URL, not followed."""
    start = await browser.get(f"{APP}/auth/login")
    assert start.status_code == 303, start.text
    answer = await browser.get(start.headers["location"])
    if answer.status_code == 303 and "/oauth/sign-in" in answer.headers["location"]:
        page = await browser.get(_absolute(answer.headers["location"]))
        fields = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        )
        fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
        signed = await browser.post(
            str(page.url.copy_with(query=None)),
            data={**fields, "email": email, "password": TEST_PASSWORD},
        )
        assert signed.status_code == 303, signed.text
        answer = await browser.get(_absolute(signed.headers["location"]))
    assert answer.status_code == 302, answer.text
    location: str = answer.headers["location"]
    assert location.startswith(f"{APP}/auth/callback?"), location
    return location


async def sign_in(browser: httpx.AsyncClient, email: str = EMAIL) -> httpx.Response:
    return await browser.get(await callback_url(browser, email))
