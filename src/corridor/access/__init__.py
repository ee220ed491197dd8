"""Parties, API keys and the one place where visibility is decided."""
