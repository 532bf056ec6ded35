"""Browser sign-in for an app, through core's OpenID Connect provider (backend-for-frontend).

The browser never holds a token. `/auth/login` starts the authorization code flow with PKCE
(S256), a `state` and a `nonce`; `/auth/callback` exchanges the code server-side, as a
confidential client, verifies the ID token (core's RS256 key, issuer, audience, nonce) and the
access token (the app's own verifier: audience, revocation), and keeps the tokens in the app's
database (`web_sessions`), handing the browser only a random session id in an `HttpOnly`,
`SameSite=Lax` cookie (`Secure` when the app's public URL is https). `signed_in_user(...)`
gives a page the user behind that cookie, refreshing the access token when it is about to
expire (the session row locked, so two tabs refresh once) and checking it with the app's
verifier on every request, so a user signed out at core, deactivated or deleted (core's user
events, followed by every worker) is signed out of every app within seconds. `/auth/logout`
ends the app's session, then core's (RP-initiated logout), which ends every app's.

Why each piece:
- The `state` travels twice: in the authorization URL and in a cookie scoped to
  `/auth/callback`. A callback whose two copies differ (a login started in another browser, a
  forged link: login CSRF) is refused. The attempt's PKCE verifier and nonce wait in the
  database under the state's hash, spent by the callback that finds them (single use).
- Cookies are host-wide, not per port: each app's cookies carry its name
  (`atriz_website_session`), so apps on one host never overwrite each other's.
- `next` is a path on this app only (`/...`, never `//host`): no open redirect.

An app's migration creates the tables with `SIGN_IN_TABLES_SQL`; `app_service` mounts the
routes and `signed_in_user` serves the app's pages.

The pieces: `tables` (the SQL an app's migration copies), `provider` (core as one app's OpenID
provider), `sessions` (the signed-in user behind a cookie), `routes` (the three routes).
"""

from atriz_core.kit.browser_sign_in.provider import (
    SIGN_IN_STATE_KEY,
    BrowserClient,
    OidcProvider,
    browser_sign_in,
)
from atriz_core.kit.browser_sign_in.routes import BrowserSignInController
from atriz_core.kit.browser_sign_in.sessions import app_page, sign_in_redirect, signed_in_user
from atriz_core.kit.browser_sign_in.tables import SIGN_IN_TABLES_ROLLBACK_SQL, SIGN_IN_TABLES_SQL

__all__ = [
    "SIGN_IN_STATE_KEY",
    "SIGN_IN_TABLES_ROLLBACK_SQL",
    "SIGN_IN_TABLES_SQL",
    "BrowserClient",
    "BrowserSignInController",
    "OidcProvider",
    "app_page",
    "browser_sign_in",
    "sign_in_redirect",
    "signed_in_user",
]
