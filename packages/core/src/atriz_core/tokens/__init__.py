"""Core's tokens: Ed25519 signing keys, access tokens (JWT) and opaque refresh/one-time tokens."""
