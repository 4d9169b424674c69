"""What differs between SQLite and PostgreSQL, in one place; everything else is shared SQL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    serial_pk: str
    blob: str

    def sql(self, text: str) -> str:
        """Translate our ``?`` placeholders to the driver's style."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def ddl(self, text: str) -> str:
        """Fill the per-dialect type tokens of a migration."""
        return text.replace("{serial_pk}", self.serial_pk).replace("{blob}", self.blob)


SQLITE = Dialect("sqlite", "?", "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB")
POSTGRES = Dialect("postgresql", "%s", "BIGSERIAL PRIMARY KEY", "BYTEA")
