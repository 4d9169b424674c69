"""A broken catalog gives one CatalogError naming the file, row and field.

Each test copies the committed ``stations/`` into tmp_path, breaks one thing and loads it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from floodwarn.catalog import load_catalog
from floodwarn.errors import CatalogError

STATIONS = Path(__file__).resolve().parent.parent / "stations"
#: data row (1-based, header not counted) of 1018683 서울시(한강대교) in waterlevel.csv
HANGANG_ROW = next(
    i for i, line in enumerate((STATIONS / "waterlevel.csv").read_text(encoding="utf-8").splitlines())
    if line.startswith("1018683,")
)


@pytest.fixture()
def copy(tmp_path) -> Path:
    d = tmp_path / "stations"
    shutil.copytree(STATIONS, d, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    return d


def _edit_line(path: Path, startswith: str, fn) -> int:
    """Apply ``fn`` to the first line starting with ``startswith``; returns its data-row number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(startswith))
    lines[i] = fn(lines[i])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return i


def _set_field(path: Path, code: str, field: str, value: str) -> int:
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    k = header.index(field)

    def fn(line: str) -> str:
        cells = line.split(",")
        cells[k] = value
        return ",".join(cells)

    return _edit_line(path, code + ",", fn)


def _load_error(d: Path) -> CatalogError:
    with pytest.raises(CatalogError) as err:
        load_catalog(d)
    return err.value


def test_copy_loads(copy):
    assert len(load_catalog(copy).stations) == 1417


def test_duplicate_code(copy):
    wl = copy / "waterlevel.csv"
    lines = wl.read_text(encoding="utf-8").splitlines()
    lines.append(lines[HANGANG_ROW])
    wl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field, err.station) == ("waterlevel.csv", 1418, "code", "1018683")
    assert f"first at row {HANGANG_ROW}" in str(err)


def test_duplicate_rain_gauge(copy):
    rf = copy / "rainfall.csv"
    lines = rf.read_text(encoding="utf-8").splitlines()
    rf.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    err = _load_error(copy)
    assert (Path(err.file).name, err.field) == ("rainfall.csv", "code")


@pytest.mark.parametrize(
    ("field", "value"),
    [("lon", "140.5"), ("lon", "37.514444"), ("lat", "126.956667"), ("lat", "32.1")],
)
def test_coordinates_outside_korea(copy, field, value):
    row = _set_field(copy / "waterlevel.csv", "1018683", field, value)
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field, err.station) == ("waterlevel.csv", row, field, "1018683")
    assert "outside Korea" in str(err)


def test_half_a_coordinate(copy):
    row = _set_field(copy / "waterlevel.csv", "1018683", "lat", "")
    err = _load_error(copy)
    assert (err.row, err.field) == (row, "lat")


def test_tide_coordinates_outside_korea(copy):
    _set_field(copy / "tide.csv", "DT_0032", "lat", "45.0")
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field) == ("tide.csv", 1, "lat")


def test_threshold_out_of_order_and_documented_exception(copy):
    row = _set_field(copy / "waterlevel.csv", "1018683", "almwl", "8.0")  # 경보 below 주의보 8.5
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field, err.station) == ("waterlevel.csv", row, "almwl", "1018683")
    assert "out of order" in str(err)
    # a documented exception (as the build script would write it) makes the row acceptable
    with (copy / "exceptions.csv").open("a", encoding="utf-8") as fh:
        fh.write("1018683,threshold_order,almwl,wrnwl=8.5 almwl=8.0,as published\n")
    cat = load_catalog(copy)
    assert cat.thresholds("1018683")["almwl"] == 8.0


def test_blank_levels_are_skipped_in_order_check(copy):
    _set_field(copy / "waterlevel.csv", "1018683", "wrnwl", "")
    assert list(load_catalog(copy).thresholds("1018683")) == ["attwl", "almwl", "srswl"]


@pytest.mark.parametrize("field", ["attwl", "gdt", "lon", "pfh"])
def test_non_numeric(copy, field):
    row = _set_field(copy / "waterlevel.csv", "1018683", field, "8,5m".replace(",", ""))
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field) == ("waterlevel.csv", row, field)
    assert "not a number" in str(err)


def test_bad_forecast_flag(copy):
    row = _set_field(copy / "waterlevel.csv", "1018683", "forecast_point", "yes")
    err = _load_error(copy)
    assert (err.row, err.field) == (row, "forecast_point")


@pytest.mark.parametrize(("name", "column"), [("waterlevel.csv", "gdt"), ("network.csv", "downstream"),
                                               ("dams.csv", "lat")])
def test_missing_required_column(copy, name, column):
    path = copy / name
    lines = path.read_text(encoding="utf-8").splitlines()
    k = lines[0].split(",").index(column)
    path.write_text("\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != k) for line in lines) + "\n",
                    encoding="utf-8")
    err = _load_error(copy)
    assert (Path(err.file).name, err.field) == (name, column)
    assert "missing required column" in str(err)


def test_missing_waterlevel_file(copy):
    (copy / "waterlevel.csv").unlink()
    assert "file missing" in str(_load_error(copy))


def test_exception_for_unknown_station(copy):
    with (copy / "exceptions.csv").open("a", encoding="utf-8") as fh:
        fh.write("0000000,threshold_order,almwl,,typo\n")
    err = _load_error(copy)
    assert (Path(err.file).name, err.field, err.station) == ("exceptions.csv", "code", "0000000")


# --- network --------------------------------------------------------------------------


def test_unknown_downstream(copy):
    row = _set_field(copy / "network.csv", "1018680", "downstream", "1018699")
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field, err.station) == ("network.csv", row, "downstream", "1018680")
    assert "1018699" in str(err)


def test_network_node_not_in_catalog(copy):
    row = _set_field(copy / "network.csv", "1018640", "kind", "dam")  # a water-level code listed as a dam
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field) == ("network.csv", row, "code")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("kind", "weir", "unknown kind"),
    ("role", "target", "unknown role"),
    ("reach_km", "far", "not a number"),
    ("reach_km", "-1", "negative"),
    ("downstream", "1018680", "itself"),
])
def test_network_bad_values(copy, field, value, message):
    row = _set_field(copy / "network.csv", "1018680", field, value)
    err = _load_error(copy)
    assert (Path(err.file).name, err.row, err.field) == ("network.csv", row, field)
    assert message in str(err)


def test_network_cycle(copy):
    _set_field(copy / "network.csv", "DT_0032", "downstream", "1018610")
    err = _load_error(copy)
    assert (Path(err.file).name, err.field) == ("network.csv", "downstream")
    assert "cycle" in str(err)


def test_rain_kind_alias(copy):
    _set_field(copy / "network.csv", "10184100", "kind", "rain")
    assert load_catalog(copy).network.loc["10184100", "kind"] == "rainfall"


# --- assets ---------------------------------------------------------------------------


def _edit_assets(d: Path, fn) -> None:
    path = d / "assets.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    fn(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _first(doc) -> dict:
    return doc["features"][0]


@pytest.mark.parametrize(("mutate", "field", "message"), [
    (lambda d: _first(d)["properties"].update(trigger_station="1099999"), "properties.trigger_station",
     "unknown trigger station"),
    (lambda d: _first(d)["properties"].update(trigger_station="10184100"), "properties.trigger_station",
     "unknown trigger station"),
    (lambda d: _first(d)["properties"].pop("trigger_stage_m"), "properties.trigger_stage_m", "must be a number"),
    (lambda d: _first(d)["properties"].update(trigger_stage_m="5.5"), "properties.trigger_stage_m",
     "must be a number"),
    (lambda d: _first(d)["properties"].update(trigger_stage_m=None), "properties.trigger_stage_m",
     "must be a number"),
    (lambda d: _first(d)["properties"].pop("trigger_basis"), "properties.trigger_basis", "required"),
    (lambda d: _first(d)["properties"].update(asset_type="tunnel"), "properties.asset_type", "unknown asset_type"),
    (lambda d: _first(d)["properties"].update(district_code="Seoul"), "properties.district_code", "administrative"),
    (lambda d: _first(d).update(geometry={"type": "Point", "coordinates": [37.55, 127.12]}),
     "geometry.coordinates", "outside Korea"),
    (lambda d: _first(d).update(geometry={"type": "Point", "coordinates": ["x"]}),
     "geometry.coordinates", "malformed"),
    (lambda d: _first(d).update(geometry={"type": "GeometryCollection", "geometries": []}), "geometry", "Point"),
    (lambda d: _first(d).update(id=""), "id", "stable string id"),
    (lambda d: d["features"][1].update(id=_first(d)["id"]), "id", "duplicate id"),
    (lambda d: d.update(crs={"type": "name"}), "crs", "crs"),
])
def test_asset_validation(copy, mutate, field, message):
    _edit_assets(copy, mutate)
    err = _load_error(copy)
    assert (Path(err.file).name, err.field) == ("assets.geojson", field)
    assert message in str(err)
    if field not in ("crs",):
        assert err.row is not None


def test_asset_clockwise_polygon_rejected(copy):
    def flip(doc):
        feat = next(f for f in doc["features"] if f["geometry"]["type"] == "Polygon")
        feat["geometry"]["coordinates"][0].reverse()

    _edit_assets(copy, flip)
    err = _load_error(copy)
    assert err.field == "geometry.coordinates" and "counter-clockwise" in str(err)


def test_asset_duplicate_row_names_second_feature(copy):
    _edit_assets(copy, lambda d: d["features"].append(dict(d["features"][3])))
    err = _load_error(copy)
    n = len(json.loads((copy / "assets.geojson").read_text(encoding="utf-8"))["features"])
    assert str(err.row).startswith(str(n)) and "first at feature 4" in str(err)


def test_asset_invalid_json(copy):
    (copy / "assets.geojson").write_text("{not json", encoding="utf-8")
    err = _load_error(copy)
    assert Path(err.file).name == "assets.geojson" and "invalid JSON" in str(err)


def test_hysteresis_rows_are_validated(tmp_path) -> None:
    import shutil

    from floodwarn.catalog import load_catalog
    from floodwarn.config import project_root
    from floodwarn.errors import CatalogError

    src = project_root() / "stations"
    cat = load_catalog(src)
    assert int(cat.hysteresis.loc["1018680", "dwell_cycles"]) == 75
    for body, field in [
        ("code,margin_m,dwell_cycles,reason\n9999999,0.1,3,x\n", "code"),
        ("code,margin_m,dwell_cycles,reason\n1018680,-0.1,3,x\n", "margin_m"),
        ("code,margin_m,dwell_cycles,reason\n1018680,0.1,2.5,x\n", "dwell_cycles"),
        ("code,margin_m,dwell_cycles,reason\n1018680,0.1,3,x\n1018680,0.2,3,y\n", "code"),
    ]:
        d = tmp_path / f"cat{abs(hash(body))}"
        shutil.copytree(src, d)
        (d / "hysteresis.csv").write_text(body, encoding="utf-8")
        with pytest.raises(CatalogError) as err:
            load_catalog(d)
        assert err.value.field == field and "hysteresis.csv" in str(err.value)
