"""Atriz website: user profiles and published articles with full-text search."""
