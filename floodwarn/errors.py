"""One small error hierarchy.

Expected errors carry where they came from (file, row, field, station) so the CLI can print one
clear line instead of a traceback.
"""

from __future__ import annotations


class FloodwarnError(Exception):
    """Base of every expected error; the CLI prints ``str(err)`` and exits non-zero."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | str | None = None,
        field: str | None = None,
        station: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.field = field
        self.station = station
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.station is not None:
            where.append(f"station {self.station}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ConfigError(FloodwarnError):
    """A malformed or unknown configuration key or value."""


class CatalogError(FloodwarnError):
    """A station catalog row that fails validation."""


class FeedError(FloodwarnError):
    """A feed that could not be fetched at all (after retries)."""


class RecordError(FloodwarnError):
    """One feed record that cannot be parsed; it is quarantined, never fatal."""


class StoreError(FloodwarnError):
    """The store cannot be opened or written (read-only, full, wrong schema)."""


class ModelError(FloodwarnError):
    """A model artifact or registry entry that is missing or invalid."""
