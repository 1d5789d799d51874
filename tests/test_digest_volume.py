"""The digest at real volume (real recordings under fresh identifiers, the same generators as
bench/digest.py): every section keeps to its cap, what is left out is counted per topic,
digest.json says exactly what the e-mail shows, and the HTML and the text stay under 100 KB
whatever the volume."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from bs4 import BeautifulSoup

from bench.digest import (
    RECIPIENT,
    WEEK,
    WEEK_AT,
    backfill_store,
    ingest,
    trials,
    watchlist,
    week_store,
)
from digests.build import build_digest
from digests.choose import Limits
from digests.model import TopicLabel
from digests.render import MAX_BYTES, digest_json, render_digest
from store.db import open_engine, session_scope


def built(db: str, limits: Limits | None = None):
    """The week's digest, with the bundled watchlist's [digest] settings or `limits`."""
    chosen = watchlist()
    if limits is not None:
        chosen = dataclasses.replace(chosen, digest=limits)
    engine = open_engine(db)
    with session_scope(engine, write=False) as session:
        digest = build_digest(session, watchlist=chosen, period=WEEK, recipient=RECIPIENT)
    engine.dispose()
    rendered = render_digest(digest)
    return digest, rendered


def shown(summary: dict, section: str) -> list[dict]:
    top = [item for item in summary["top"] if item["kind"] in KINDS[section]]
    return top + next(s for s in summary["sections"] if s["id"] == section)["shown"]


KINDS = {"trials": {"trial"}, "papers": {"article", "preprint"}, "news": {"news"}}


def assert_fits(rendered) -> None:
    assert len(rendered.html.encode()) < MAX_BYTES
    assert len(rendered.text.encode()) < MAX_BYTES


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("week") / "week.sqlite3")
    week_store(db)
    return db


def test_a_real_week_keeps_to_the_caps_and_counts_the_rest_per_topic(week):
    digest, rendered = built(week)
    summary = digest_json(digest, rendered.subject)
    assert rendered.subject.startswith("hccwatch 2026-W47: 60 trial updates, 350 papers, 40 news")
    assert len(summary["top"]) == 7
    assert len(shown(summary, "papers")) <= 10 and len(shown(summary, "news")) <= 8
    # 10 trial updates, plus every change on a trial in a watched place (Shanghai).
    watched = [e for e in digest.entries() if e.section == "trials" and e.sites and e.changes]
    assert len(watched) == 8  # one in five of the 40 changed trials: all shown
    assert len(shown(summary, "trials")) <= 10 + len(watched)
    for section in summary["sections"]:
        assert sum(section["more_by_topic"].values()) == section["more"]
    papers = next(s for s in summary["sections"] if s["id"] == "papers")
    assert papers["more"] == 350 - len(shown(summary, "papers"))
    assert papers["more_by_topic"]["ql1706"] > 0  # filed under the option, not under HCC
    assert_fits(rendered)


def test_the_email_shows_exactly_what_digest_json_lists(week):
    digest, rendered = built(week)
    summary = digest_json(digest, rendered.subject)
    soup = BeautifulSoup(rendered.html, "html.parser")
    titles = [p.get_text() for p in soup.find_all("p", class_="title")]
    items = summary["top"] + [i for s in summary["sections"] for i in s["shown"]]
    assert titles == [item["title"] for item in items]
    top = soup.find("div", class_="top")
    # The bundled watchlist's [patient] label, in both languages.
    assert top.find("h2").get_text() == "This week for the patient · 本周给患者的重点"
    assert len(top.find_all("p", class_="why")) == 7
    more = next(s["more"] for s in summary["sections"] if s["id"] == "papers")
    assert f"And {more} more papers: Hepatocellular carcinoma (HCC) " in soup.get_text()
    assert "hccwatch web" in rendered.text


def test_caps_come_from_the_watchlist_settings(week):
    digest, _ = built(week, Limits(top_items=3, papers=4, news=2, trial_updates=5))
    assert len(digest.top) == 3
    papers = sum(e.section == "papers" for e in digest.entries())
    news = sum(e.section == "news" for e in digest.entries())
    assert papers <= 4 and news <= 2


def test_the_first_run_after_a_backfill_is_a_short_starting_point(tmp_path):
    db = str(tmp_path / "backfill.sqlite3")
    backfill_store(db, papers_count=2_500, trials_count=400)
    digest, rendered = built(db)
    assert digest.starting_point
    assert digest.known["papers"] > 2_000  # older than 90 days: stored, not announced
    trial_cards = [e for e in digest.entries() if e.section == "trials"]
    assert trial_cards and all(e.sites for e in trial_cards[:5])  # open nearby first
    assert len([e for e in digest.entries() if e.section == "papers"]) <= 10
    assert "Already known when watching began" in rendered.text
    assert_fits(rendered)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """80 trials with a site in a watched place, each starting to recruit this week."""
    db = str(tmp_path_factory.mktemp("many") / "many.sqlite3")
    engine = open_engine(db)
    nearby = [t for t in trials(400, first=83_000_000, since=date(2026, 10, 1), days=30)
              if t.watched_sites]
    for status, at in (("NOT_YET_RECRUITING", WEEK_AT.replace(day=2)), ("RECRUITING", WEEK_AT)):
        ingest(engine, "ctgov", (dataclasses.replace(t, status=status) for t in nearby), at)
    engine.dispose()
    return db


def test_hundreds_of_changes_in_watched_places_still_fit_in_100_kb(many):
    """Every such change is always shown, until the message would be clipped: then the least
    relevant become counts."""
    digest, rendered = built(many)
    assert_fits(rendered)
    section = next(s for s in digest.sections if s.id == "trials")
    cards = sum(e.section == "trials" for e in digest.entries())
    assert section.total == 80 and 10 < cards < 80
    assert section.more == 80 - cards == sum(n for _, n in section.more_by_topic)


def test_a_top_box_of_fifty_cards_is_cut_down_too(many):
    """The watchlist allows up to 50 cards in the top box: when they alone would be clipped,
    the least relevant of them become counts as well."""
    digest, rendered = built(many, Limits(top_items=50))
    assert_fits(rendered)
    section = next(s for s in digest.sections if s.id == "trials")
    assert section.entries == [] and 10 < len(digest.top) < 50
    assert section.more == 80 - len(digest.top)


def test_cards_cut_for_size_are_counted_per_topic_largest_first(many):
    """`And 31 more trial updates: HCC 21, Late topic 10`: the topic with most cards cut
    comes first, even when the least relevant card (cut first) is of the other topic."""
    chosen = dataclasses.replace(watchlist(), digest=Limits())
    engine = open_engine(many)
    with session_scope(engine, write=False) as session:
        digest = build_digest(session, watchlist=chosen, period=WEEK, recipient=RECIPIENT)
    engine.dispose()
    section = next(s for s in digest.sections if s.id == "trials")
    late = TopicLabel("late", "Late topic", "晚到的主题")
    for entry in section.entries[-10:]:
        entry.topic = late
    rendered = render_digest(digest)
    assert section.more > 10 and len(section.more_by_topic) == 2
    (first, first_count), (second, second_count) = section.more_by_topic
    assert second == late and first_count == section.more - 10 > second_count == 10
    assert f"And {section.more} more trial updates: {first.label} {first_count}, Late topic 10. " \
        "All of them: `hccwatch web` and the digest archive." in rendered.text
    assert f"另有 {section.more} 项试验更新未列出：{first.label_zh or first.label} {first_count}，" \
        "晚到的主题 10。全部内容见 hccwatch web 与摘要存档。" in rendered.text
