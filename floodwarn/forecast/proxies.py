"""Stand-ins for missing boundary inputs of the Han models, so a feed that is down degrades a
forecast a little (flagged ``proxy-input:<column>``) instead of a lot.

Measured on the 2020 flood window with the evaluation models (RMSE cm, Jamsu / Hangang, 3 h and
6 h; docs/missing-inputs.md): without the Ganghwa tide 21.3 / 20.7 and 36.6 / 33.7 against
13.4 / 13.5 and 28.9 / 27.3 with it; without the Paldang inflow 19.4 / 18.1 and 42.7 / 37.8.
The stand-ins:

- **tide** (KHOA ``DT_0032``): first the tide two M2 cycles earlier (gaps up to 3 days,
  :func:`floodwarn.forecast.dataset.fill_tide`, as the ``sim`` models were trained), then the
  astronomical tide reconstructed by UTide from harmonic constants fitted on 2012-2019
  (``tools/fit_tide.py``; 19-26 cm RMSE against the observed tide in 2020-2022, whose range is
  ~6 m). The tide is a deterministic function of time: no look-ahead.
- **Paldang inflow** ``inf`` ← the release ``tototf`` and back: Paldang is a run-of-river dam whose
  release follows its inflow within the hour in a flood.

Why these and not a retrained model per missing input: one model per subset of inputs is
combinatorial; these three inputs carry most of the skill and have physical stand-ins.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.forecast import dataset as D

log = logging.getLogger(__name__)

TIDE_FILE = Path(__file__).resolve().parent.parent / "data" / f"tide_{D.TIDE}.json"
#: column → the column that stands in for it (dam pair) or "astronomical" (tide)
SOURCES: dict[str, str] = {
    f"inf_{D.DAM}": f"tototf_{D.DAM}",
    f"tototf_{D.DAM}": f"inf_{D.DAM}",
    f"tide_{D.TIDE}": "astronomical",
}
#: UTide fields reconstruct() does not read (the fit's sample weights: 70,000 numbers)
_DROP = ("weights",)


# ---------------------------------------------------------------------------------------------
# harmonic constants on disk


def coef_to_json(coef: Any) -> dict[str, Any]:
    """A UTide ``coef`` Bunch as plain JSON (arrays tagged with their dtype)."""
    def enc(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items() if k not in _DROP}
        if isinstance(v, np.ndarray):
            return {"__array__": v.tolist(), "dtype": "str" if v.dtype == object else str(v.dtype)}
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, list | tuple):
            return [enc(x) for x in v]
        return v
    return enc(coef)


def _coef_from_json(d: dict[str, Any]) -> Any:
    from utide.utilities import Bunch

    def dec(v: Any) -> Any:
        if isinstance(v, dict) and "__array__" in v:
            dt = object if v["dtype"] == "str" else v["dtype"]
            return np.array(v["__array__"], dtype=dt)
        if isinstance(v, dict):
            return Bunch({k: dec(x) for k, x in v.items()})
        return v
    return dec({k: v for k, v in d.items() if k != "fitted_on"})


@functools.cache
def tide_model() -> Any | None:
    """The shipped Ganghwa constants, or None (no file, or UTide missing: no tide stand-in)."""
    try:
        return _coef_from_json(json.loads(TIDE_FILE.read_text(encoding="utf-8")))
    except (OSError, ValueError, ImportError) as err:
        log.warning("no astronomical tide stand-in (%s): a missing tide stays missing", err)
        return None


def astronomical_tide(times: pd.Index) -> np.ndarray:
    """Astronomical Ganghwa tide (cm, the KHOA unit) at ``times`` (naive = UTC); NaN without
    constants or without a time index.

    Times on the 10-minute grid come from a per-day cache: a cycle whose tide feed is down asks
    for the same days again every 10 minutes (UTide takes ~11 ms for a cycle's 6 days)."""
    if tide_model() is None or not len(times) or not isinstance(times, pd.DatetimeIndex):
        return np.full(len(times), np.nan)
    t = (times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times).as_unit("ns").asi8
    out = np.empty(len(t))
    on_grid = t % _STEP_NS == 0
    days = t // _DAY_NS
    for d in np.unique(days[on_grid]):
        at = on_grid & (days == d)
        out[at] = _tide_day(int(d))[(t[at] - d * _DAY_NS) // _STEP_NS]
    if not on_grid.all():
        out[~on_grid] = _reconstruct(t[~on_grid])
    return out


_STEP_NS = 600 * 10**9
_DAY_NS = 86_400 * 10**9


@functools.lru_cache(maxsize=64)
def _tide_day(day: int) -> np.ndarray:
    """The 144 ten-minute astronomical tides of UTC day number ``day`` (days since 1970)."""
    return _reconstruct(day * _DAY_NS + np.arange(144, dtype=np.int64) * _STEP_NS)


def _reconstruct(ns: np.ndarray) -> np.ndarray:
    import utide

    t = np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")
    return np.asarray(utide.reconstruct(t, tide_model(), verbose=False).h, dtype=np.float64)


def tide_rmse(obs: pd.Series) -> float:
    """RMSE (cm) of the astronomical tide against observed tide (for tools/fit_tide.py)."""
    obs = obs.dropna()
    return float(np.sqrt(np.mean((astronomical_tide(obs.index) - obs.to_numpy()) ** 2)))


# ---------------------------------------------------------------------------------------------
# filling


def fill_dam(inf: np.ndarray, tot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inflow, release) with each one's gaps taken from the other at the same step."""
    inf_out = np.where(np.isfinite(inf), inf, tot)
    tot_out = np.where(np.isfinite(tot), tot, inf)
    return inf_out, tot_out


def fill_tide_astronomical(tide: np.ndarray, index: pd.Index) -> np.ndarray:
    """``tide`` with its remaining gaps set to the astronomical tide (only those rows are computed)."""
    out = np.array(tide, dtype=np.float64, copy=True)
    gap = ~np.isfinite(out)
    if gap.any():
        out[gap] = astronomical_tide(index[gap])
    return out


def covered(stale: list[str], finite: dict[str, bool]) -> dict[str, str]:
    """Which of the ``stale`` raw inputs a stand-in covers now: column → its source."""
    out = {}
    for c in stale:
        src = SOURCES.get(c)
        if src == "astronomical" and tide_model() is not None:
            out[c] = src
        elif src is not None and finite.get(src, False):
            out[c] = src
    return out
