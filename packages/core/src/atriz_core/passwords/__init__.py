"""Password hashing (argon2id, off the event loop) and the password policy."""
