"""Build floodwarn/data/demo_event_2020.csv.gz, the real event that ``make demo`` replays.

Source: the Han River competition files in ``../shared/data/hanriver`` (see its PROVENANCE.md),
season 2020. Window 2020-07-25 00:00 .. 2020-08-22 23:50 KST, 10-minute, every Seoul-reach
series: Paldang dam 1017310 (swl, inf, sfw, ecpc, tototf), Ganghwa tide DT_0032, the four bridge
gauges (wl as stage in m; fw), the three rain gauges (rf). Converted and flagged by
:func:`floodwarn.feeds.hanriver.read_hanriver`; series with no value at all (Jamsu ``fw``: no
rating curve) are left out; values rounded to the source's own precision (lossless).

The output is reproducible (sorted rows, gzip without name or time stamp): ``--check`` rebuilds it
and fails if its content (the uncompressed CSV, so a different zlib build cannot matter)
differs from the committed file.

    .venv/bin/python tools/make_demo_event.py            # (re)write the fixture
    .venv/bin/python tools/make_demo_event.py --check    # verify the committed fixture
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hanriver"
DEFAULT_OUT = ROOT / "floodwarn" / "data" / "demo_event_2020.csv.gz"
START = datetime.fromisoformat("2020-07-25T00:00:00+09:00")
END = datetime.fromisoformat("2020-08-22T23:50:00+09:00")
#: decimals per variable = the precision of the source columns (so rounding loses nothing;
#: it only removes float noise such as 263.99999999999994 El.cm)
DECIMALS = {"wl": 3, "fw": 2, "rf": 1, "swl": 3, "inf": 2, "tototf": 2, "sfw": 2, "ecpc": 2,
            "tide": 1}
SOURCE_FILES = ("water_data/data_2020.csv", "rf_data/rf_2020.csv")
MAX_BYTES = 3_000_000


def build(data_dir: Path, start: datetime = START, end: datetime = END) -> pd.DataFrame:
    """The window ``start..end`` (valid time, within one season) as an observation frame (flags
    kept), rounded; series with no value in it are left out."""
    from floodwarn.feeds.hanriver import read_hanriver
    from floodwarn.times import to_epoch

    obs = read_hanriver(data_dir, [start.year]).obs
    lo, hi = to_epoch(start), to_epoch(end)
    obs = obs[(obs.valid_time >= lo) & (obs.valid_time <= hi)].copy()
    has_value = obs.groupby(["station", "variable"])["value"].transform(lambda v: v.notna().any())
    obs = obs[has_value.astype(bool)]
    for var, nd in DECIMALS.items():
        m = obs.variable == var
        obs.loc[m, "value"] = obs.loc[m, "value"].round(nd)
    return obs.reset_index(drop=True)


def write(obs: pd.DataFrame, out: Path) -> str:
    """Write the fixture; returns the SHA256 of its uncompressed content."""
    from floodwarn.feeds.archive import write_archive

    write_archive(obs, out)
    return content_sha256(out)


def content_sha256(path: Path) -> str:
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def source_hashes(data_dir: Path) -> dict[str, str]:
    """SHA256 of the source files, checked against the directory's SHA256SUMS."""
    sums = {}
    listed = {}
    sumfile = data_dir / "SHA256SUMS"
    if sumfile.exists():
        for line in sumfile.read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name.removeprefix("./")] = digest
    for name in SOURCE_FILES:
        digest = hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
        if name in listed and listed[name] != digest:
            raise SystemExit(f"{data_dir / name}: SHA256 differs from SHA256SUMS")
        sums[name] = digest
    return sums


def say(text: str) -> None:
    """Report to the terminal (a script, not the package: no logging set-up needed)."""
    sys.stdout.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="hanriver directory")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true", help="verify the committed file, write nothing")
    a = p.parse_args(argv)
    obs = build(a.data)
    sums = source_hashes(a.data)
    if a.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = write(obs, Path(tmp) / a.out.name)
        have = content_sha256(a.out) if a.out.exists() else "(missing)"
        say(f"rebuilt {fresh}\ncommitted {have}")
        return 0 if fresh == have else 1
    digest = write(obs, a.out)
    size = a.out.stat().st_size
    gz = hashlib.sha256(a.out.read_bytes()).hexdigest()
    say(f"wrote {a.out} ({size:,} bytes, {len(obs):,} rows)\n  sha256 of the .gz file: {gz}"
          f"\n  sha256 of the CSV content: {digest}")
    for name, d in sums.items():
        say(f"  source {name}: sha256 {d}")
    if size > MAX_BYTES:
        sys.stderr.write(f"too large: {size} > {MAX_BYTES} bytes\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
