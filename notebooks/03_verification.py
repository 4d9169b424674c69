# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 — Verification of the evaluation models on the 2020 flood
#
# The shipped evaluation version (`han-lgbm-eval-2012-2019-v4`: trained 2012–2019, calibrated
# 2021, never saw 2020) forecasts every 10 minutes of the 2020 season from the same inputs as
# the live cycle. Skill by lead, a reliability diagram of the quantiles, and the August 2020
# hydrographs with the forecast fan. `FLOODWARN_NB_SMALL=1` scores the flood window only.

# %%
import os
from pathlib import Path

import matplotlib
from IPython.display import display

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from floodwarn import verify
from floodwarn.config import project_root
from floodwarn.forecast import dataset as D
from floodwarn.forecast.predict import hindcast
from floodwarn.forecast.registry import ModelRegistry

SMALL = os.environ.get("FLOODWARN_NB_SMALL") == "1"
DATA = Path(os.environ.get("FLOODWARN_SHARED", project_root().parent / "shared")) / "data" / "hanriver"
VERSION = "han-lgbm-eval-2012-2019-v4"
bundle = ModelRegistry(project_root() / "models").load(VERSION)
wide = D.read_hanriver(DATA, [2020])
feats = D.base_features(wide)
kst = feats.index.tz_convert("Asia/Seoul")
if SMALL:
    rows = np.asarray((kst >= pd.Timestamp("2020-07-28", tz="Asia/Seoul")) & (kst < pd.Timestamp("2020-08-21", tz="Asia/Seoul")))
else:
    rows = np.ones(len(feats), bool)
stations = ["1018683"] if SMALL else bundle.stations
fc = pd.concat([hindcast(bundle, wide, feats, s, "own", rows) for s in stations], ignore_index=True)
tab = verify.verify_table(fc)
tab[["station", "lead_min", "rmse_cm", "rmse_persistence_cm", "skill", "nse", "kge", "coverage90"]].round(3)

# %% [markdown]
# ## Skill by lead (RMSE, model vs persistence)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for st, g in tab.groupby("station"):
    ax.plot(g["lead_min"], g["rmse_cm"], marker="o", label=f"{st} model")
    ax.plot(g["lead_min"], g["rmse_persistence_cm"], ls="--", label=f"{st} persistence")
ax.set_xlabel("lead (min)")
ax.set_ylabel("RMSE (cm)")
ax.legend(fontsize=7)

# %% [markdown]
# ## Reliability: observed frequency below each forecast quantile

# %%
obs_ok = fc.dropna(subset=["obs", "q50"])
freq = {q: float(np.mean(obs_ok["obs"] <= obs_ok[c])) for q, c in [(0.05, "q05"), (0.5, "q50"), (0.95, "q95")]}
fig, ax = plt.subplots(figsize=(4, 4))
ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
ax.plot(list(freq), list(freq.values()), marker="o")
ax.set_xlabel("nominal probability")
ax.set_ylabel("observed frequency")
display(freq)

# %% [markdown]
# ## 6 August 2020: hydrograph and the 3-hour-lead forecast fan

# %%
st = "1018683"
ev = fc[(fc.station == st) & (fc.lead_min == 180)].copy()
ev["valid"] = pd.DatetimeIndex(ev["issued_at"]) + pd.Timedelta(minutes=180)
ev = ev.set_index(ev["valid"].dt.tz_convert("Asia/Seoul")).loc["2020-08-04":"2020-08-09"]
fig, ax = plt.subplots(figsize=(11, 4))
ax.fill_between(ev.index, ev["q05"], ev["q95"], alpha=0.3, label="90 % band (3 h lead)")
ax.plot(ev.index, ev["q50"], label="forecast q50 (3 h lead)")
ax.plot(ev.index, ev["obs"], color="k", lw=1, label="observed")
ax.set_ylabel("stage m")
ax.set_title(f"{st} {D.BRIDGE_NAMES[st]}")
ax.legend()
verify.peak_error(ev["valid"], ev["q50"].to_numpy(), ev["obs"].to_numpy())
