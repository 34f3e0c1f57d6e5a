"""The console in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by Selenium,
against a real ``ecg-gateway``, Mosquitto, ``ecg-replay`` and ``ecg-web``, all as separate processes.

One scenario, in the order a caregiver lives it: a refused login; the
overview; the patient coming online and the live trace moving; the
ventricular run of the MIT-BIH excerpt e233 arriving with its strip;
acknowledging it in one session and seeing who did it in another; the
history still there after the console restarts; a patient of another
caregiver refused; a record uploaded and its report shown, a bad file
refused in one line; the beat clusters of the gateway's recording of the
patient labelled on the calibration page.  ``ECG_SCREENSHOTS=docs`` also saves a screenshot of
each page as ``docs/console-*.png`` (the ones in the README and docs/console.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from pathlib import Path

import pytest

from gateway.tools.localbroker import LocalBroker, find_mosquitto, free_port
from gateway.tools.replay import REPLAY_GAIN, record_counts, replay
from gateway.tools.supervise import DemoDevice, GatewayProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "mitdb"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
KIT = DemoDevice("kit1", "p1", "token-one", gain=REPLAY_GAIN)
SHOTS = os.environ.get("ECG_SCREENSHOTS")


def _missing() -> str | None:
    if find_mosquitto() is None:
        return "mosquitto is not installed (apt-get install mosquitto)"
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        return "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    try:
        import aiohttp  # noqa: F401
        import selenium  # noqa: F401
    except ImportError:
        return "the dev extra is not installed (aiohttp, selenium)"
    return None


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """Mosquitto, the gateway (shipped model, live trace and beats on) and the console with three accounts."""
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(why)
    from gateway.tools.console_process import ConsoleProcess, write_console_config

    work = tmp_path_factory.mktemp("browser")
    broker = LocalBroker(work / "mosquitto")
    broker.start()
    ws_port = free_port()
    config = write_config(work / "gateway.toml", ws_port=ws_port, mqtt_port=broker.port, state_dir=work / "gw",
                          devices=[KIT], sections={"server.limits": {"rate_factor": 0},
                                                   "mqtt": {"trace": True, "beat_stream": True},
                                                   "processor": {"status_every_s": 2.0}})
    gateway = GatewayProcess(config, work / "gateway.log")
    console = ConsoleProcess(write_console_config(work / "web.toml", mqtt_port=broker.port, state_dir=work / "web",
                                                  sections={"": {"recordings_dir": str(work / "gw" / "recordings"),
                                                                 "adaptation_dir": str(work / "adaptations")}}),
                             work / "web.log")
    console.add_user("nurse", "correct horse", ["p1"])
    console.add_user("doctor", "battery staple", ["p1"])
    console.add_user("neighbour", "other patient", ["p2"])
    try:
        gateway.start()
        console.start()
        yield {"console": console, "url": f"ws://127.0.0.1:{ws_port}/v1/stream", "broker": broker}
    finally:
        console.stop()
        gateway.stop()
        broker.stop()


@pytest.fixture(scope="module")
def browsers():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = []

    def make():
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1050",
                    "--autoplay-policy=no-user-gesture-required"):
            options.add_argument(arg)
        made.append(webdriver.Chrome(service=Service(CHROMEDRIVER), options=options))
        made[-1].set_page_load_timeout(30)
        return made[-1]

    yield make
    for d in made:
        d.quit()


def until(driver, predicate, timeout: float = 20, what: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: predicate(d), message=what)


def shot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))


def log_in(driver, base: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()


def stream_in_background(url: str, seconds: float, speed: float) -> threading.Thread:
    counts, rate = record_counts(str(FIXTURES / "e233"), duration=seconds, gain=KIT.gain)
    thread = threading.Thread(target=lambda: asyncio.run(replay(url, KIT.device_id, KIT.token, counts, rate,
                                                                speed=speed)), daemon=True)
    thread.start()
    return thread


def test_a_caregivers_day_in_the_browser(system, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    base = system["console"].url
    nurse, doctor = browsers(), browsers()

    # a wrong password is refused, with a message and no session
    log_in(nurse, base, "nurse", "wrong password")
    assert "Wrong user name or password" in nurse.find_element(By.CSS_SELECTOR, ".error").text
    shot(nurse, "login")
    log_in(nurse, base, "nurse", "correct horse")
    row = 'tr[data-patient="p1"]'
    until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, row), what="the overview")
    assert nurse.find_element(By.CSS_SELECTOR, f"{row} .kit").text in ("unknown", "offline")

    # the patient comes online; the live trace moves
    replaying = stream_in_background(system["url"], seconds=40, speed=3)
    until(nurse, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .kit").text == "online", what="the kit online")
    until(nurse, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .gateway").text == "online", what="gateway online")
    until(nurse, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .hr").text.endswith("/min"), what="a heart rate")
    assert nurse.find_element(By.CSS_SELECTOR, f"{row} .lead").text == "on"
    shot(nurse, "overview")
    nurse.get(base + "patient/p1")
    until(nurse, lambda d: d.execute_script("return window.ecgConsole.frames") > 8, what="the trace to move")
    first = nurse.execute_script("return window.ecgConsole.lastSampleTime")
    until(nurse, lambda d: d.execute_script("return window.ecgConsole.lastSampleTime") > first + 1, what="more trace")
    until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, "#beats .beat"), what="beat labels")
    until(nurse, lambda d: d.find_element(By.ID, "hr").text.isdigit(), what="the heart rate on the patient page")

    # the ventricular run arrives with its strip, and a banner
    critical = 'li.alert.sev-critical[data-alert]'
    until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, critical), timeout=40, what="the ventricular run")
    item = nurse.find_element(By.CSS_SELECTOR, critical)
    assert "ventricular run" in item.text and not nurse.find_element(By.ID, "banner").get_attribute("hidden")
    until(nurse, lambda d: d.execute_script("const i = document.querySelector(arguments[0] + ' img.strip');"
                                            "return i && i.complete && i.naturalWidth > 300", critical),
          what="the strip image")
    shot(nurse, "patient")

    # acknowledged in one session, seen acknowledged (who, when) in the other
    log_in(doctor, base, "doctor", "battery staple")
    doctor.get(base + "patient/p1")
    alert_id = item.get_attribute("data-alert")
    selector = f'li[data-alert="{alert_id}"] .ack'
    until(doctor, lambda d: "Acknowledge" in d.find_element(By.CSS_SELECTOR, selector).text, what="the doctor's copy")
    item.find_element(By.CSS_SELECTOR, ".ack button").click()
    until(doctor, lambda d: "Acknowledged by nurse at" in d.find_element(By.CSS_SELECTOR, selector).text,
          timeout=10, what="the acknowledgement in the other session")
    until(nurse, lambda d: "Acknowledged by nurse" in d.find_element(By.CSS_SELECTOR, selector).text)
    replaying.join(60)

    # the console restarts: the alert, its strip and its acknowledgement are still there
    console = system["console"]
    console.stop()
    console.start()
    base = console.url  # a new port; the sessions are kept too
    doctor.get(base + "patient/p1")
    until(doctor, lambda d: "Acknowledged by nurse at" in d.find_element(By.CSS_SELECTOR, selector).text,
          what="the history after a restart")

    # a patient of another caregiver is not shown, not even its existence
    nurse.get(base + "patient/p2")
    assert "404" in nurse.find_element(By.TAG_NAME, "h1").text
    doctor.delete_all_cookies()
    log_in(doctor, base, "neighbour", "other patient")
    until(doctor, lambda d: d.find_elements(By.ID, "overview"))
    assert "p1" not in doctor.find_element(By.ID, "overview").text

    # upload a record, get its report; a bad file gets a one-line error
    nurse.get(base + "analysis")
    shot(nurse, "analysis")
    upload = nurse.find_element(By.CSS_SELECTOR, "input[type=file]")
    upload.send_keys(f"{FIXTURES / 'e100.hea'}\n{FIXTURES / 'e100.dat'}")
    nurse.find_element(By.CSS_SELECTOR, "form.upload button").click()
    until(nurse, lambda d: "beats over" in d.find_element(By.CSS_SELECTOR, ".summary").text, timeout=120,
          what="the report")
    nurse.switch_to.frame(nurse.find_element(By.CSS_SELECTOR, "iframe.report"))
    until(nurse, lambda d: "e100" in d.find_element(By.TAG_NAME, "body").text, what="the report's content")
    nurse.switch_to.default_content()
    shot(nurse, "report")
    bad = tmp_path / "not-an-ecg.csv"
    bad.write_text("hello,world\n1,2\n")
    nurse.get(base + "analysis")
    nurse.find_element(By.NAME, "rate").send_keys("250")
    nurse.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(bad))
    nurse.find_element(By.CSS_SELECTOR, "form.upload button").click()
    error = until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, ".error"), timeout=60, what="the error")[0].text
    assert "not-an-ecg.csv" in error and "\n" not in error

    # calibration: the beat clusters of the gateway's own recording of the patient, labelled
    nurse.get(base + "calibration/p1")
    shot(nurse, "calibration")
    nurse.execute_script("arguments[0].value = '40'", nurse.find_element(By.NAME, "to"))
    nurse.find_element(By.CSS_SELECTOR, "form.upload button").click()
    shown = until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, "li.cluster svg, .error"), timeout=60,
                  what="the clusters")
    assert shown[0].tag_name == "svg", shown[0].text
    shot(nurse, "clusters")
    nurse.find_element(By.CSS_SELECTOR, "form.labels button").click()
    result = until(nurse, lambda d: d.find_elements(By.CSS_SELECTOR, ".result, .error"), timeout=120)[0].text
    assert "wrote labels/" in result and ".cal:" in result, result
