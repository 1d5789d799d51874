"""Rendering a week's digest: every section in HTML and plain text, bilingual headings, a subject
with the counts, CSS inlined for mail clients, and hostile feed data arriving as inert text."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from test_digest_build import HOSTILE_TITLE, TZ, build, seed, send_recorded

from digests.model import Section, WeeklyDigest
from digests.period import Period
from digests.render import MAX_BYTES, Rendered, _too_big, known_line, render_digest, subject_line

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
    assert result.subject.endswith(" · 本周无新内容")  # what a relative reading Chinese sees
    for body in (BeautifulSoup(result.html, "html.parser").get_text(), result.text):
        assert "Nothing new was found this week" in body
        assert "本周没有新发现" in body
        assert "ctgov: not checked this week; last success 2026-11-18 10:00" in body


def week_of(trials: int, papers: int, news: int) -> WeeklyDigest:
    sections = [Section(id, id, id, [], total) for id, total in
                (("trials", trials), ("papers", papers), ("news", news))]
    return WeeklyDigest(Period(2026, 47, TZ), "family@example.org", [], sections, [])


def test_a_subject_counts_one_in_the_singular():
    assert subject_line(week_of(1, 1, 1)).startswith(
        "hccwatch 2026-W47: 1 trial update, 1 paper, 1 news · ")
    assert subject_line(week_of(2, 0, 3)).startswith("hccwatch 2026-W47: 2 trial updates, 0 papers")


def test_a_starting_point_says_what_was_already_known_in_both_languages():
    assert known_line({"trials": 1, "papers": 0, "news": 2}) == {
        "en": "Already known when watching began (stored and searchable, not announced as new): "
              "1 trial, 2 news stories.",
        "zh": "开始关注时已有（已存储、可搜索，不作为新内容）：1 项试验，2 条新闻。"}
    assert known_line({"trials": 3, "papers": 1})["en"].endswith(": 3 trials, 1 paper.")
    assert known_line({"trials": 0}) is None


def test_a_part_of_exactly_the_limit_still_fits():
    assert not _too_big(Rendered("s", "x" * MAX_BYTES, "t"))
    assert _too_big(Rendered("s", "x", "页" * (MAX_BYTES // 3 + 1)))  # bytes, not characters
