"""Litestar glue shared by core and the apps: problem details, database pools, health checks."""
