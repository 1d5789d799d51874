"""Every page of the web UI and the digest, in a real Chromium at a phone's 390x844 and a
desktop's 1280x900: nothing is wider than the window (a long news link, the live-search table
and the Chinese place names all fit), the Chinese menu labels stay visible, contacts are
tap-to-call / tap-to-mail links, and Chinese text renders as real glyphs (Debian's
fonts-noto-cjk), not as boxes. Screenshots of every page go to test-output/layout/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_browser import CHROMIUM_ARGS, OUTPUT, require_chromium, server  # noqa: F401
from test_web import HCC_WATCHLIST

from digests.deliver import make_digest
from hccwatch.app import App
from hccwatch.watchlist import load_watchlist
from pipeline.tagging import Tagger
from sources.records import Contact, Location, Record
from store.db import session_scope
from store.upsert import upsert_record
from web.atom import finding_href

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
LONG_LINK = ("https://news.google.com/rss/articles/CBMiwAFBVV95cUxNbXhQZ3RrZ0Q0SnhkS1ZkUXFLU0xw"
             "aWhfd1N0N1JrR2JqTmx3eGpWb3ZfbWRQZ0VpVFdaM2ZQeHFkRlNXcHNQb2FhYjRqa0JuR1F4UU9"
             "LN0x0c0pJVEZkVmVZbU1pc3RxcXVRZ0dGZjJLWEVOb0xMRE5XdjVQcWl5d0tjZmdqZzlZX0h5Zw?oc=5")
PLACES = """
[[places]]
name = "Hangzhou"
label_zh = "杭州"
match = ["Hangzhou"]

[[places]]
name = "Shanghai"
label_zh = "上海"
match = ["Shanghai"]

[[places]]
name = "Beijing"
label_zh = "北京"
match = ["Beijing"]
"""
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def watchlist_text() -> str:
    return HCC_WATCHLIST + PLACES


def extra_records() -> list[Record]:
    """A news item whose link is one long unbreakable word, and a trial recruiting in Chinese
    cities with a contact (phone and e-mail) at each site."""
    news = Record(source="feed:google-news", kind="news", ids={"url": LONG_LINK},
                  title="Hepatocellular carcinoma: conversion therapy news", url=LONG_LINK,
                  summary="hepatocellular carcinoma " + LONG_LINK, lang="en")
    contact = Contact(name="Dr. Wang", phone="+86 571 8723 6114", email="trials@example.cn")
    sites = [Location(f"{city} University Hospital", city, None, "China", "RECRUITING", [contact])
             for city in ("Hangzhou", "Shanghai", "Beijing")]
    trial = Record(source="ctgov", kind="trial", ids={"nct": "NCT01000003"},
                   title="Hepatocellular carcinoma conversion therapy in China", status="RECRUITING",
                   url="https://clinicaltrials.gov/study/NCT01000003", locations=sites,
                   summary="hepatocellular carcinoma", phases=["PHASE2"],
                   details={"central_contacts": [{"name": "Study desk", "phone": "+86 571 8723 6114",
                                                  "email": "trials@example.cn"}]})
    return [news, trial]


@pytest.fixture
def site(server, settings, engine):  # noqa: F811 (the server fixture, imported)
    """The seeded server plus a long news link, a trial in watched Chinese cities and one made
    digest in the archive."""
    tagger = Tagger(load_watchlist(settings.watchlist))
    for record in extra_records():
        with session_scope(engine) as session:
            upsert_record(session, tagger.tag(record, found_by=None), seen_at=NOW)
    make_digest(App(settings).post(), "2026-W47", now=NOW)
    return server


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def pages_of(base: str, tab) -> list[tuple[str, str]]:
    """(name, address) of every page, the live search's job page included."""
    tab.goto(base + "/search")
    tab.fill("#term", "pembrolizumab")
    for source in ("pubmed", "europepmc", "feeds"):
        if tab.locator(f"input[value={source}]").count():
            tab.uncheck(f"input[value={source}]")
    tab.get_by_role("button", name="Search the sources").click()
    tab.wait_for_selector("#job-state:has-text('Done')", timeout=60_000)
    job = tab.url
    return [("findings", "/"), ("search-zh", "/?q=%E8%82%9D%E7%99%8C"), ("near", "/?near=1"),
            ("search-long-link", "/?q=conversion"), ("trial", "/findings/NCT01000001"),
            ("trial-sites", "/findings/NCT01000003"), ("news-long-link", finding_href("url:" + LONG_LINK)),
            ("article", "/findings/pmid:39000001"), ("topics", "/topics"), ("topic", "/topics/hcc"),
            ("digests", "/digests"), ("digest", "/digests/1"), ("status", "/status"),
            ("live-search", "/search"), ("live-search-job", job.removeprefix(base))]


def overflow(tab) -> tuple[int, int]:
    return tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def shoot(tab, name: str) -> Path:
    folder = OUTPUT / "layout"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_no_page_is_wider_than_the_window(chromium, site, viewport):
    width, height = VIEWPORTS[viewport]
    context = chromium.new_context(viewport={"width": width, "height": height})
    tab = context.new_page()
    too_wide = []
    for name, path in pages_of(site, tab):
        response = tab.goto(site + path)
        assert response.status == 200, (name, response.status)
        scroll, inner = overflow(tab)
        if scroll > inner:
            too_wide.append(f"{name} ({path[:40]}): {scroll} px in a {inner} px window")
        shoot(tab, f"{viewport}-{name}")
    context.close()
    assert too_wide == []


def test_digest_as_mailed_fits_a_phone(chromium, site, tmp_path):
    tab = chromium.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site + "/digests/1")
    html = tab.locator("iframe.digest").get_attribute("srcdoc")
    tab.set_content(html)
    scroll, inner = overflow(tab)
    shoot(tab, "phone-digest-as-mailed")
    tab.close()
    assert scroll <= inner


def test_phone_shows_the_chinese_menu_labels(chromium, site):
    tab = chromium.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site + "/")
    for label in ("发现", "主题", "实时搜索", "摘要", "状态"):
        assert tab.locator("header nav span[lang=zh]", has_text=label).is_visible(), label
    tab.close()


def test_phone_keeps_each_chinese_place_name_on_one_line(chromium, site):
    tab = chromium.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site + "/")
    for city in ("杭州", "上海", "北京"):
        box = tab.locator("label.check span[lang=zh]", has_text=city).bounding_box()
        one_line = tab.evaluate("s => parseFloat(getComputedStyle(document.querySelector(s)).lineHeight)",
                                "label.check")
        assert box["height"] < 1.5 * one_line, f"{city} wraps: {box}"
        assert box["width"] > box["height"], f"{city} stacked one character per line: {box}"
    tab.close()


def test_contacts_are_tap_to_call_and_tap_to_mail(chromium, site):
    tab = chromium.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site + "/findings/NCT01000003")
    assert tab.locator("a[href='tel:+8657187236114']").count() == 4
    assert tab.locator("a[href='mailto:trials@example.cn']").count() == 4
    tab.close()


GLYPHS = """text => {
  const canvas = document.createElement('canvas'); canvas.width = 80; canvas.height = 80;
  const ctx = canvas.getContext('2d');
  return [...text].map(ch => {
    ctx.clearRect(0, 0, 80, 80); ctx.font = '64px sans-serif'; ctx.fillText(ch, 4, 64);
    return Array.from(ctx.getImageData(0, 0, 80, 80).data.filter((_, i) => i % 4 === 3)).join(',');
  });
}"""


def test_chinese_renders_as_real_glyphs_not_boxes(chromium, site):
    """Every character missing from the fonts is drawn as the same box: four different
    Chinese characters must give four different, non-empty pictures."""
    tab = chromium.new_page(viewport={"width": 390, "height": 844})
    tab.goto(site + "/")
    pictures = tab.evaluate(GLYPHS, "肝细胞癌")
    tab.close()
    assert all(any(v != "0" for v in p.split(",")) for p in pictures), "nothing drawn"
    assert len(set(pictures)) == 4, "the Chinese characters render as identical boxes (no CJK font?)"

