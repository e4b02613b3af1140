"""The carrier pages in a real browser: Debian's headless chromium driven by Selenium,
against a real worker fed generated traffic, every figure compared with the oracle."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from processor.admin.produce import Message, produce
from processor.dev.generate import Traffic, generate
from processor.domain.windows import iso
from processor.settings import Settings
from tests.fas_traffic import Call, plain
from tests.integration.outputs import drained_worker, normalise
from tests.integration.procs import Proc, cli, free_port
from tests.oracle import UNMODELLED_ALERTS, Oracle, streak_of, to_ms

pytestmark = pytest.mark.integration

START = 1709078400000  # 2024-02-28T00:00:00Z
TOKEN = "ui-test-token"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
CARRIERS = 12


def _driver() -> Any:
    from selenium import webdriver

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.fail("chromium and chromium-driver are needed: deploy/system-deps.sh browser")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1920,1080",
                "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(chromedriver))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = _driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def running(broker: Settings, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[tuple[Settings, Oracle, Proc, Path]]:
    """One worker with an API token over known traffic, drained and equal to the oracle;
    carrier c-00001's registry name is hostile HTML."""
    tmp = tmp_path_factory.mktemp("ui")
    settings = broker.replace(topic_prefix="ui", app_id="cw-ui", data_dir=tmp / "data",
                              web_port=free_port(), clock="stream", tick_interval_s=2.0,
                              api_token=TOKEN)
    assert cli(settings, "topics", "create").returncode == 0
    registry = tmp / "registry.yaml"
    registry.write_text(yaml.safe_dump({"carriers": {"c-00001": {
        "name": HOSTILE,
        "contacts": [{"name": "NOC <b>desk</b>", "role": "noc", "email": "noc@x.example",
                      "phone": None}],
        # A prefix no generated destination has: the oracle's costs stay as they are.
        "rates": [{"prefix": "999", "per_minute": 0.012, "currency": "EUR"},
                  {"prefix": "9991", "per_minute": 0.02, "currency": "EUR",
                   "increment_s": 60, "minimum_s": 60}]}}}))
    assert cli(settings, "registry", "import", str(registry)).returncode == 0
    with drained_worker(settings, fed(), tmp / "w.log") as (oracle, worker):
        yield settings, oracle, worker, tmp


def fed() -> list[Message]:
    return [*generate(Traffic(seed=11, carriers=CARRIERS, events=4_000, start_ms=START,
                              end_ms=START + 2 * 86_400_000)), *failover_calls()]


FAILOVER_PAIR = ("c-00000", "c-00004")


def failover_chains() -> list[list[tuple[str, int, int]]]:
    """Calls failed over between two carriers in their last hours: 503 on the first,
    answered on the second (which ends them at once: issue 32)."""
    end = START + 2 * 86_400_000 - 2 * HOUR
    out = []
    for i in range(30):
        first, second = FAILOVER_PAIR if i % 3 else FAILOVER_PAIR[::-1]
        t = end - i * 300_000
        out.append([(first, 503, t), (second, 200, t + 2_000)])
    return out


def failover_calls() -> list[Message]:
    return [Message(c.encode(), orjson.dumps({
        "carrier_id": c, "call_id": f"fo-{i}-{j}", "code": code, "ts": ts,
        "call_key": f"fo-{i}", "attempt": j + 1, **({"duration_ms": 20_000} if code == 200
                                                     else {})}), True, c)
        for i, chain in enumerate(failover_chains()) for j, (c, code, ts) in enumerate(chain)]


def check_failover(browser: Any, cid: str) -> None:
    """The Failover card (live) against the chains: calls, rescued both ways, the pair."""
    chains = [ch for ch in failover_chains() if any(c == cid for c, _, _ in ch)]
    want = {"calls": len(chains),
            "rescued_elsewhere": sum(1 for ch in chains if ch[0][0] == cid),
            "rescued_here": sum(1 for ch in chains if ch[1][0] == cid)}
    shown = wait_for(lambda: (f := fields(browser, "#failover")) and f.get("calls") and f)
    assert {k: shown[k] for k in want} == want, cid
    other = next(c for c in FAILOVER_PAIR if c != cid)
    pairs = browser.execute_script(
        "return Array.from(document.querySelectorAll('#fo-pairs tbody tr')).map("
        "tr => [tr.dataset.carrier, Number(tr.dataset.calls)])")
    assert pairs == ([[other, want["rescued_elsewhere"]]] if want["rescued_elsewhere"]
                     else []), cid


def wait_for(what: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``what()`` once it is truthy (polled); fails with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            value = what()
        except Exception as exc:  # noqa: BLE001 - the page is still loading
            value = exc
        if value and not isinstance(value, Exception):
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out; last: {value!r}")


SNAPSHOT = """
return Array.from(document.querySelectorAll(arguments[0])).map(root => {
  const out = {_carrier: root.dataset.carrier || null};
  for (const n of root.querySelectorAll("[data-field][data-value]")) {
    out[n.dataset.field] = n.dataset.value;
  }
  return out;
});"""


def snapshot(driver: Any, selector: str) -> list[dict[str, Any]]:
    """For each element matching ``selector``, every ``data-field`` under it that has a
    value ({field: raw value}), read in one go (the page re-renders as it refreshes)."""
    rows = driver.execute_script(SNAPSHOT, selector)
    return [{k: (json.loads(v) if k != "_carrier" else v) for k, v in r.items()} for r in rows]


def fields(driver: Any, selector: str) -> dict[str, Any]:
    found = snapshot(driver, selector)
    return found[0] if found else {}


def sign_in(driver: Any, settings: Settings, path: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{settings.web_url}{path}")
    wait_for(lambda: driver.find_element(By.ID, "login").is_displayed()
             or driver.find_element(By.ID, "content").is_displayed())
    if driver.find_element(By.ID, "login").is_displayed():
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()


def test_the_token_is_enforced(running: tuple[Settings, Oracle, Proc, Path]) -> None:
    from selenium.webdriver.common.by import By

    settings, _, _, _ = running
    with urllib.request.urlopen(f"{settings.web_url}/ui/", timeout=30) as resp:
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{settings.web_url}/carriers", timeout=30)
    assert refused.value.code == 401
    driver = _driver()  # a fresh browser: nothing in its session
    try:
        driver.get(f"{settings.web_url}/ui/carriers/c-00002")
        wait_for(lambda: driver.find_element(By.ID, "login").is_displayed())
        assert not driver.find_element(By.ID, "content").is_displayed()
        assert fields(driver, "#content") == {"_carrier": None}
        driver.find_element(By.ID, "token").send_keys("wrong")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        time.sleep(1.0)
        assert driver.find_element(By.ID, "login").is_displayed()
        assert fields(driver, "#content") == {"_carrier": None}
    finally:
        driver.quit()


def test_the_list_equals_the_oracle(running: tuple[Settings, Oracle, Proc, Path],
                                    browser: Any) -> None:
    from selenium.webdriver.common.by import By

    settings, oracle, _, tmp = running
    sign_in(browser, settings, "/ui/")
    rows = wait_for(lambda: len(got := snapshot(browser, "#carriers tbody tr")) == CARRIERS
                    and got)
    consecutive, consistency, live = oracle.consecutive(), oracle.consistency(), oracle.live()
    seen = set()
    for got in rows:
        cid = got["_carrier"]
        seen.add(cid)
        assert got["consecutive_failures"] == consecutive[cid]["consecutive_failures"], cid
        assert got["verdict"] == consistency[cid]["verdict"], cid
        assert got["live_attempts"] == live[cid]["attempts"], cid
        assert got["live_asr"] == pytest.approx(live[cid]["asr"]), cid
    assert seen == set(oracle.carriers)
    firing = [r["alerts_firing"] for r in rows]
    assert firing == sorted(firing, key=len, reverse=True)  # the ones alerting first
    browser.find_element(By.ID, "filter").send_keys("c-0000")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#carriers tbody tr")) == 10)
    browser.save_screenshot(str(tmp / "ui-carriers.png"))


def test_the_carrier_page_equals_the_oracle(running: tuple[Settings, Oracle, Proc, Path],
                                            browser: Any) -> None:

    settings, oracle, _, tmp = running
    consecutive, consistency, live = oracle.consecutive(), oracle.consistency(), oracle.live()
    for cid in ("c-00000", "c-00004", "c-00007", "c-00001"):
        sign_in(browser, settings, f"/ui/carriers/{cid}")
        wait_for(lambda cid=cid: fields(browser, ".title").get("carrier_id") == cid
                 and fields(browser, "#summaries tbody tr"))
        shown = fields(browser, "#consecutive")
        want = normalise(consecutive[cid])
        for name in ("consecutive_failures", "max_consecutive_failures", "last_code",
                     "threshold", "streak_started_at", "last_connected_at"):
            assert normalise(shown)[name] == want[name], (cid, name)
        streak = consecutive[cid]["streak"]  # why the streak (issue 31)
        assert fields(browser, "#streak-now") == {"_carrier": None, **streak["by_class"]}, cid
        customers = browser.execute_script(
            "return Array.from(document.querySelectorAll('#streak-now li')).map("
            "li => [li.dataset.customer, Number(li.dataset.failures)])")
        assert customers == [[c["customer_id"], c["failures"]]
                             for c in streak["top_customers"]], cid
        live_fails = live_failures(cid)
        assert fields(browser, "#streak-live") == {"_carrier": None,
                                                   **live_fails["by_class"]}, cid
        explained = fields(browser, "#consecutive")["streak_explained"]
        assert explained == "no failure streak" if streak["verdict"] is None else (
            explained.split(":")[0] in ("route failure", "mixed causes",
                                        "likely customer traffic (wrong numbers or "
                                        "unanswered calls from one customer)")), cid
        shown, want = normalise(fields(browser, "#consistency")), normalise(consistency[cid])
        for name in ("total_final", "total_200", "total_404", "verdict", "ratio_404"):
            assert shown[name] == want[name], (cid, name)
        shown, want = normalise(fields(browser, "#summaries tbody tr")), normalise(live[cid])
        for name in ("attempts", "answered", "short_calls", "start", "asr", "seer", "acd_s"):
            assert shown[name] == want[name], (cid, name)
        firing = {}
        for alert in oracle.alerts:  # transitions in order: the last one of a kind holds
            if alert["carrier_id"] == cid:
                firing[alert["kind"]] = alert["at"] if alert["state"] == "firing" else None
        shown_alerts = browser.execute_script(
            "return Array.from(document.querySelectorAll('.alerts li')).map("
            "li => [li.dataset.alert, li.dataset.since])")
        shown_alerts = {k: v for k, v in shown_alerts if k not in UNMODELLED_ALERTS}
        assert {k: to_ms(v) for k, v in shown_alerts.items()} == {
            k: at for k, at in firing.items() if at is not None}, cid
        check_hours_chart(browser, oracle, cid, live[cid]["start"])
        check_fas(browser, cid)
        if cid in FAILOVER_PAIR:
            check_failover(browser, cid)
        check_destinations(browser, oracle, cid, live[cid]["attempts"])
        calls = snapshot(browser, "#calls tbody tr")
        assert [(c["ts"], c["call_id"]) for c in calls] == plain_log(cid, 0)[:100]
        if cid == "c-00007":
            browser.save_screenshot(str(tmp / "ui-carrier.png"))
            browser.set_window_size(1280, 800)  # the laptop: still readable
            browser.save_screenshot(str(tmp / "ui-carrier-1280.png"))
            browser.set_window_size(1920, 1080)


HOUR = 3_600_000


def live_failures(cid: str) -> dict[str, Any]:
    """The live window's failures (the 24 hours ending with the carrier's newest hour) by
    class and customer, from the fed events (issue 31's rules: ``streak_of``)."""
    docs = [orjson.loads(m.value) for m in fed()
            if m.valid and not m.duplicate and m.carrier_id == cid]
    stamps = [to_ms(d["ts"]) if isinstance(d["ts"], str) else d["ts"] for d in docs]
    newest = max(stamps)
    first = newest - newest % HOUR - 23 * HOUR
    codes, customers = [], defaultdict(int)
    for d, ts in zip(docs, stamps, strict=True):
        if ts >= first and d["code"] >= 300:
            codes.append(d["code"])
            if d.get("customer_id") is not None:
                customers[d["customer_id"]] += 1
    return streak_of(codes, customers)


def live_fas(cid: str) -> dict[str, Any]:
    """Answer supervision of the live window from the fed events (the issue's definitions:
    ``tests/fas_traffic.plain``)."""
    docs = [orjson.loads(m.value) for m in fed()
            if m.valid and not m.duplicate and m.carrier_id == cid]
    stamps = [to_ms(d["ts"]) if isinstance(d["ts"], str) else d["ts"] for d in docs]
    newest = max(stamps)
    first = newest - newest % HOUR - 23 * HOUR
    return plain([Call(d["code"], d.get("duration_ms"), d.get("pdd_ms"), d.get("answer_ms"),
                       d.get("ringing"))
                  for d, ts in zip(docs, stamps, strict=True) if ts >= first and d["code"] >= 200])


NONE = "\u2013"  # what the page shows for a figure without a sample


def check_fas(browser: Any, cid: str) -> None:
    """The answer-supervision card: each live signal as the issue defines it."""
    want = live_fas(cid)

    def pct(v: float | None) -> str:
        return NONE if v is None else f"{100 * v:.1f} %"

    shown = browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#fas tbody tr'))"
        ".map(tr => [tr.id, tr.querySelector('[data-field=now]').textContent]))")
    answered = want["answered"]
    assert shown["fas-short6"] == pct(want["short_6s"] / answered if answered else None), cid
    assert shown["fas-instant"] == pct(want["instant_share"]), cid
    assert shown["fas-noring"] == pct(want["no_ring_share"]), cid
    ratio = want["short_ratio"]
    assert shown["fas-ratio"] == (NONE if ratio is None else f"{ratio:.1f}"), cid
    verdict = fields(browser, "#fas-card")["verdict"]
    assert (verdict == "insufficient-data") == (answered < 50), cid
    text = fields(browser, "#fas-card")["explanation"]
    assert text.startswith(("Suspected false answer supervision", "Answer supervision looks",
                            f"{answered} answered calls")), cid


def plain_log(cid: str, since: int, until: int | None = None,
              codes: Callable[[int], bool] = lambda _c: True) -> list[tuple[str, str]]:
    """The call log as a plain filter over the fed events: the carrier's final responses
    (first copies) of the last 24 hours of its clock (its newest ts) in [since, until),
    as (ts, call_id), newest first."""
    docs = [orjson.loads(m.value) for m in fed()
            if m.valid and not m.duplicate and m.carrier_id == cid]
    docs = [{**d, "ts": to_ms(d["ts"]) if isinstance(d["ts"], str) else d["ts"]} for d in docs]
    cutoff = max(d["ts"] for d in docs) - 24 * HOUR
    rows = [d for d in docs if d["code"] >= 200 and codes(d["code"])
            and d["ts"] >= max(since, cutoff) and (until is None or d["ts"] < until)]
    rows.sort(key=lambda d: (d["ts"], d["call_id"]), reverse=True)
    return [(iso(d["ts"]), d["call_id"]) for d in rows]


def test_the_call_log_filters_pages_and_exports(running: tuple[Settings, Oracle, Proc, Path],
                                               browser: Any) -> None:
    """Live, Last hour, Today and a custom range ask the log for that range of the
    carrier's clock; the code filter goes to the server; "Load more" follows the cursor;
    the CSV holds the whole filtered range."""
    from selenium.webdriver.common.by import By

    settings, _, _, tmp = running
    cid = "c-00004"
    shown = lambda: [(c["ts"], c["call_id"]) for c in snapshot(browser, "#calls tbody tr")]  # noqa: E731
    sign_in(browser, settings, f"/ui/carriers/{cid}")
    everything = plain_log(cid, 0)
    assert len(everything) > 100
    wait_for(lambda: shown() == everything[:100])
    browser.find_element(By.ID, "calls-more").click()
    wait_for(lambda: shown() == everything[:200])
    as_of = to_ms(browser.execute_script("return new Date(page.asOf).toISOString()"))
    browser.find_element(By.CSS_SELECTOR, '#calls-card [data-window="hour"]').click()
    wait_for(lambda: shown() == plain_log(cid, as_of - HOUR))
    browser.find_element(By.CSS_SELECTOR, '#calls-card [data-window="today"]').click()
    wait_for(lambda: shown() == plain_log(cid, as_of - as_of % (24 * HOUR))[:100])
    code = browser.find_element(By.ID, "code-filter")
    code.clear()
    code.send_keys("5xx,404")
    browser.find_element(By.CSS_SELECTOR, "#calls-form button[type=submit]").click()
    five = lambda c: c // 100 == 5 or c == 404  # noqa: E731
    wait_for(lambda: shown() == plain_log(cid, as_of - as_of % (24 * HOUR), codes=five)[:100])
    browser.find_element(By.CSS_SELECTOR, '#calls-card [data-window="custom"]').click()
    since, until = as_of - 20 * HOUR, as_of - 17 * HOUR
    browser.execute_script(
        "document.getElementById('calls-from').value = arguments[0];"
        "document.getElementById('calls-to').value = arguments[1];",
        iso(since)[:19], iso(until)[:19])
    browser.find_element(By.CSS_SELECTOR, "#calls-form button[type=submit]").click()
    wait_for(lambda: shown() == plain_log(cid, since, until, five)[:100])
    code.clear()
    code.send_keys("4xx")
    browser.find_element(By.CSS_SELECTOR, '#calls-card [data-window="live"]').click()
    four = plain_log(cid, 0, codes=lambda c: c // 100 == 4)
    wait_for(lambda: shown() == four[:100])
    downloads = tmp / "downloads"
    downloads.mkdir(exist_ok=True)
    browser.execute_cdp_cmd("Page.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element(By.ID, "csv").click()
    path = downloads / f"{cid}-calls.csv"
    wait_for(lambda: path.exists() and path.stat().st_size > 0)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["ts"], r["call_id"]) for r in rows] == four  # the range, not the page
    code.send_keys("x")
    browser.find_element(By.CSS_SELECTOR, "#calls-form button[type=submit]").click()
    wait_for(lambda: "code" in browser.find_element(By.ID, "calls-error").text)


SLOTS = """return Array.from(document.querySelectorAll('#hours-chart .slot')).map(
  g => [Number(g.dataset.start), Number(g.dataset.attempts)])"""
AXIS = """return Array.from(document.querySelectorAll(arguments[0])).map(t => t.textContent)"""


def check_hours_chart(browser: Any, oracle: Oracle, cid: str, live_start: int) -> None:
    """The per-hour chart is a time axis over the live window: 24 hours in order, an hour
    without traffic shown as 0, values on both axes, a legend, and a bar's exact figures
    once it has the focus."""
    hours = oracle.carriers[cid].windows
    want = [(live_start + i * HOUR, len(hours.get(("hour", live_start + i * HOUR), [])))
            for i in range(24)]
    assert [tuple(s) for s in browser.execute_script(SLOTS)] == want, cid
    left = [int(t.replace(",", "")) for t in browser.execute_script(
        AXIS, "#hours-chart text.axis.left")]
    assert left[0] == 0
    assert left[-1] >= max(n for _, n in want)
    assert browser.execute_script(AXIS, "#hours-chart text.axis.right") == ["0 %", "50 %",
                                                                            "100 %"]
    legend = browser.execute_script(AXIS, "#hours-chart .legend")[0]
    assert "attempts" in legend
    assert "ASR" in legend
    busiest = max(range(24), key=lambda i: want[i][1])
    readout = browser.execute_script(
        "const g = document.querySelectorAll('#hours-chart .slot')[arguments[0]]; g.focus();"
        "return document.querySelector('#hours-chart .readout').textContent", busiest)
    assert f"{want[busiest][1]:,} attempts" in readout, readout


def check_destinations(browser: Any, oracle: Oracle, cid: str, live_attempts: int) -> None:
    """The Destinations section: its groups sum to the live summary, busiest first, with
    an ASR bar per group; the "Today" tab shows the newest day's groups."""
    from selenium.webdriver.common.by import By

    rows = snapshot(browser, "#destinations tbody tr")
    assert rows, cid
    assert sum(r["attempts"] for r in rows) == live_attempts, cid
    ranked = [r["attempts"] for r in rows if r["group"] != "other"]
    assert ranked == sorted(ranked, reverse=True)
    bars = browser.execute_script(
        "return Array.from(document.querySelectorAll('#dest-chart .slot')).map("
        "g => g.dataset.group)")
    assert bars == [r["group"] for r in rows]
    browser.find_element(By.CSS_SELECTOR, '#dest-card [data-window="day"]').click()
    days = oracle.summaries("day")
    newest = max(k for k in days if k.startswith(f"{cid}|"))
    wait_for(lambda: sum(r["attempts"] for r in snapshot(browser, "#destinations tbody tr"))
             == days[newest]["attempts"])
    browser.find_element(By.CSS_SELECTOR, '#dest-card [data-window="live"]').click()
    wait_for(lambda: sum(r["attempts"] for r in snapshot(browser, "#destinations tbody tr"))
             == live_attempts)


def test_a_hostile_name_is_shown_as_text(running: tuple[Settings, Oracle, Proc, Path],
                                         browser: Any) -> None:
    from selenium.webdriver.common.by import By

    settings, _, _, _ = running
    sign_in(browser, settings, "/ui/carriers/c-00001")
    name = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "h2 [data-field=name]").text)
    assert name == HOSTILE
    assert browser.find_element(By.CSS_SELECTOR, "#contacts tbody td:nth-child(2)").text == \
        "NOC <b>desk</b>"
    rates = snapshot(browser, "#rates tbody tr")
    assert [(r["prefix"], r["per_minute"], r["increment_s"]) for r in rates] == [
        ("999", 0.012, 1), ("9991", 0.02, 60)]
    browser.find_element(By.ID, "rate-search").send_keys("4")
    wait_for(lambda: snapshot(browser, "#rates tbody tr") == [])
    sign_in(browser, settings, "/ui/")
    row = wait_for(lambda: fields(browser, "tr[data-carrier=c-00001]"))
    assert row["name"] == HOSTILE
    assert browser.execute_script("return window.__pwned === undefined")


def test_the_page_refreshes_with_new_traffic(running: tuple[Settings, Oracle, Proc, Path],
                                             browser: Any) -> None:
    from selenium.webdriver.common.by import By

    settings, oracle, _, _ = running
    cid = "c-00003"
    sign_in(browser, settings, f"/ui/carriers/{cid}")
    before = oracle.consistency()[cid]["total_final"]
    wait_for(lambda: fields(browser, "#consistency").get("total_final") == before)
    browser.find_element(By.CSS_SELECTOR, "[data-window=day]").click()
    wait_for(lambda: fields(browser, "#summaries tbody tr").get("start", "").endswith(
        "T00:00:00Z"))
    marker = browser.execute_script("return window.__kept = 'same page'")
    ts = START + 2 * 86_400_000 + 60_000
    extra = [Message(cid.encode(), orjson.dumps({"carrier_id": cid, "call_id": f"ui-{i}",
                                                 "code": 404, "ts": ts + i * 1000}),
                     valid=True, carrier_id=cid) for i in range(7)]
    produce(settings.bootstrap_servers, settings.topic(settings.input_topic), extra,
            rate=None, progress=None)
    wait_for(lambda: fields(browser, "#consistency").get("total_final") == before + 7,
             timeout=60)
    assert fields(browser, "#consecutive")["last_code"] == 404
    assert browser.execute_script("return window.__kept") == marker  # not reloaded
    tab = browser.find_element(By.CSS_SELECTOR, "[data-window=day]")
    assert tab.get_attribute("aria-selected") == "true"  # the tab kept
