"""Rendering a week's digest: every section in HTML and plain text, bilingual headings, a subject
with the counts, CSS inlined for mail clients, and hostile feed data arriving as inert text."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from test_digest_build import HOSTILE_TITLE, TZ, build, seed, send_recorded

from digests.period import Period
from digests.render import render_digest

TITLES = ["Pembrolizumab before transplant", "Pembrolizumab with lenvatinib",
          "Maintenance therapy in melanoma", "Pembrolizumab plus lenvatinib: a phase 3 trial",
          "Checkpoint inhibitors in HCC", "Early pembrolizumab signals",
          "Pembrolizumab approved for liver cancer", "肝癌新药获批"]


@pytest.fixture
def seeded(engine, watchlist):
    return seed(engine, watchlist)


def rendered(seeded, watchlist, period=None):
    return render_digest(build(seeded, watchlist, *([period] if period else [])))


def test_subject_states_the_period_and_the_counts(seeded, watchlist):
    subject = rendered(seeded, watchlist).subject
    assert subject.startswith("hccwatch 2026-W47: 3 trial updates, 4 papers, 2 news")
    assert "论文 4" in subject


def test_html_and_text_carry_every_section_and_entry(seeded, watchlist):
    result = rendered(seeded, watchlist)
    soup = BeautifulSoup(result.html, "html.parser")
    headings = [h.get_text() for h in soup.find_all("h2")]
    # Seven cards fill the top box; the two least relevant papers follow under Papers.
    assert headings == ["This week · 本周重点", "Papers · 论文 (4)"]
    for title in TITLES:
        assert title in soup.get_text()
        assert title in result.text
    for heading in headings:
        assert heading in result.text
    for detail in ("Dr. Ada Lee, +1 206 555 0100", "王医生", "Phase 3 RCT", "Retracted",
                   "NCT09990002", "帕博利珠单抗", "Terminated", "pubmed: failed 1× this week"):
        assert detail in soup.get_text(), detail
        assert detail in result.text, detail


def test_every_link_is_absolute_http_or_a_contact(seeded, watchlist):
    soup = BeautifulSoup(rendered(seeded, watchlist).html, "html.parser")
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert "https://clinicaltrials.gov/study/NCT09990001" in hrefs
    assert all(h.startswith(("https://", "http://", "tel:", "mailto:")) for h in hrefs)


def test_site_contacts_are_tap_to_call(seeded, watchlist):
    soup = BeautifulSoup(rendered(seeded, watchlist).html, "html.parser")
    calls = {a.get_text(): a["href"] for a in soup.find_all("a") if a["href"].startswith("tel:")}
    assert calls["+86 21 5555 0000"] == "tel:+862155550000"  # 王医生, at a watched site
    assert calls["+1 206 555 0100"] == "tel:+12065550100"


def test_a_hostile_feed_title_and_javascript_link_arrive_as_inert_text(seeded, watchlist):
    result = rendered(seeded, watchlist)
    soup = BeautifulSoup(result.html, "html.parser")
    assert soup.find("script") is None
    assert "javascript:" not in result.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.html
    assert HOSTILE_TITLE in soup.get_text()
    assert not any("alert" in (tag.get(attr) or "") for tag in soup.find_all(True)
                   for attr in ("href", "src", "onload", "onclick"))


def test_css_is_inlined_and_the_page_fits_a_phone(seeded, watchlist):
    soup = BeautifulSoup(rendered(seeded, watchlist).html, "html.parser")
    assert "max-width: 640px" in soup.find("div", class_="wrap")["style"]
    assert "font-weight: bold" in soup.find("p", class_="title")["style"]
    assert soup.find("meta", attrs={"name": "viewport"}) is not None
    assert all(".entry {" not in style.get_text() or "@media" in style.get_text()
               for style in soup.find_all("style"))


def test_an_empty_week_says_nothing_new_and_which_sources_were_checked(seeded, watchlist):
    send_recorded(seeded, watchlist)
    result = rendered(seeded, watchlist, Period(2026, 49, TZ))
    assert result.subject.startswith("hccwatch 2026-W49: 0 trial updates, 0 papers, 0 news")
    for body in (BeautifulSoup(result.html, "html.parser").get_text(), result.text):
        assert "Nothing new was found this week" in body
        assert "本周没有新发现" in body
        assert "ctgov: not checked this week; last success 2026-11-18 10:00" in body
