"""Persistent state behind one interface: SQLite (WAL, embedded default) or PostgreSQL.

``open_store(url)`` picks the backend from the URL scheme and applies pending migrations.
"""

from __future__ import annotations

from floodwarn.store.base import Cursor, Store, UpsertCounts

__all__ = ["Cursor", "Store", "UpsertCounts", "open_store"]


def open_store(url: str, migrate: bool = True) -> Store:
    """Open (and by default migrate) the store at ``url`` (``sqlite:///path`` or ``postgresql://``)."""
    if url.startswith(("postgresql://", "postgres://")):
        from floodwarn.store.postgres import PostgresStore

        store: Store = PostgresStore(url)
    else:
        from floodwarn.store.sqlite import SqliteStore

        store = SqliteStore(url)
    if migrate:
        store.migrate()
    return store
