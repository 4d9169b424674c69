"""The interchange shapes between stages: observation frames, QC flag bits, quarantine records.

An observation batch is a pandas DataFrame with exactly ``OBS_COLUMNS``; times are int64 epoch
seconds UTC (portable between SQLite and PostgreSQL and cheap to compare), missing values are NaN
and carry the ``MISSING`` flag so that a blank is never confused with zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag

import numpy as np
import pandas as pd

OBS_COLUMNS = ["station", "variable", "valid_time", "value", "arrival_time", "source", "qc"]

#: HRFCO variable names and their units (see ARCHITECTURE.md, Conventions).
VARIABLES: dict[str, str] = {
    "wl": "m",  # stage above gauge zero gdt
    "fw": "m3/s",
    "rf": "mm/10min",
    "swl": "m El.",
    "inf": "m3/s",
    "tototf": "m3/s",
    "sfw": "1e4 m3",
    "ecpc": "1e6 m3",
    "tide": "cm",
}


class QC(IntFlag):
    """QC flag bits; a value is never deleted, only flagged."""

    OK = 0
    MISSING = 1  # blank / NaN in the source
    RANGE = 2  # outside physical limits
    SPIKE = 4  # robust z-score or rate-of-change spike
    FLATLINE = 8  # stuck sensor
    GAP = 16  # first value after a gap
    SENTINEL = 32  # a known sentinel such as -990 or swl == 0
    NEGATIVE = 64  # a negative flow
    KNOWN_ERROR = 128  # listed as an error in the data's provenance notes
    LATE = 256  # arrived more than one cycle after its valid time
    SYNTHETIC = 512  # made by the synthetic demo feed, not observed
    CLOCK_SKEW = 1024  # valid time later than its arrival time


#: flags that make a value unusable for forecasting (it stays stored, flagged)
REJECT = QC.MISSING | QC.RANGE | QC.SPIKE | QC.SENTINEL | QC.KNOWN_ERROR | QC.CLOCK_SKEW


def obs_frame(
    station: object,
    variable: object,
    valid_time: object,
    value: object,
    arrival_time: object,
    source: str,
    qc: object = 0,
) -> pd.DataFrame:
    """Build an observation batch with the canonical columns and dtypes (scalars broadcast)."""
    df = pd.DataFrame(
        {
            "station": station,
            "variable": variable,
            "valid_time": valid_time,
            "value": value,
            "arrival_time": arrival_time,
            "source": source,
            "qc": qc,
        }
    )
    return normalise_obs(df)


def normalise_obs(df: pd.DataFrame) -> pd.DataFrame:
    """Coerce an observation frame to canonical dtypes; NaN values gain the MISSING flag."""
    missing = [c for c in OBS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"observation frame lacks columns {missing}")
    out = df[OBS_COLUMNS].copy()
    out["station"] = out["station"].astype(str)
    out["variable"] = out["variable"].astype(str)
    out["valid_time"] = out["valid_time"].astype(np.int64)
    out["arrival_time"] = out["arrival_time"].astype(np.int64)
    out["value"] = out["value"].astype(np.float64)
    out["source"] = out["source"].astype(str)
    qc = out["qc"].fillna(0).astype(np.int64)
    qc = qc.where(~out["value"].isna(), qc | int(QC.MISSING))
    out["qc"] = qc
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Quarantined:
    """A record that could not be parsed: kept verbatim with the reason, never dropped."""

    source: str
    record: str
    reason: str
    received_at: int  # epoch s UTC


@dataclass
class ParseResult:
    """What a feed parse produced: good observations plus quarantined records."""

    obs: pd.DataFrame
    quarantined: list[Quarantined] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)  # unknown station/variable -> count

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantined)
