"""Sessions: one per sign-in, refreshed by rotating tokens, ended by logout or revocation."""
