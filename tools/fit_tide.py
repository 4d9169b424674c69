"""Fit the harmonic constants of the Ganghwa tide gauge (KHOA DT_0032) for the missing-tide proxy.

The Han models read the Ganghwa tide; when the KHOA feed is down (or an archive has no tide),
``floodwarn.forecast.proxies`` puts the astronomical tide in its place, reconstructed by UTide
from the constants this tool writes to ``floodwarn/data/tide_DT_0032.json``.

Fitted on the 2012-2019 seasons only (the training years of the evaluation models), so the
2020-2022 test seasons stay out of sample for the proxy too.

    .venv/bin/python tools/fit_tide.py            # fit and write (a few seconds)
    .venv/bin/python tools/fit_tide.py --check    # refit in memory, compare with the file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from floodwarn.forecast import dataset as D  # noqa: E402
from floodwarn.forecast.proxies import TIDE_FILE, coef_to_json, tide_rmse  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hanriver"
FIT_YEARS = range(2012, 2020)
LATITUDE = 37.73  # Ganghwa bridge (stations/tide.csv)
#: 30-minute samples: the same constants as 10-minute ones to 0.1 cm, a third of the work
THIN = 3


def fit(data_dir: Path) -> dict:
    import utide

    wide = D.read_hanriver(data_dir, years=FIT_YEARS)
    tide = wide[f"tide_{D.TIDE}"].dropna().iloc[::THIN]
    coef = utide.solve(tide.index.tz_convert(None).to_numpy(), tide.to_numpy(np.float64), lat=LATITUDE,
                       method="ols", conf_int="none", trend=False, verbose=False)
    out = coef_to_json(coef)
    out["fitted_on"] = {"station": D.TIDE, "years": [min(FIT_YEARS), max(FIT_YEARS)], "unit": "cm",
                        "samples": int(len(tide)), "source": "../shared/data/hanriver (KHOA tide_level)"}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--check", action="store_true", help="refit and compare with the shipped file")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"no Han River data at {args.data}")
    new = fit(args.data)
    if args.check:
        old = json.loads(TIDE_FILE.read_text(encoding="utf-8"))
        same = all(np.allclose(old[k]["__array__"], new[k]["__array__"], atol=1e-6) for k in ("A", "g"))
        sys.stdout.write(f"{TIDE_FILE}: {'reproduced' if same else 'DIFFERS'}\n")
        return 0 if same else 1
    TIDE_FILE.write_text(json.dumps(new, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    wide = D.read_hanriver(args.data, years=[2020, 2021, 2022])
    for year in (2020, 2021, 2022):
        obs = wide.loc[wide.index.year == year, f"tide_{D.TIDE}"]
        sys.stdout.write(f"{year}: RMSE of the astronomical tide {tide_rmse(obs):.1f} cm\n")
    sys.stdout.write(f"wrote {TIDE_FILE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
