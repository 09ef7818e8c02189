"""The console in a real browser (headless Debian Chromium driven by selenium): what an operator
sees against a running flight. Skips, with the packages to install, where no browser is present."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import aiohttp  # noqa: E402,F401  (the console extra, which `make` installs: missing is a failure, not a skip)
import selenium  # noqa: E402,F401

from ground._console import OPENMCT_DIST

from _console_harness import ROOT, ConsoleProcess, fake_campaign_reports, free_udp_ports, start_flight, wait_for

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="headless Chromium not installed: apt-get install chromium chromium-driver"),
    pytest.mark.skipif(not (OPENMCT_DIST / "openmct.js").is_file(), reason="Open MCT not installed: run make"),
]
TOKEN = "right-token-123"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium Manager sends nothing anywhere
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1600,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """`flight serve` and `ground console` as subprocesses on free ports."""
    tc_port, tm_port = free_udp_ports(2)
    flight = start_flight(tc_port, tm_port)
    folder = tmp_path_factory.mktemp("console")
    console = ConsoleProcess(folder / "history.sqlite", tc_port, tm_port, token=TOKEN,
                             extra=("--campaigns", str(fake_campaign_reports(folder))))
    yield console
    console.stop()
    flight.terminate()
    flight.wait(timeout=15)


def views(driver) -> dict[str, str]:
    """The layout's value boxes, label -> shown value."""
    pairs = driver.execute_script(
        "return Array.from(document.querySelectorAll('.c-telemetry-view')).map(e => e.innerText.split('\\n'))")
    return {p[0].strip(): p[-1].strip() for p in pairs if len(p) >= 2}


def shown(driver, label: str, timeout: float = 30.0) -> str:
    """The value a layout shows for `label`, once it shows one (Open MCT draws '---' until data comes)."""
    def value():
        v = views(driver).get(label)
        return v if v not in (None, "", "---") else None

    return wait_for(value, timeout, f"{label} shown in the layout")


def send_from_console(driver, name: str, token: str, args: str = "", operator: str = "test-operator") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for field, value in (("cmd-operator", operator), ("cmd-token", token), ("cmd-args", args)):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    Select(driver.find_element(By.ID, "cmd-name")).select_by_value(name)
    driver.execute_script("document.getElementById('cmd-result').dataset.state = 'idle'")
    driver.find_element(By.ID, "cmd-send").click()


def result(driver, timeout: float = 20.0) -> tuple[str, str]:
    def done():
        state, text = driver.execute_script(
            "const r = document.getElementById('cmd-result'); return [r.dataset.state, r.textContent]")
        return (state, text) if state not in ("idle", "sending") else None

    return wait_for(done, timeout, "the command's outcome shown")


def test_console_shows_mode_nominal_and_an_advancing_cycle_counter(browser, live, tmp_path):
    browser.get(live.base + "/")
    assert shown(browser, "mode") == "NOMINAL"
    assert shown(browser, "active_slot") == "A"
    first = int(shown(browser, "cycle"))
    wait_for(lambda: int(views(browser).get("cycle", "0")) > first + 20, 20, "the cycle counter advancing")
    wait_for(lambda: browser.find_elements("css selector", ".plot-legend-item"), 20, "the plots' legends")
    browser.save_screenshot(str(tmp_path / "console.png"))
    assert (tmp_path / "console.png").stat().st_size > 10_000


def test_a_noop_sent_from_the_console_completes(browser, live):
    browser.get(live.base + "/")
    before = int(shown(browser, "cmd_accepted"))
    send_from_console(browser, "NOOP", TOKEN)
    state, text = result(browser)
    assert state == "completed" and text.startswith("NOOP: completed at cycle"), text
    wait_for(lambda: int(views(browser).get("cmd_accepted", "0")) == before + 1, 20, "cmd_accepted counting it")
    assert live.get("/api/commands")[0]["operator"] == "test-operator"


def test_a_wrong_token_cannot_command_from_the_console(browser, live):
    browser.get(live.base + "/")
    shown(browser, "mode")
    sent = live.get("/api/status")["commands_sent"]
    send_from_console(browser, "NOOP", "not-the-token")
    state, text = result(browser)
    assert state == "refused" and "403" in text and "wrong token" in text, text
    assert live.get("/api/status")["commands_sent"] == sent


def test_a_hazardous_command_waits_for_confirmation(browser, live):
    browser.get(live.base + "/")
    shown(browser, "mode")
    sent = live.get("/api/status")["commands_sent"]
    send_from_console(browser, "ROLLBACK", TOKEN)
    alert = wait_for(lambda: _alert(browser), 10, "the confirmation dialog")
    assert "hazardous" in alert.text
    alert.dismiss()
    state, text = wait_for(lambda: browser.execute_script(
        "const r = document.getElementById('cmd-result'); return r.textContent.includes('not sent') && "
        "[r.dataset.state, r.textContent]"), 10, "the command dropped")
    assert text == "ROLLBACK not sent"
    assert live.get("/api/status")["commands_sent"] == sent


def test_the_uplink_view_shows_the_uplink_from_telemetry(browser, live):
    browser.get(live.base + "/#/browse/seuguard:spacecraft/seuguard:layout.uplink")
    assert shown(browser, "uplink_state") == "idle"
    assert shown(browser, "uplink_files") == "0" and shown(browser, "uplink_staged_slot") == "none"
    assert "Uplink PDUs and files" in browser.execute_script("return document.body.innerText")


def test_campaign_reports_are_browsable_by_campaign(browser, live):
    browser.get(live.base + "/static/campaigns.html")
    text = wait_for(lambda: browser.execute_script(
        "const p = document.querySelector('#solar-storm-tmr pre'); return p && p.textContent"), 15, "the report text")
    assert "| tmr+scrub | 0/40 |" in text
    assert wait_for(lambda: browser.execute_script(
        "const i = document.querySelector('#solar-storm-tmr img'); return i && i.complete && i.naturalWidth"), 15,
        "the plot image loaded") > 100
    assert browser.execute_script("return document.querySelectorAll('section.campaign').length") == 1


def _alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def legend(driver) -> dict[str, list[str]]:
    """Expanded plot legends: series name -> [.., min, max]."""
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr.plot-legend-item')).map(e => e.innerText.split('\\t'))")
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}


def test_a_single_bit_upset_shows_as_a_corrected_vote_and_a_repaired_chunk_on_the_plots(browser, tmp_path):
    from flight import Instrument, SlotStore, load_config, make_executive
    from flight._serve import serve
    from flight.comms._links import UdpLink
    from sim.lunar_lander import LunarLanderWorld

    class FlipWhenAsked(Instrument):
        """One bit-30 flip in replica 1's weights, at the first cycle after the test asks."""

        def __init__(self):
            self.asked = threading.Event()
            self.flipped_at = None

        def cycle_start(self, cycle, executive):
            if self.asked.is_set() and self.flipped_at is None:
                executive.replicas[1].image.flip_bit("fc3.bias", 2, 30)
                self.flipped_at = cycle

    tc_port, tm_port = free_udp_ports(2)
    console = ConsoleProcess(tmp_path / "history.sqlite", tc_port, tm_port, token=TOKEN)
    world = LunarLanderWorld(continuous=False)
    executive = make_executive(SlotStore.single(ROOT / "models" / "lander-discrete"), load_config(), world,
                               [upset := FlipWhenAsked()])
    link = UdpLink("127.0.0.1", tc_port, tm_port)
    stop = threading.Event()
    flight = threading.Thread(target=serve, args=(executive, world, link), kwargs={"stop": stop}, daemon=True)
    flight.start()
    try:
        browser.get(console.base + "/")
        assert shown(browser, "votes_corrected") == "0"  # the page is up before the upset
        assert shown(browser, "chunks_repaired") == "0"
        upset.asked.set()
        wait_for(lambda: views(browser).get("votes_corrected") == "1", 30, "the corrected vote in the layout")
        wait_for(lambda: views(browser).get("chunks_repaired") == "1", 30, "the repaired chunk in the layout")
        assert views(browser)["mode"] == "NOMINAL"
        for control in browser.find_elements("css selector", ".c-plot-legend__view-control"):
            control.click()  # expand the legends: they show each series' min and max over the plot
        wait_for(lambda: legend(browser).get("votes_corrected", [""])[-1] == "1", 20, "votes_corrected max 1 on the plot")
        wait_for(lambda: legend(browser).get("chunks_repaired", [""])[-1] == "1", 20, "chunks_repaired max 1 on the plot")
        wait_for(lambda: "VOTE_CORRECTED_LOW" in browser.execute_script(
            "return Array.from(document.querySelectorAll('.c-telemetry-table')).map(e => e.innerText).join(' ')"),
            20, "the event in the event list")
        browser.save_screenshot(str(tmp_path / "console-upset.png"))
        target = os.environ.get("SEUGUARD_CONSOLE_SCREENSHOT")  # how docs/console.png was made
        if target:
            shutil.copy(tmp_path / "console-upset.png", target)
    finally:
        stop.set()
        flight.join(timeout=15)
        link.close()
        world.close()
        console.stop()
