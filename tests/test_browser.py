"""The web page in a real Chromium (Debian's /usr/bin/chromium driven by Playwright) against the
real app served by uvicorn on 127.0.0.1: browse, filter, search in English and Chinese, open a
finding and its timeline, run an ad-hoc search on the replay server, follow an Atom link, and
check that a hostile feed item never runs. Screenshots go to test-output/."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import uvicorn
from test_web import HCC_WATCHLIST, XSS_SUMMARY, XSS_TITLE, seed

from hccwatch.web_cli import web_app
from web.security import LOOPBACK_NAMES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
TRIAL_TITLE = "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"

pytestmark = pytest.mark.browser


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("HCCWATCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HCCWATCH_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def watchlist_text() -> str:
    return HCC_WATCHLIST


@pytest.fixture
def server(settings, engine, ctgov) -> Iterator[str]:
    """The real app under uvicorn on a loopback port, seeded with test findings."""
    seed(engine, settings.watchlist)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    app = web_app(settings, trusted_hosts=LOOPBACK_NAMES)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not uv.started and thread.is_alive():
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    uv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def shoot(tab, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    tab.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def result_titles(tab) -> list[str]:
    return tab.locator("li.finding h2").all_inner_texts()


def test_browse_filter_search_and_open_a_finding(page, server):
    from playwright.sync_api import expect

    page.goto(server + "/")
    expect(page.locator("#count")).to_contain_text("5 findings")
    shoot(page, "findings")

    page.select_option("select[name=kind]", "trial")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#count")).to_contain_text("2 findings")
    assert "kind=trial" in page.url

    page.goto(server + "/")
    page.fill("#q", "bevacizumab")
    page.press("#q", "Enter")
    expect(page.locator("li.finding mark").first).to_have_text("bevacizumab")
    assert len(result_titles(page)) == 2

    page.fill("#q", "肝癌")
    page.press("#q", "Enter")
    expect(page.locator("#synonyms")).to_contain_text("肝细胞癌")  # a topic term: widened
    expect(page.locator("#count")).to_contain_text("4 findings")
    page.locator("#literal").click()
    expect(page.locator("#count")).to_contain_text("2 findings")
    expect(page.locator("li.finding mark").first).to_have_text("肝癌")
    shoot(page, "search-chinese")

    page.get_by_role("link", name=TRIAL_TITLE).click()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Not yet recruiting · 尚未招募")
    expect(timeline.locator("li.change.sig-recruiting")).to_contain_text("Recruiting · 招募中")
    expect(page.get_by_text("阿替利珠单抗联合贝伐珠单抗用于肝癌肝移植前降期治疗")).to_be_visible()
    shoot(page, "finding")
    assert page.dialogs == []


def test_adhoc_search_against_the_replay_server(page, server):
    from playwright.sync_api import expect

    page.goto(server + "/search")
    page.fill("#term", "pembrolizumab")
    page.uncheck("input[value=pubmed]")
    page.uncheck("input[value=europepmc]")
    page.get_by_role("button", name="Search the sources").click()
    expect(page.locator("#job-state")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("tr.state-done")).to_contain_text("ctgov")
    expect(page.locator("ol.findings")).to_contain_text("NCT05431270")
    expect(page.get_by_role("button", name="Add “pembrolizumab” to the watchlist")).to_be_visible()
    shoot(page, "adhoc-search")


def test_atom_link_leads_to_a_valid_feed(page, server):
    page.goto(server + "/topics/hcc")
    href = page.locator("a.feed", has_text="Atom feed").first.get_attribute("href")
    response = page.request.get(server + href)
    assert response.ok and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.body())
    assert not feed.bozo and feed.feed.title.startswith("hccwatch: Hepatocellular carcinoma")
    assert TRIAL_TITLE in [entry.title for entry in feed.entries]


def test_hostile_feed_item_stays_inert_in_every_page(page, server):
    from playwright.sync_api import expect

    for path in ("/", "/?q=hepatocellular", "/?q=xss-title", "/topics/hcc",
                 "/findings/url:https://evil.example/x"):
        page.goto(server + path)
    page.goto(server + "/findings/url:https://evil.example/x")
    expect(page.locator("h1")).to_have_text(XSS_TITLE + " hepatocellular carcinoma")
    expect(page.locator(".summary")).to_contain_text(XSS_SUMMARY.strip())
    assert page.locator("img[src=x], svg, script").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(server + "/?q=xss-title")
    expect(page.locator("li.finding h2")).to_contain_text('<script>alert("xss-title")</script>')
    shoot(page, "hostile-item")
    assert page.dialogs == []
