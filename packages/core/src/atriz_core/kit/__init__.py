"""The app kit: everything a service of Atriz stands on, written once.

Building the service (auth, problem details, health and readiness, OpenAPI, pools), typed
settings, a connection per request and a transaction per write, database errors mapped to HTTP,
pagination, the user-event consumer, revocation, metrics, request ids and logs.
"""
