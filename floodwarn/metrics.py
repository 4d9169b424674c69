"""Prometheus metrics of one floodwarn process, in one registry the API's ``/metrics`` serves.

The daemon, the delivery worker and the API all take a :class:`Metrics` object (tests make
their own, so runs never share counters); :data:`METRICS` is the process default. A metric
object never raises into a cycle, and nothing here touches the global prometheus registry.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "METRICS", "Metrics"]

#: the alert levels, lowest first (관심, 주의보, 경보, 심각) — label values of warnings_active
LEVELS = ("attwl", "wrnwl", "almwl", "srswl")
_CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
_STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    """Every metric floodwarn exports, registered in a private :class:`CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # -- the cycle (daemon) -----------------------------------------------------------
        self.cycle_duration = Histogram(
            "floodwarn_cycle_duration_seconds", "Wall time of one run_cycle, end to end.",
            ["mode"], buckets=_CYCLE_BUCKETS, registry=r,
        )
        self.stage_duration = Histogram(
            "floodwarn_stage_duration_seconds", "Wall time of one pipeline stage within a cycle.",
            ["stage"], buckets=_STAGE_BUCKETS, registry=r,
        )
        self.cycles = Counter(
            "floodwarn_cycles_total", "Cycles finished, by status (ok, degraded, failed).",
            ["status"], registry=r,
        )
        self.cycles_missed = Counter(
            "floodwarn_cycles_missed_total",
            "Scheduled cycles that were missed or overran (logged, then caught up).",
            ["reason"], registry=r,
        )
        self.last_cycle = Gauge(
            "floodwarn_last_cycle_timestamp_seconds",
            "cycle_at (epoch s) of the last completed cycle.", registry=r,
        )
        self.stations = Gauge(
            "floodwarn_stations", "Stations by input freshness in the last cycle.",
            ["state"], registry=r,
        )
        self.stations_missing = Gauge(
            "floodwarn_stations_missing", "Forecast points without usable data in the last cycle.",
            registry=r,
        )
        self.qc_rejections = Counter(
            "floodwarn_qc_rejections_total", "Observations flagged or quarantined by QC, by reason.",
            ["reason"], registry=r,
        )
        self.forecasts = Counter(
            "floodwarn_forecasts_total", "Forecasts made, by method (model or fallback).",
            ["method"], registry=r,
        )
        # -- warnings ---------------------------------------------------------------------
        self.warnings_active = Gauge(
            "floodwarn_warnings_active", "Active warnings by level.", ["level"], registry=r,
        )
        self.alert_messages = Counter(
            "floodwarn_alert_messages_total", "Alert messages issued, by msgType.",
            ["msg_type"], registry=r,
        )
        # -- delivery ---------------------------------------------------------------------
        self.outbox_backlog = Gauge(
            "floodwarn_outbox_backlog", "Webhook deliveries not yet delivered, by status.",
            ["status"], registry=r,
        )
        self.deliveries = Counter(
            "floodwarn_deliveries_total", "Webhook delivery attempts, by outcome.",
            ["outcome"], registry=r,
        )
        self.delivery_failures = Counter(
            "floodwarn_delivery_failures_total", "Failed webhook delivery attempts, by reason.",
            ["reason"], registry=r,
        )
        self.dead_letters = Counter(
            "floodwarn_dead_letters_total", "Webhook deliveries given up (dead-lettered).",
            registry=r,
        )
        # -- HTTP API ---------------------------------------------------------------------
        self.http_requests = Counter(
            "floodwarn_http_requests_total", "HTTP API requests, by route and status class.",
            ["route", "status"], registry=r,
        )
        for level in LEVELS:
            self.warnings_active.labels(level=level)
        for status in ("pending", "sending", "dead"):
            self.outbox_backlog.labels(status=status)

    def set_warnings(self, counts: dict[str, int]) -> None:
        """Replace the active-warning gauge with ``{level: count}`` (levels absent → 0)."""
        for level in sorted(set(LEVELS) | set(counts)):
            self.warnings_active.labels(level=level).set(int(counts.get(level, 0)))

    def record_cycle(self, report: dict[str, Any], mode: str = "live") -> None:
        """Feed a cycle report (``duration_s``, ``status``, ``stages``, ``stations_missing``)."""
        try:
            if "duration_s" in report:
                self.cycle_duration.labels(mode=mode).observe(float(report["duration_s"]))
            if "status" in report:
                self.cycles.labels(status=str(report["status"])).inc()
            for stage, seconds in (report.get("stages") or {}).items():
                self.stage_duration.labels(stage=str(stage)).observe(float(seconds))
            if "stations_missing" in report:
                missing = report["stations_missing"]
                self.stations_missing.set(len(missing) if isinstance(missing, list | tuple) else float(missing))
            if "cycle_at" in report:
                self.last_cycle.set(float(report["cycle_at"]))
        except (TypeError, ValueError):  # metrics must never break a cycle
            log.warning("metrics: could not record cycle report %r", report, exc_info=True)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


#: the process-wide default (the daemon and ``floodwarn serve`` use this one)
METRICS = Metrics()
