"""Atriz mextrack: fleet GPS tracking."""
