"""Atriz core: the shared identity database (`atriz_shared`) and, in time, the auth service."""
