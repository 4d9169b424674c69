"""Store what a feed produced: the raw payload, quarantined records and the observations.

Why one function: the three writes belong together. They run in a single store transaction, so a
crash never leaves a payload without its observations (or the reverse), and a repeated ingest of
the same data is harmless because the observation upsert is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from floodwarn.records import ParseResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestCounts:
    """What one ingest did (summed over payloads); ``unknown`` maps ``kind:name`` → count."""

    payloads: int = 0
    fetch_errors: int = 0
    records: int = 0
    inserted: int = 0
    duplicates: int = 0
    corrected: int = 0
    quarantined: int = 0
    unknown: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    #: newest valid time (epoch s) seen per station in this ingest
    newest: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: IngestCounts) -> IngestCounts:
        unknown = dict(self.unknown)
        for k, v in other.unknown.items():
            unknown[k] = unknown.get(k, 0) + v
        newest = dict(self.newest)
        for k, v in other.newest.items():
            newest[k] = max(newest.get(k, v), v)
        return IngestCounts(
            self.payloads + other.payloads,
            self.fetch_errors + other.fetch_errors,
            self.records + other.records,
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.corrected + other.corrected,
            self.quarantined + other.quarantined,
            unknown,
            self.errors + other.errors,
            newest,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-friendly counts for the cycle ledger (unknowns totalled, top ten named)."""
        top = sorted(self.unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        return {
            "payloads": self.payloads,
            "fetch_errors": self.fetch_errors,
            "records": self.records,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "corrected": self.corrected,
            "quarantined": self.quarantined,
            "unknown": sum(self.unknown.values()),
            "unknown_top": dict(top),
            "errors": list(self.errors[:10]),
        }


def ingest_result(
    store: Any,
    result: ParseResult,
    source: str,
    payload: Any | None = None,
    keep_raw: bool = True,
) -> IngestCounts:
    """Store one parse result (and its raw payload) atomically; returns the counts.

    ``payload`` is a :class:`floodwarn.feeds.base.RawPayload` (or ``None`` for archives, whose
    files are the raw record). A payload with ``error`` set is still kept, for the audit trail,
    and counted as a fetch error.
    """
    obs = result.obs
    error = getattr(payload, "error", None) if payload is not None else None
    with store.tx():
        payload_id = None
        if payload is not None and keep_raw:
            payload_id = store.save_raw(
                source,
                payload.body,
                int(payload.received_at),
                url=payload.url,
                status=payload.status,
                content_type=payload.content_type,
                error=error,
                n_records=len(obs),
                n_quarantined=result.n_quarantined,
            )
        store.quarantine(result.quarantined, payload_id)
        up = store.upsert_observations(obs)
    newest = _newest(obs)
    counts = getattr(result, "counts", {}) or {}
    return IngestCounts(
        payloads=int(payload is not None),
        fetch_errors=int(error is not None),
        records=int(counts.get("records", len(obs))),
        inserted=up.inserted,
        duplicates=up.duplicates,
        corrected=up.corrected,
        quarantined=result.n_quarantined,
        unknown=dict(result.unknown),
        errors=(f"{source}: {error}",) if error else (),
        newest=newest,
    )


def _newest(obs: Any) -> dict[str, int]:
    """Newest valid time per station among the non-blank values (plain Python: a cycle's batch
    is a few dozen rows, where ``groupby().max()`` costs a millisecond of overhead)."""
    newest: dict[str, int] = {}
    if not len(obs):
        return newest
    values = obs["value"].to_numpy(np.float64)
    ok = ~np.isnan(values)
    if not ok.any():
        return newest
    for code, t in zip(obs["station"].to_numpy()[ok].tolist(), obs["valid_time"].to_numpy()[ok].tolist(),
                       strict=True):
        code, t = str(code), int(t)
        if t > newest.get(code, t - 1):
            newest[code] = t
    return dict(sorted(newest.items()))


def ingest_batches(store: Any, batches: Iterable[Any], keep_raw: bool = True) -> IngestCounts:
    """Store every :class:`floodwarn.feeds.base.FeedBatch` of one poll; counts are summed."""
    total = IngestCounts()
    for batch in batches:
        source = batch.source
        hydro = getattr(batch.payload, "hydro", "") if batch.payload is not None else ""
        if hydro and ":" not in source:
            source = f"{source}:{hydro}"
        total = total + ingest_result(store, batch.result, source, batch.payload, keep_raw)
    if total.quarantined or total.fetch_errors:
        log.info(
            "ingest: %d inserted, %d quarantined, %d fetch error(s)",
            total.inserted, total.quarantined, total.fetch_errors,
        )
    return total
