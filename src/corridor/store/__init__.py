"""Persistence: tables, the unit of work, repositories and migrations (SQLite and PostgreSQL)."""

from .db import Store, open_store

__all__ = ["Store", "open_store"]
