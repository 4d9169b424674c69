"""The dashboard in headless Chromium: station list, a click draws the hydrograph, no script injection."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from floodwarn.api.app import create_app
from floodwarn.api.server import ApiServer
from floodwarn.catalog import load_catalog
from floodwarn.config import load_settings
from floodwarn.store import open_store
from floodwarn.warn.lifecycle import manual_issue
from tests.api.apidata import (  # tests/api/apidata.py
    EVIL,
    NOW,
    TOKEN,
    SimClock,
    seed,
    write_stations,
)

pytestmark = pytest.mark.browser

#: where the screenshot goes besides the test's tmp dir (e.g. CI artifacts)
SHOT_ENV = "FLOODWARN_SCREENSHOTS"


@pytest.fixture
def dashboard(tmp_path):
    stations = write_stations(tmp_path / "stations")
    catalog = load_catalog(stations)
    store = open_store("sqlite:///" + str(tmp_path / "dash.sqlite"))
    seed(store)
    manual_issue(store, catalog, "1018683", "wrnwl", 'stage 9.0 m <b>rising</b> "fast"', "forecaster", NOW)
    settings = load_settings(env={}, stations_dir=str(stations), api={"port": 0, "token": TOKEN})
    srv = ApiServer(create_app(settings, store, catalog, clock=SimClock(NOW + timedelta(minutes=5))),
                    "127.0.0.1", 0).start()
    yield srv.url
    srv.stop()
    store.close()


def test_dashboard_lists_stations_and_draws_a_hydrograph(browser, dashboard, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(dashboard + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "body[data-loaded='1']")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#stations tbody tr")
    codes = [r.get_attribute("data-code") for r in rows]
    assert sorted(codes) == ["1018662", "1018680", "1018683"]
    assert codes[0] == "1018683"  # the warned station sorts first, with its level colour
    chip = rows[0].find_element(By.CSS_SELECTOR, ".chip")
    assert chip.text == "주의보" and "lv2" in chip.get_attribute("class")

    # the hostile station name is shown as text, never parsed as HTML
    evil_row = browser.find_element(By.CSS_SELECTOR, "#stations tr[data-code='1018662'] td.name")
    assert evil_row.text == EVIL
    assert browser.find_elements(By.CSS_SELECTOR, "#stations img, #stations script, #alerts b") == []

    alerts = browser.find_elements(By.CSS_SELECTOR, "#alerts li[data-id]")
    assert len(alerts) == 1 and "<b>rising</b>" in alerts[0].text
    assert "last cycle: 2020-08-06 12:00 KST" in browser.find_element(By.ID, "cycle").text

    rows[0].click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#hydrograph path.observed")))
    svg = browser.find_element(By.ID, "hydrograph")
    assert svg.find_elements(By.CSS_SELECTOR, "polygon.fan") and svg.find_elements(By.CSS_SELECTOR, "path.median")
    levels = {e.get_attribute("data-level") for e in svg.find_elements(By.CSS_SELECTOR, "line.threshold")}
    assert levels == {"attwl", "wrnwl", "almwl", "srswl"}
    assert "288 observations" in browser.find_element(By.ID, "chart-meta").text
    d = svg.find_element(By.CSS_SELECTOR, "path.observed").get_attribute("d")
    assert d.count("L") == 287  # one unbroken line through 288 points

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe  # no JS errors, no blocked (CSP) or failed loads
    assert browser.save_screenshot(str(tmp_path / "dashboard.png"))
    if os.environ.get(SHOT_ENV):
        Path(os.environ[SHOT_ENV]).mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(Path(os.environ[SHOT_ENV]) / "dashboard.png"))
