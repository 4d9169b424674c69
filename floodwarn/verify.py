"""Forecast verification: point scores, quantile scores and skill, per station and lead.

Every function takes plain arrays (forecast, observation) and ignores pairs where either is NaN,
so a gap in the record never becomes a silent zero. :func:`verify_table` applies them to a long
forecast frame (``station, issued_at, lead_min, q05, q50, q95, obs[, persistence]``) — the shape
the forecast stage and the hindcast write — and returns one row per (station, lead).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _pair(f: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(f, dtype=np.float64)
    o = np.asarray(o, dtype=np.float64)
    if f.shape != o.shape:
        raise ValueError(f"forecast shape {f.shape} != observation shape {o.shape}")
    ok = np.isfinite(f) & np.isfinite(o)
    return f[ok], o[ok]


def rmse(f: np.ndarray, o: np.ndarray) -> float:
    f, o = _pair(f, o)
    return float(np.sqrt(np.mean((f - o) ** 2))) if f.size else np.nan


def mae(f: np.ndarray, o: np.ndarray) -> float:
    f, o = _pair(f, o)
    return float(np.mean(np.abs(f - o))) if f.size else np.nan


def nse(f: np.ndarray, o: np.ndarray) -> float:
    """Nash–Sutcliffe efficiency: 1 − SSE / Σ(o − ō)²; 1 is perfect, 0 is the mean."""
    f, o = _pair(f, o)
    den = np.sum((o - o.mean()) ** 2) if o.size else 0.0
    return float(1 - np.sum((f - o) ** 2) / den) if den > 0 else np.nan


def kge(f: np.ndarray, o: np.ndarray) -> float:
    """Kling–Gupta efficiency (2009): 1 − √((r−1)² + (α−1)² + (β−1)²)."""
    f, o = _pair(f, o)
    if f.size < 2 or o.std() == 0 or o.mean() == 0 or f.std() == 0:
        return np.nan
    r = np.corrcoef(f, o)[0, 1]
    a = f.std() / o.std()
    b = f.mean() / o.mean()
    return float(1 - np.sqrt((r - 1) ** 2 + (a - 1) ** 2 + (b - 1) ** 2))


def r2(f: np.ndarray, o: np.ndarray) -> float:
    """Coefficient of determination as scikit-learn defines it (same formula as NSE)."""
    return nse(f, o)


def pinball(q: np.ndarray, o: np.ndarray, tau: float) -> float:
    """Mean pinball (quantile) loss of quantile ``tau``."""
    q, o = _pair(q, o)
    d = o - q
    return float(np.mean(np.maximum(tau * d, (tau - 1) * d))) if q.size else np.nan


def crps_quantiles(qs: np.ndarray, o: np.ndarray, taus: Sequence[float]) -> float:
    """CRPS approximated from quantiles: 2 × mean pinball loss over the given levels."""
    qs = np.asarray(qs, dtype=np.float64)
    return float(2 * np.mean([pinball(qs[:, i], o, t) for i, t in enumerate(taus)]))


def coverage(lo: np.ndarray, hi: np.ndarray, o: np.ndarray) -> float:
    """Fraction of observations inside [lo, hi]."""
    lo, hi, o = (np.asarray(a, dtype=np.float64) for a in (lo, hi, o))
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(o)
    return float(np.mean((o[ok] >= lo[ok]) & (o[ok] <= hi[ok]))) if ok.any() else np.nan


def skill(f: np.ndarray, o: np.ndarray, ref: np.ndarray) -> float:
    """MSE skill score over a reference (persistence): 1 − MSE_f / MSE_ref on common pairs."""
    f, o, ref = (np.asarray(a, dtype=np.float64) for a in (f, o, ref))
    ok = np.isfinite(f) & np.isfinite(o) & np.isfinite(ref)
    den = np.mean((ref[ok] - o[ok]) ** 2) if ok.any() else 0.0
    return float(1 - np.mean((f[ok] - o[ok]) ** 2) / den) if den > 0 else np.nan


def peak_error(valid_time: Sequence, f: np.ndarray, o: np.ndarray) -> tuple[float, float]:
    """(height error m, timing error min) of the forecast peak vs the observed peak.

    ``f`` and ``o`` are series on the same valid times (e.g. all 3-hour-lead forecasts of an
    event); positive errors mean the forecast peak is too high / too late.
    """
    t = pd.DatetimeIndex(valid_time)
    f = np.asarray(f, dtype=np.float64)
    o = np.asarray(o, dtype=np.float64)
    ok = np.isfinite(f) & np.isfinite(o)
    if not ok.any():
        return np.nan, np.nan
    fi = int(np.nanargmax(np.where(ok, f, -np.inf)))
    oi = int(np.nanargmax(np.where(ok, o, -np.inf)))
    return float(f[fi] - o[oi]), float((t[fi] - t[oi]).total_seconds() / 60)


def scores(q05: np.ndarray, q50: np.ndarray, q95: np.ndarray, obs: np.ndarray,
           persistence: np.ndarray | None = None) -> dict[str, float]:
    """All scores for one (station, lead) sample; lengths in m, ``rmse_cm`` in cm."""
    out = {
        "n": int((np.isfinite(q50) & np.isfinite(obs)).sum()),
        "rmse": rmse(q50, obs),
        "mae": mae(q50, obs),
        "nse": nse(q50, obs),
        "kge": kge(q50, obs),
        "r2": r2(q50, obs),
        "pinball_q05": pinball(q05, obs, 0.05),
        "pinball_q50": pinball(q50, obs, 0.5),
        "pinball_q95": pinball(q95, obs, 0.95),
        "crps": crps_quantiles(np.column_stack([q05, q50, q95]), obs, (0.05, 0.5, 0.95)),
        "coverage90": coverage(q05, q95, obs),
    }
    out["rmse_cm"] = out["rmse"] * 100
    if persistence is not None:
        out["rmse_persistence_cm"] = rmse(persistence, obs) * 100
        out["skill"] = skill(q50, obs, persistence)
    return out


def verify_table(fc: pd.DataFrame) -> pd.DataFrame:
    """Scores per (station, lead_min) of a long forecast frame with an ``obs`` column."""
    need = {"station", "lead_min", "q05", "q50", "q95", "obs"}
    missing = need - set(fc.columns)
    if missing:
        raise ValueError(f"forecast frame lacks columns {sorted(missing)}")
    rows = []
    for (st, lead), g in fc.groupby(["station", "lead_min"], sort=True):
        pers = g["persistence"].to_numpy() if "persistence" in g else None
        s = scores(g["q05"].to_numpy(), g["q50"].to_numpy(), g["q95"].to_numpy(),
                   g["obs"].to_numpy(), pers)
        rows.append({"station": st, "lead_min": int(lead), **s})
    return pd.DataFrame(rows)


def competition_metric(rmse_cm: Sequence[float], r2_values: Sequence[float]) -> float:
    """The 2022 Han River competition score: mean over stations of RMSE (cm) / R² (lower is better)."""
    a = np.asarray(rmse_cm, dtype=np.float64)
    b = np.asarray(r2_values, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("need one RMSE and one R² per station")
    return float(np.mean(a / b))
