"""Quality control of observation frames: flags are added, values are never changed or deleted.

:func:`apply_qc` runs the causal ``qc_flags`` kernel over each (station, variable) series of an
observation frame (``floodwarn.records.OBS_COLUMNS``) and ORs the result into the ``qc`` column.
Limits come from :class:`QCLimits`: a default per HRFCO variable, overridable per station. Since
the tests look back in time, pass enough history (a few hours before the newest values) for the
spike and flatline tests to see the context; QC of a value never depends on later values.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import ConfigError
from floodwarn.kernels import qc_flags
from floodwarn.records import OBS_COLUMNS, QC
from floodwarn.times import STEP_S

log = logging.getLogger(__name__)

NAN = math.nan


@dataclass(frozen=True)
class VarLimits:
    """Limits for one variable; NaN / non-positive values disable a test (see kernels.qc)."""

    lo: float = NAN
    hi: float = NAN
    max_rate_per_step: float = NAN  # per 10-minute step
    z_thresh: float = 6.0
    window: int = 36  # previous values for the robust z-score (6 h)
    flat_n: int = 0  # identical values in a row that make a flatline (0: off)
    stuck_n: int = 0  # values in a row within stuck_band that make a near-flat run (0: off)
    stuck_band: float = NAN  # max - min of such a run (units of the variable; NaN: off)
    stuck_min: float = NAN  # ... and only while the run stays at or above this (NaN: any level)
    max_gap_s: int = 3600


#: physical limits per HRFCO variable (units as in floodwarn.records.VARIABLES)
DEFAULT_LIMITS: dict[str, VarLimits] = {
    # stage above gauge zero; tidal reaches go below zero. 1 m per 10 min is beyond any river rise
    # near-flat (stuck sensor with last-digit dither) is opt-in per station, see STUCK_N: low
    # flows legitimately hold a stage within 1 cm for days at most gauges
    "wl": VarLimits(lo=-10.0, hi=40.0, max_rate_per_step=1.0, flat_n=72, stuck_band=0.01),
    "fw": VarLimits(lo=0.0, hi=60000.0, max_rate_per_step=5000.0, flat_n=72),
    # rain is spiky and mostly zero: range only (the Korean 10-min record is ~ 60 mm)
    "rf": VarLimits(lo=0.0, hi=100.0),
    "swl": VarLimits(lo=-10.0, hi=1000.0, max_rate_per_step=0.5),
    # dam inflow/outflow follow gate operations: steps are real, range only
    "inf": VarLimits(lo=0.0, hi=60000.0),
    "tototf": VarLimits(lo=0.0, hi=60000.0),
    "sfw": VarLimits(lo=0.0, hi=1e6),
    "ecpc": VarLimits(lo=0.0, hi=1e5),
    "tide": VarLimits(lo=-1000.0, hi=1500.0, max_rate_per_step=100.0, flat_n=36),
}

_FIELDS = {f.name for f in dataclasses.fields(VarLimits)}

#: near-flat run length that enables the stuck test for a station: one day of 10-minute values.
#: With a 1 cm band and the station's 관심 level as ``stuck_min`` it caught the stuck gauges
#: 3007610 (2021-04/05) and 3008670 (2019-10/11) and ~260 other values in ~3.5 million
#: water levels (docs/qc-stuck-gauges.md); without a floor it flags low flows everywhere.
STUCK_N = 144


def _override(base: VarLimits, changes: Mapping[str, Any], where: str) -> VarLimits:
    unknown = sorted(set(changes) - _FIELDS)
    if unknown:
        raise ConfigError(f"unknown QC limit (known: {', '.join(sorted(_FIELDS))})",
                          field=f"{where}.{unknown[0]}")
    kw: dict[str, Any] = {}
    for k, v in changes.items():
        typ = type(getattr(base, k))
        try:
            kw[k] = typ(v)
        except (TypeError, ValueError):
            raise ConfigError(f"expected {typ.__name__}, got {v!r}", field=f"{where}.{k}") from None
    return dataclasses.replace(base, **kw)


@dataclass(frozen=True)
class QCLimits:
    """Default limits per variable plus per-station overrides ``{station: {variable: {...}}}``."""

    variables: Mapping[str, VarLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    stations: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for st, per_var in self.stations.items():
            for var, changes in per_var.items():
                _override(self.for_variable(var), changes, f"qc.stations.{st}.{var}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> QCLimits:
        """Build from a TOML-like table ``{"variables": {...}, "stations": {...}}``."""
        unknown = sorted(set(data) - {"variables", "stations"})
        if unknown:
            raise ConfigError("unknown QC section (known: stations, variables)",
                              field=f"qc.{unknown[0]}")
        variables = dict(DEFAULT_LIMITS)
        for var, changes in dict(data.get("variables", {})).items():
            variables[var] = _override(variables.get(var, VarLimits()), changes,
                                       f"qc.variables.{var}")
        return cls(variables=variables, stations=dict(data.get("stations", {})))

    def with_stuck_floors(
        self, floors: Mapping[str, float], variable: str = "wl", stuck_n: int = STUCK_N
    ) -> QCLimits:
        """Enable the near-flat test at these stations, above a floor each (e.g. the 관심 level).

        Existing overrides of those stations are kept; a non-positive or NaN floor is skipped
        (a station without a level set keeps the test off).
        """
        stations = {st: {v: dict(ch) for v, ch in per.items()} for st, per in self.stations.items()}
        for st, floor in floors.items():
            if not (floor > 0):  # also NaN
                continue
            stations.setdefault(st, {}).setdefault(variable, {}).update(
                stuck_n=stuck_n, stuck_min=float(floor))
        return dataclasses.replace(self, stations=stations)

    def for_variable(self, variable: str) -> VarLimits:
        return self.variables.get(variable, VarLimits())

    def for_series(self, station: str, variable: str) -> VarLimits:
        base = self.for_variable(variable)
        changes = self.stations.get(station, {}).get(variable)
        return _override(base, changes, f"qc.stations.{station}.{variable}") if changes else base


def flag_series(values: np.ndarray, times_s: np.ndarray, lim: VarLimits) -> np.ndarray:
    """QC flags for one time-sorted series with the given limits."""
    return qc_flags(
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(times_s, dtype=np.int64),
        float(lim.lo),
        float(lim.hi),
        float(lim.max_rate_per_step),
        float(lim.z_thresh),
        int(lim.window),
        int(lim.flat_n),
        int(lim.max_gap_s),
        STEP_S,
        int(lim.stuck_n),
        float(lim.stuck_band),
        float(lim.stuck_min),
    )


def _ranked_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer code per row ranked like the labels as strings, and the sorted labels.

    Factorizing the (Arrow) column directly and ranking its few distinct labels avoids
    converting every row to a Python string (~1.5 ms per cycle over a 73 h window).
    """
    codes, uniques = pd.factorize(col)
    if (codes < 0).any():  # a missing label: rank its str() like astype(str) would
        labels = col.astype(str).to_numpy()
        codes, uniques = pd.factorize(labels)
    names = np.asarray([str(u) for u in uniques], dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank[codes], names[order].tolist()


def apply_qc(obs: pd.DataFrame, limits: QCLimits | None = None) -> pd.DataFrame:
    """Return a copy of ``obs`` with QC bits ORed into ``qc`` (rows and order unchanged).

    Rows with the same (station, variable, valid_time) are checked in arrival order; QC runs
    over each series sorted by valid time.
    """
    missing = [c for c in OBS_COLUMNS if c not in obs.columns]
    if missing:
        raise ValueError(f"observation frame lacks columns {missing}")
    limits = limits or QCLimits()
    out = obs.copy()
    if out.empty:
        out["qc"] = out["qc"].astype(np.int64)
        return out
    qc = out["qc"].fillna(0).to_numpy(dtype=np.int64, copy=True)
    values = out["value"].to_numpy(dtype=np.float64)
    vt = out["valid_time"].to_numpy(dtype=np.int64)
    at = out["arrival_time"].to_numpy(dtype=np.int64)
    s_code, s_names = _ranked_codes(out["station"])
    v_code, v_names = _ranked_codes(out["variable"])
    # one integer per series, ordered like (station, variable): lexsort over (series, valid,
    # arrival) gives the order of sorting by the strings themselves, without comparing them
    series = s_code * len(v_names) + v_code
    order = np.lexsort((at, vt, series))
    ser_s = series[order]
    brk = np.flatnonzero(ser_s[1:] != ser_s[:-1]) + 1
    starts = np.concatenate([[0], brk])
    ends = np.concatenate([brk, [len(order)]])
    new = np.zeros(len(qc), dtype=np.int64)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        idx = order[a:b]
        k = int(ser_s[a])
        lim = limits.for_series(s_names[k // len(v_names)], v_names[k % len(v_names)])
        new[idx] = flag_series(values[idx], vt[idx], lim)
    qc |= new
    if log.isEnabledFor(logging.DEBUG):
        counts = [int(np.count_nonzero(new & int(b))) for b in (QC.RANGE, QC.SPIKE, QC.FLATLINE, QC.GAP)]
        log.debug("qc: %d series, %d values; range=%d spike=%d flatline=%d gap=%d",
                  len(starts), len(out), *counts)
    out["qc"] = qc
    return out
