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


def test_hundreds_of_changes_in_watched_places_still_fit_in_100_kb(tmp_path):
    """Every such change is always shown, until the message would be clipped: then the least
    relevant become counts."""
    db = str(tmp_path / "many.sqlite3")
    engine = open_engine(db)
    nearby = [t for t in trials(400, first=83_000_000, since=date(2026, 10, 1), days=30)
              if t.watched_sites]
    for status, at in (("NOT_YET_RECRUITING", WEEK_AT.replace(day=2)), ("RECRUITING", WEEK_AT)):
        ingest(engine, "ctgov", (dataclasses.replace(t, status=status) for t in nearby), at)
    engine.dispose()
    digest, rendered = built(db)
    assert_fits(rendered)
    section = next(s for s in digest.sections if s.id == "trials")
    cards = sum(e.section == "trials" for e in digest.entries())
    assert section.total == len(nearby) == 80 and 10 < cards < 80
    assert section.more == 80 - cards == sum(n for _, n in section.more_by_topic)
