"""Registration, login, sessions, passwords and e-mail verification: the `/auth` routes."""
