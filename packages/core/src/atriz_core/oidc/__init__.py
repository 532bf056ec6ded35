"""Core as an OpenID Connect provider: sign-in page, browser sessions, code flow with PKCE."""
