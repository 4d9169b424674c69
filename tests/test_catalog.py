"""The committed station catalog: counts, thresholds, network, GeoJSON, assets and the CLI.

Everything here runs on the committed ``stations/`` only; the two tests that rebuild or
cross-check against the raw HRFCO dump use the ``shared_data`` fixture.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import shapely.geometry

from floodwarn.catalog import LEVELS, clear_cache, dms_to_decimal, load_catalog
from floodwarn.cli import main
from floodwarn.errors import CatalogError, ConfigError

ROOT = Path(__file__).resolve().parent.parent
STATIONS = ROOT / "stations"

#: the Seoul-reach table of ../shared/data/hrfco/README.md (code: gdt, 관심, 주의보, 경보, 심각, pfh, fp)
README_SEOUL = {
    "1018610": (5.571, 7.0, 9.5, 12.7, 15.6, 15.6, False),
    "1018640": (5.284, 4.2, 8.6, 10.6, 13.0, 13.0, False),
    "1018662": (1.747, 6.9, 10.1, 12.6, 15.5, 15.5, False),
    "1018675": (9.165, 2.4, 5.0, 6.5, 7.9, 7.9, True),
    "1018680": (-0.068, 3.9, 5.5, 6.2, 6.5, 15.6, False),
    "1018683": (2.07, 3.9, 8.5, 10.5, 13.3, 13.3, True),
    "1019630": (0.803, 4.5, 7.2, 9.0, 10.9, 10.9, False),
    "1019675": (-0.1, 4.1, 5.5, 6.8, 8.2, 8.2, False),
    "3011665": (19.643, 5.0, 7.0, 8.0, 9.38, 9.38, True),
}


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


# --- DMS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("128-33-04", 128.551111),
        ("37-37-27 ", 37.624167),  # trailing space as in the dump
        ("126-59-22", 126.989444),
        ("37-20-91", 37.358611),  # seconds >= 60: arithmetic, listed in exceptions.csv
        ("37-30-00.5", 37.500139),
        ("-", None),
        ("--", None),
        (" - -  -  ", None),
        (" ", None),
        ("", None),
        (None, None),
    ],
)
def test_dms_to_decimal(text, expected):
    got = dms_to_decimal(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", ["128.55", "128-33", "N37-37-27", "128-xx-04"])
def test_dms_rejects_garbage(text):
    with pytest.raises(ValueError, match="DDD-MM-SS"):
        dms_to_decimal(text)


def test_dms_matches_flat_csv(shared_data):
    """Our conversion of every raw DMS string equals the independent flat copy's decimals."""
    raw = json.loads((shared_data / "hrfco/waterlevel_info_raw.json").read_text(encoding="utf-8"))["content"]
    with (shared_data / "hrfco/waterlevel_info_flat.csv").open(encoding="utf-8") as fh:
        flat = {r["wlobscd"]: r for r in csv.DictReader(fh)}
    assert len(raw) == len(flat) == 1417
    compared = 0
    for rec in raw:
        ref = flat[rec["wlobscd"]]
        for key in ("lon", "lat"):
            ours = dms_to_decimal(rec[key])
            if ref[key] == "":
                assert ours is None or dms_to_decimal(rec["lat" if key == "lon" else "lon"]) is None
            else:
                assert ours == pytest.approx(float(ref[key]), abs=1e-6), (rec["wlobscd"], key, rec[key])
                compared += 1
    assert compared == 2 * 1405


def test_build_script_reproduces_committed_tables(shared_data, tmp_path):
    """The committed CSVs are exactly what stations/build_catalog.py makes from the raw dump."""
    spec = importlib.util.spec_from_file_location("build_catalog", STATIONS / "build_catalog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    counts = mod.build(shared_data, tmp_path)
    assert counts["waterlevel"] == 1417
    assert counts["forecast_points"] == 223
    assert counts["with_coordinates"] == 1405
    for name in ("waterlevel.csv", "rainfall.csv", "dams.csv", "tide.csv", "exceptions.csv"):
        assert (tmp_path / name).read_bytes() == (STATIONS / name).read_bytes(), name
    # the generated tables load together with the curated network and assets
    for name in ("network.csv", "assets.geojson"):
        shutil.copy(STATIONS / name, tmp_path / name)
    assert len(load_catalog(tmp_path).stations) == 1417


# --- stations and thresholds ----------------------------------------------------------


def test_counts(cat):
    st = cat.stations
    assert len(st) == 1417
    assert st.index.is_unique
    assert int(st["forecast_point"].sum()) == 223
    assert len(cat.forecast_points()) == 223
    assert int(st["lon"].notna().sum()) == 1405
    # counts from ../shared/data/hrfco/README.md, zeros there being "not set" here
    assert int(st["gdt"].notna().sum()) == 1243
    assert int(st["attwl"].notna().sum()) == 896
    assert int(st["wrnwl"].notna().sum()) == 998 - 39
    assert int(st["almwl"].notna().sum()) == 1005 - 39
    assert int(st["srswl"].notna().sum()) == 988
    assert int(st["pfh"].notna().sum()) == 1039 - 63
    for col in (*LEVELS, "pfh"):
        assert not (st[col] == 0).any(), col
    assert set(st["basin"]) == {"Han", "Nakdong", "Geum", "Seomjin", "Yeongsan", "Jeju", ""}
    assert (st.loc[st.index.str[0] == "1", "basin"] == "Han").all()
    assert len(cat.rainfall) == 742 and len(cat.dams) == 55 and list(cat.tide.index) == ["DT_0032"]
    assert cat.forecast_points()["lon"].notna().all(), "every forecast point must be on the map"


def test_warned_codes_are_forecast_points_and_gauges_with_levels(cat):
    st = cat.stations
    warned = set(cat.warned_codes())
    fp = set(cat.forecast_points().index)
    with_levels = set(st.index[st[list(LEVELS)].notna().any(axis=1)])
    assert fp <= warned and with_levels <= warned
    assert warned == fp | with_levels
    assert len(warned) < len(st)  # gauges without any level are not warned


@pytest.mark.parametrize("code", sorted(README_SEOUL))
def test_seoul_bridges_match_readme(cat, code):
    gdt, att, wrn, alm, srs, pfh, fp = README_SEOUL[code]
    row = cat.stations.loc[code]
    assert cat.gdt(code) == pytest.approx(gdt)
    assert cat.thresholds(code) == pytest.approx({"attwl": att, "wrnwl": wrn, "almwl": alm, "srswl": srs})
    assert row["pfh"] == pytest.approx(pfh)
    assert bool(row["forecast_point"]) is fp


def test_threshold_order_everywhere(cat):
    """Set levels are non-decreasing for every station (no waived exceptions in the real dump)."""
    assert not (cat.exceptions["rule"] == "threshold_order").any()
    checked = 0
    for code in cat.stations.index:
        vals = list(cat.thresholds(code).values())
        assert vals == sorted(vals), code
        checked += len(vals) >= 2
    assert checked > 900


def test_threshold_overrides(cat):
    base = cat.thresholds("1018683")
    assert list(base) == list(LEVELS)
    # the settings table form and the one-station form
    assert cat.thresholds("1018683", {"1018683": {"wrnwl": 8.4}})["wrnwl"] == 8.4
    assert cat.thresholds("1018683", {"1018662": {"wrnwl": 1.0}}) == base
    assert cat.thresholds("1018683", {"attwl": 4.0})["attwl"] == 4.0
    assert "attwl" not in cat.thresholds("1018683", {"attwl": 0})
    # a level HRFCO leaves unset can be set from config
    assert cat.thresholds("1018605", {"wrnwl": 3.0}) == {"wrnwl": 3.0}
    with pytest.raises(ConfigError, match="out of order") as err:
        cat.thresholds("1018683", {"wrnwl": 11.0})
    assert err.value.station == "1018683"
    with pytest.raises(ConfigError, match="unknown level"):
        cat.thresholds("1018683", {"1018683": {"warning": 9.0}})
    with pytest.raises(CatalogError, match="unknown water-level station"):
        cat.thresholds("9999999")


def test_known_and_gdt(cat):
    assert cat.known("1018683") == "waterlevel"
    assert cat.known("10184100") == "rainfall"
    assert cat.known("1017310") == "dam"
    assert cat.known("DT_0032") == "tide"
    assert cat.known("2002610") == "waterlevel"  # also a dam code; water level wins
    assert cat.known("nope") is None
    assert cat.gdt("1018680") == pytest.approx(-0.068)
    assert cat.gdt("1001605") == pytest.approx(724.782)
    assert cat.gdt("1018628") is None  # blank in the dump
    with pytest.raises(CatalogError):
        cat.gdt("10184100")


# --- network --------------------------------------------------------------------------

MAIN_STEM = ["1017310", "1018610", "1018640", "1018662", "1018680", "1018683", "1019630", "1019675", "DT_0032"]
#: Yongdam dam -> the Geum gauges that answer its release (2018-09 and 2021-08 steps)
GEUM_MAIN = ["3001110", "3002655", "3004620", "3004650", "3004690", "3006680"]
#: the 17 catalogued gauges of ../shared/data/geum_yongdam_downstream_hourly
GEUM_GAUGES = {
    "3002655", "3003620", "3003660", "3003680", "3004620", "3004650", "3004670", "3004690", "3005690",
    "3006680", "3007610", "3007620", "3007640", "3007650", "3007655", "3007660", "3008670",
}
#: stations/dams.csv has no coordinates for Yongdam dam; its stage gauge 3001690 is at the dam
DAM_GAUGE = {"3001110": "3001690"}


def test_network_main_stem(cat):
    assert cat.downstream_path("1017310") == MAIN_STEM
    net = cat.network
    assert net.loc["DT_0032", "downstream"] == "" and net.loc["DT_0032", "role"] == "boundary"
    assert net.loc["1017310", "kind"] == "dam" and net.loc["1017310", "role"] == "boundary"
    # Paldang dam -> Hangang bridge along the river, about 35 km (approximate reach lengths)
    km = sum(net.loc[c, "reach_km"] for c in MAIN_STEM[:5])
    assert 30 < km < 40
    assert net["reach_km"].dropna().gt(0).all()
    # every node is a real station with coordinates (a dam without them: its stage gauge's)
    for code, row in net.iterrows():
        frame = {"waterlevel": cat.stations, "rainfall": cat.rainfall, "dam": cat.dams, "tide": cat.tide}[row["kind"]]
        assert code in frame.index, code
        if code in DAM_GAUGE:
            frame, code = cat.stations, DAM_GAUGE[code]
        assert not math.isnan(frame.loc[code, "lon"]), code


def test_network_upstream_and_order(cat):
    assert cat.upstream("1018680") == ["10184140", "1018662", "1018675"]  # lateral rain, main stem, Jungnang
    assert cat.upstream("1017310") == []
    assert cat.upstream("1018630") == ["10184110"]
    everything = cat.upstream("DT_0032", recursive=True)
    han = cat.network.index[cat.network["basin"] == "Han"]
    assert set(everything) == set(han) - {"DT_0032"}
    order = cat.topological_order()
    assert sorted(order) == sorted(cat.network.index)
    pos = {c: i for i, c in enumerate(order)}
    for code, down in cat.network["downstream"].items():
        if down:
            assert pos[code] < pos[down], (code, down)
    assert order == cat.topological_order()  # deterministic
    assert cat.topological_order(basin="Han")[-1] == "DT_0032"
    assert cat.topological_order(basin="Han") == [c for c in order if c in set(han)]
    assert cat.topological_order(basin="Nakdong") == []
    # the three competition rain gauges are lateral inputs
    rain = cat.network[cat.network["kind"] == "rainfall"]
    assert set(rain.index) == {"10184100", "10184110", "10184140"}
    assert (rain["role"] == "lateral").all()
    with pytest.raises(CatalogError):
        cat.upstream("1001602")


def test_network_geum_below_yongdam(cat):
    net = cat.network
    geum = net[net["basin"] == "Geum"]
    assert set(geum.index) == GEUM_GAUGES | {"3001110"}
    assert set(geum["kind"]) == {"dam", "waterlevel"}  # no rain laterals: the archive has no HRFCO rain
    assert cat.downstream_path("3001110") == GEUM_MAIN
    assert net.loc["3001110", "role"] == "boundary" and (geum.loc[GEUM_MAIN, "river"] == "금강").all()
    # tributaries drain into the main-stem gauge below their confluence
    assert cat.downstream_path("3003620")[:4] == ["3003620", "3003660", "3003680", "3004620"]  # Muju Namdae
    assert net.loc["3008670", "downstream"] == "3004650"  # Bonghwang: Jewon bridge ignores the release
    assert net.loc["3004670", "downstream"] == "3004690"
    assert net.loc["3005690", "downstream"] == "3006680"  # Chogang: Simcheon bridge ignores it too
    assert cat.downstream_path("3007610") == ["3007610", "3007620", "3007640", "3007650", "3007655", "3007660"]
    assert set(cat.upstream("3001110", recursive=True)) == set()
    assert set(cat.upstream("3006680", recursive=True)) == GEUM_GAUGES - {"3006680"} - {
        "3007610", "3007620", "3007640", "3007650", "3007655", "3007660"} | {"3001110"}
    # HRFCO codes grow downstream within a mid-basin (first four digits)
    for code, down in geum["downstream"].items():
        if down and down[:4] == code[:4]:
            assert down > code, (code, down)
    # approximate along-river lengths: Yongdam dam -> Iwon bridge about 60 km
    km = sum(geum.loc[c, "reach_km"] for c in GEUM_MAIN[:-1])
    assert 45 < km < 80
    assert geum["reach_km"].dropna().between(1, 30).all()
    # the five forecast points of the archive keep their role
    points = set(cat.forecast_points().index) & set(geum.index)
    assert points == {"3003680", "3004690", "3007620", "3007660", "3008670"}
    assert (geum.loc[sorted(points), "role"] == "forecast").all()
    order = cat.topological_order(basin="Geum")
    assert order[0] == "3001110" and sorted(order) == sorted(geum.index)


# --- GeoJSON --------------------------------------------------------------------------


def _decimals(x: float) -> int:
    s = repr(x)
    return len(s.split(".")[1]) if "." in s else 0


def test_station_geojson_rfc7946(cat):
    doc = cat.to_geojson()
    text = json.dumps(doc, ensure_ascii=False)
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    feats = doc["features"]
    assert len(feats) == 1405
    assert len({f["id"] for f in feats}) == len(feats)
    for f in feats:
        lon, lat = f["geometry"]["coordinates"]
        assert 124 <= lon <= 132 and 33 <= lat <= 39  # [lon, lat], not [lat, lon]
        assert _decimals(lon) <= 7 and _decimals(lat) <= 7
        assert shapely.geometry.shape(f["geometry"]).is_valid
        props = f["properties"]
        assert set(props) >= {"code", "name", "agency", "thresholds", "forecast_point", "basin"}
        vals = list(props["thresholds"].values())
        assert vals == sorted(vals)
    fp = cat.to_geojson(forecast_only=True)["features"]
    assert len(fp) == 223 and all(f["properties"]["forecast_point"] for f in fp)
    jamsu = next(f for f in feats if f["id"] == "1018680")
    assert jamsu["properties"]["thresholds"] == {"attwl": 3.9, "wrnwl": 5.5, "almwl": 6.2, "srswl": 6.5}


# --- assets ---------------------------------------------------------------------------


def test_assets(cat):
    assets = cat.assets
    assert len(assets) >= 15
    ids = [a["id"] for a in assets]
    assert len(set(ids)) == len(ids)
    types = {a["properties"]["asset_type"] for a in assets}
    assert {"parking", "road", "bridge", "trail"} <= types
    polygons = 0
    for a in assets:
        geom = shapely.geometry.shape(a["geometry"])
        assert geom.is_valid, a["id"]
        if a["geometry"]["type"] == "Polygon":
            polygons += 1
            assert geom.exterior.is_ccw, a["id"]  # RFC 7946: exterior counter-clockwise
        props = a["properties"]
        assert cat.known(props["trigger_station"]) == "waterlevel"
        assert props["trigger_basis"].startswith(("ESTIMATE", "PUBLISHED"))
        assert isinstance(props["trigger_stage_m"], float)
        assert props["district_code"].startswith("11")  # Seoul
        levels = cat.thresholds(props["trigger_station"]).values()
        if props["trigger_basis"].startswith("ESTIMATE"):
            assert props["trigger_stage_m"] in levels  # estimates are tied to an official level
    assert polygons >= 2
    by_id = {a["id"]: a["properties"] for a in assets}
    assert by_id["jamsu-bridge-pedestrians"]["trigger_stage_m"] == 5.5
    assert by_id["jamsu-bridge-vehicles"]["trigger_stage_m"] == 6.2
    assert by_id["hangang-yeouido-parking"]["district_code"] == "11560"


# --- caching --------------------------------------------------------------------------


def test_cache_per_directory_and_reload_on_change(tmp_path):
    copy = tmp_path / "stations"
    shutil.copytree(STATIONS, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    a = load_catalog(copy)
    assert load_catalog(copy) is a
    assert load_catalog(STATIONS) is not a
    net = copy / "network.csv"
    net.write_text(net.read_text(encoding="utf-8").replace(",1019630,16.4,", ",1019630,16.5,"), encoding="utf-8")
    b = load_catalog(copy)
    assert b is not a
    assert b.network.loc["1018683", "reach_km"] == 16.5
    assert a.network.loc["1018683", "reach_km"] == 16.4
    clear_cache()
    assert load_catalog(copy) is not b


# --- CLI ------------------------------------------------------------------------------


def test_cli_table_forecast_points(capsys):
    assert main(["stations", "--forecast-points"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["code", "name", "basin"]
    assert out.rstrip().endswith("(223 rows)")
    assert "서울시(한강대교)" in out


def test_cli_filters_json_and_csv(capsys):
    assert main(["stations", "--basin", "han", "--name", "잠수교", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["code"] for r in rows] == ["1018680"]
    assert rows[0]["attwl"] == 3.9 and rows[0]["forecast_point"] is False
    assert main(["stations", "--code", "1018683", "--code", "1019630", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["code"] for r in rows] == ["1018683", "1019630"]
    assert rows[0]["wrnwl"] == "8.5" and rows[0]["forecast_point"] == "Y"
    assert main(["stations", "--kind", "network", "--format", "json"]) == 0
    net = json.loads(capsys.readouterr().out)
    assert {r["code"] for r in net} >= set(MAIN_STEM)


def test_cli_geojson(tmp_path, capsys):
    target = tmp_path / "fp.geojson"
    assert main(["stations", "--forecast-points", "--geojson", str(target)]) == 0
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 223
    assert main(["stations", "--basin", "Han", "--name", "서울", "--geojson"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "FeatureCollection"
    assert {f["properties"]["basin"] for f in doc["features"]} == {"Han"}
    assert all("서울" in f["properties"]["name"] for f in doc["features"])


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["stations", "--kind", "tide", "--forecast-points"]) == 1
    assert "error: --forecast-points" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "waterlevel.csv").write_text("code,name\n1,x\n", encoding="utf-8")
    monkeypatch.setenv("FLOODWARN_STATIONS_DIR", str(broken))
    assert main(["stations"]) == 1
    err = capsys.readouterr().err
    assert str(broken / "waterlevel.csv") in err  # the full path: stations_dir may be anyone's
    assert "missing required column" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
