"""User and role administration: the `/admin` routes, for the `admin` role."""
