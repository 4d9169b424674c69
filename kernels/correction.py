"""Error correction of a forecast with the latest observed error (AR(1) updating).

The forecast error ``e = obs - forecast`` at issue time persists and decays with lead:
``corrected[s, l] = forecast[s, l] + last_error[s] * phi[s] ** lead_steps[l]``.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def ar1_correct(
    forecast: np.ndarray, last_error: np.ndarray, phi: np.ndarray | float, lead_steps: np.ndarray
) -> np.ndarray:
    """Corrected ``f8[S, L]``; ``phi`` scalar or per station. NaN error or phi: no correction."""
    ns = forecast.shape[0]
    nl = forecast.shape[1]
    ph = np.empty(ns)
    ph[:] = phi
    out = np.empty((ns, nl))
    for s in range(ns):
        e = last_error[s]
        p = ph[s]
        for j in range(nl):
            if np.isnan(e) or np.isnan(p):
                out[s, j] = forecast[s, j]
            else:
                out[s, j] = forecast[s, j] + e * p ** lead_steps[j]
    return out


@jit
def ar1_phi(errors: np.ndarray, min_pairs: int = 10) -> np.ndarray:
    """Lag-1 autocorrelation of each station's past error series ``errors[S, T]``, in [0, 1].

    Uses pairs where both values are present (mean removed); NaN if fewer than ``min_pairs``.
    """
    ns = errors.shape[0]
    nt = errors.shape[1]
    out = np.empty(ns)
    for s in range(ns):
        n = 0
        m = 0.0
        for t in range(nt):
            if not np.isnan(errors[s, t]):
                n += 1
                m += errors[s, t]
        if n == 0:
            out[s] = np.nan
            continue
        m /= n
        num = 0.0
        den = 0.0
        pairs = 0
        for t in range(nt):
            v = errors[s, t]
            if np.isnan(v):
                continue
            den += (v - m) * (v - m)
            if t > 0 and not np.isnan(errors[s, t - 1]):
                num += (v - m) * (errors[s, t - 1] - m)
                pairs += 1
        if pairs < min_pairs or den <= 0.0:
            out[s] = np.nan
        else:
            r = num / den
            out[s] = 0.0 if r < 0.0 else (1.0 if r > 1.0 else r)
    return out
