"""Choosing a week's digest from a real SQLite store: ISO weeks in the watchlist's timezone,
every card filed under its topic and ordered by relevance, the ledger's content (what no
digest sent to the recipient carried yet) and nothing announced twice to the same recipient.
The seeding helpers here are shared by the other digest tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from assess.eligibility import Eligibility, Reason
from digests.build import build_digest
from digests.choose import Limits
from digests.period import Period, PeriodError
from digests.render import render_digest
from digests.send import mark_sent, record_pending
from pipeline.judge import judge_findings
from pipeline.tagging import Tagger
from sources.records import Contact, Location, Record
from store.db import session_scope
from store.ingest import ingest_batch
from store.models import Change, Finding, PollRun
from store.state import record_failure

TZ = "Asia/Shanghai"
W46_AT = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
W47_AT = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
W48_AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
W47 = Period(2026, 47, TZ)
FAMILY = "family@example.org"
HOSTILE_TITLE = "<script>alert(1)</script> miracle cure"

SEATTLE = Location(facility="Fred Hutchinson Cancer Center", city="Seattle", country="United States",
                   status="RECRUITING",
                   contacts=[Contact(name="Dr. Ada Lee", phone="+1 206 555 0100", email="ada@fredhutch.example")])
DENVER = Location(facility="Denver Site", city="Denver", country="United States", status="RECRUITING")
SHANGHAI = Location(facility="Zhongshan Hospital, Fudan University", city="Shanghai", country="China",
                    status="RECRUITING", contacts=[Contact(name="王医生", phone="+86 21 5555 0000")])


def trial(nct: str, title: str, *, status: str, sites: list[Location], topic: str) -> Record:
    return Record(source="ctgov", kind="trial", ids={"nct": nct}, title=title, status=status,
                  summary=f"{title}. A study in adults.", phases=["PHASE3"],
                  url=f"https://clinicaltrials.gov/study/{nct}", locations=sites,
                  topics={topic: ["pembrolizumab"]})


def paper(pmid: str, title: str, *, evidence: str | None = None, mentions: tuple[str, ...] = (),
          kind: str = "article", source: str = "pubmed") -> Record:
    ids = {"pmid": pmid} if kind == "article" else {"doi": f"10.1101/{pmid}"}
    return Record(source=source, kind=kind, ids=ids, title=title, evidence=evidence,
                  summary=f"{title}. Background and methods follow. " * 5, published="2026-11-12",
                  url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", mentions=list(mentions),
                  topics={"immunotherapy": ["pembrolizumab"]})


def news(url: str, title: str, *, feed: str) -> Record:
    return Record(source=f"feed:{feed}", kind="news", ids={"url": url}, title=title, url=url,
                  summary="Regulators approved the drug for liver cancer.", published="2026-11-17",
                  topics={"immunotherapy": ["pembrolizumab"]})


def store(engine, watchlist, records: list[Record], *, at: datetime) -> None:
    tagger = Tagger(watchlist)
    by_source: dict[str, list[Record]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(tagger.tag(record, found_by=None))
    with session_scope(engine) as session:  # stored and judged, as a poll does
        for source, batch in by_source.items():
            result = ingest_batch(session, batch, source=source, query="q", seen_at=at)
            judge_findings(session, result.touched, watchlist.judges(), now=at)


def week46(engine, watchlist) -> None:
    store(engine, watchlist, [
        trial("NCT09990001", "Pembrolizumab before transplant", status="NOT_YET_RECRUITING",
              sites=[DENVER], topic="immunotherapy"),
        trial("NCT09990003", "Maintenance therapy in melanoma", status="RECRUITING", sites=[DENVER],
              topic="melanoma"),
        paper("40000003", "Pembrolizumab outcomes in a single centre", evidence="review"),
    ], at=W46_AT)


def week47(engine, watchlist) -> None:
    store(engine, watchlist, [
        trial("NCT09990001", "Pembrolizumab before transplant", status="RECRUITING",
              sites=[DENVER, SEATTLE], topic="immunotherapy"),
        trial("NCT09990002", "Pembrolizumab with lenvatinib", status="RECRUITING",
              sites=[SHANGHAI], topic="immunotherapy"),
        trial("NCT09990003", "Maintenance therapy in melanoma", status="TERMINATED", sites=[DENVER],
              topic="melanoma"),
        paper("40000001", "Pembrolizumab plus lenvatinib: a phase 3 trial", evidence="Phase 3 RCT",
              mentions=("NCT09990002",)),
        paper("40000002", "Checkpoint inhibitors in HCC", evidence="review"),
        paper("2026.11.01.1", "Early pembrolizumab signals", evidence="preprint", kind="preprint",
              source="europepmc"),
        paper("40000003", "Pembrolizumab outcomes in a single centre", evidence="retracted"),
        news("https://news-a.example/approval", "Pembrolizumab approved for liver cancer", feed="reuters"),
        news("https://news-b.example/approval", "肝癌新药获批", feed="xinhua"),
        news("javascript:alert(1)", HOSTILE_TITLE, feed="spam"),
    ], at=W47_AT)
    with session_scope(engine) as session:
        for finding in session.exec(select(Finding).where(Finding.kind == "news")):
            if "approval" in (finding.url or ""):
                finding.story_key = "story:approval"
                session.add(finding)
        session.add(PollRun(started_at=W47_AT, finished_at=W47_AT, ok=False,
                            counts={"ctgov": {"errors": 0}, "pubmed": {"errors": 1}}))
        record_failure(session, source="pubmed", query="q2", at=W47_AT, error="HTTP 503")


def seed(engine, watchlist):
    """Two weeks of polling: W46 as a baseline, W47 with something in every section."""
    week46(engine, watchlist)
    week47(engine, watchlist)
    return engine


@pytest.fixture
def seeded(engine, watchlist):
    return seed(engine, watchlist)


def build(engine, watchlist, period: Period = W47, recipient: str = FAMILY):
    with session_scope(engine, write=False) as session:
        return build_digest(session, watchlist=watchlist, period=period, recipient=recipient)


def send_recorded(engine, watchlist, period: Period = W47, recipient: str = FAMILY) -> None:
    """What a successful send leaves in the ledger."""
    digest = build(engine, watchlist, period, recipient)
    with session_scope(engine) as session:
        letter = record_pending(session, digest, render_digest(digest), sender="hccwatch@example.org")
        mark_sent(session, letter)


def entry(digest, key: str):
    return next(e for e in digest.entries() if e.key == key)


def test_iso_week_is_taken_in_the_watchlist_timezone():
    assert W47.start == datetime(2026, 11, 15, 16, 0, tzinfo=UTC)
    assert W47.end == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert Period.parse("2026-W47", TZ) == W47
    # Monday 01:00 in Shanghai is still Sunday in UTC: the week just ended is W47.
    assert Period.last_complete(TZ, datetime(2026, 11, 22, 17, 0, tzinfo=UTC)) == W47
    assert Period.last_complete(TZ, datetime(2026, 11, 22, 15, 0, tzinfo=UTC)).label == "2026-W46"


@pytest.mark.parametrize("text", ["2026-W99", "2027-W53", "2026-47", "W47", ""])
def test_a_period_that_is_not_an_iso_week_is_refused(text):
    with pytest.raises(PeriodError):
        Period.parse(text, TZ)


def test_sections_come_in_order_with_their_counts(seeded, watchlist):
    digest = build(seeded, watchlist)
    assert [s.id for s in digest.sections] == ["trials", "papers", "news"]
    assert digest.counts == {"trials": 3, "papers": 4, "news": 2}


def cards(digest, section: str) -> list:
    """The section's cards as the e-mail shows them: those in the top box, then the rest."""
    return [e for e in digest.entries() if e.section == section]


def test_trials_carry_their_topic_and_come_most_relevant_first(seeded, watchlist):
    digest = build(seeded, watchlist)
    trials = cards(digest, "trials")
    assert {e.key: e.topic.id for e in trials} == {
        "NCT09990001": "immunotherapy", "NCT09990002": "immunotherapy", "NCT09990003": "melanoma"}
    assert trials[0].topic.label_zh == "帕博利珠单抗"
    # A new site in Seattle and recruiting outranks a new trial, which outranks a stopped one.
    assert [e.key for e in trials] == ["NCT09990001", "NCT09990002", "NCT09990003"]
    every = list(digest.entries())
    assert [e.relevance for e in digest.top] == sorted((e.relevance for e in every), reverse=True)[:7]


def test_a_trial_new_and_terminated_in_the_same_digest_says_both(seeded, watchlist):
    stopped = entry(build(seeded, watchlist), "NCT09990003")
    assert [b.text for b in stopped.badges] == ["New trial", "Terminated"]
    assert stopped.changes == ["Trial status · 试验状态: Recruiting · 招募中 → Terminated · 已终止"]


def test_a_change_to_a_trial_announced_before_is_an_update(seeded, watchlist):
    with session_scope(seeded) as session:  # the W46 digest went out before W47's polls
        for finding in session.exec(select(Finding)):
            finding.first_seen_at = min(finding.first_seen_at, W46_AT)
    send_recorded(seeded, watchlist, Period(2026, 46, TZ))
    stopped = entry(build(seeded, watchlist), "NCT09990003")
    assert [b.text for b in stopped.badges] == ["Terminated"]
    assert stopped.date == "2026-11-18"


def test_a_site_opening_in_a_watched_place_names_hospital_city_and_contact(seeded, watchlist):
    update = entry(build(seeded, watchlist), "NCT09990001")
    assert [b.text for b in update.badges] == ["New trial", "Site in a watched place", "Now recruiting"]
    assert any(line.startswith("New site in a watched place · 关注地点新增中心: Fred Hutchinson") for line in update.changes)
    site = update.sites[0]
    assert (site.place, site.place_zh, site.facility, site.city) == (
        "Seattle", "西雅图", "Fred Hutchinson Cancer Center", "Seattle")
    assert site.contacts == ("Dr. Ada Lee, +1 206 555 0100, ada@fredhutch.example",)
    new_trial = entry(build(seeded, watchlist), "NCT09990002")
    assert [b.text for b in new_trial.badges] == ["New trial"]
    assert new_trial.sites[0].contacts == ("王医生, +86 21 5555 0000",)


def test_papers_carry_evidence_labels_and_the_trials_they_name(seeded, watchlist):
    digest = build(seeded, watchlist)
    papers = cards(digest, "papers")
    # By relevance: a retraction ranks first only when a past digest carried the paper.
    assert [e.badges[0].text for e in papers] == ["Phase 3 RCT", "review", "preprint", "retracted"]
    rct = entry(digest, "pmid:40000001")
    assert [(m.label, m.url) for m in rct.mentions] == [
        ("NCT09990002", "https://clinicaltrials.gov/study/NCT09990002")]
    assert [m.label for m in entry(digest, "NCT09990002").mentions] == ["pmid:40000001"]
    assert len(rct.summary) <= 200 and "\n" not in rct.summary


def test_news_is_one_entry_per_story_listing_its_sources(seeded, watchlist):
    news_entries = cards(build(seeded, watchlist), "news")
    story = news_entries[0]
    assert story.sources == ["reuters", "xinhua"]
    assert [item.url for item in story.items] == ["https://news-a.example/approval",
                                                  "https://news-b.example/approval"]
    assert len(news_entries) == 2


def test_a_javascript_link_never_becomes_a_link(seeded, watchlist):
    hostile = next(e for e in build(seeded, watchlist).entries() if e.title == HOSTILE_TITLE)
    assert hostile.url is None
    assert hostile.items[0].url is None


def test_every_entry_has_topic_labels_in_english_and_chinese(seeded, watchlist):
    for item in build(seeded, watchlist).entries():
        labels = {(t.label, t.label_zh) for t in item.topics}
        assert ("Pembrolizumab", "帕博利珠单抗") in labels or ("Melanoma", None) in labels


def test_sources_line_says_which_source_failed_this_week(seeded, watchlist):
    sources = {s.source: s for s in build(seeded, watchlist).sources}
    assert sources["pubmed"].failures == 1
    assert sources["pubmed"].state == "failed 1× this week"
    assert sources["ctgov"].state == "checked"
    assert sources["ctgov"].last_success == "2026-11-18 10:00"
    assert {"europepmc", "reuters", "xinhua"} <= set(sources)


def test_an_empty_week_says_nothing_new_and_lists_the_sources(seeded, watchlist):
    send_recorded(seeded, watchlist)
    digest = build(seeded, watchlist, Period(2026, 49, TZ))
    assert digest.is_empty
    assert {s.source: s.state for s in digest.sources}["ctgov"] == "not checked this week"


def test_a_finding_is_never_announced_twice_but_its_later_change_is(seeded, watchlist):
    send_recorded(seeded, watchlist)
    store(seeded, watchlist, [
        trial("NCT09990002", "Pembrolizumab with lenvatinib", status="COMPLETED",
              sites=[SHANGHAI], topic="immunotherapy"),
    ], at=W48_AT)
    with session_scope(seeded) as session:  # as if a merge moved a finding's first sighting
        moved = session.exec(select(Finding).where(Finding.key == "pmid:40000002")).one()
        moved.first_seen_at = W48_AT + timedelta(hours=1)
        session.add(moved)
    week48 = build(seeded, watchlist, Period(2026, 48, TZ))
    assert [e.key for e in week48.entries()] == ["NCT09990002"]
    assert entry(week48, "NCT09990002").changes == ["Trial status · 试验状态: Recruiting · 招募中 → Completed · 已完成"]


def test_another_recipient_still_gets_what_the_first_was_sent(seeded, watchlist):
    send_recorded(seeded, watchlist)
    assert build(seeded, watchlist, recipient="other@example.org").counts == {
        "trials": 3, "papers": 4, "news": 2}


def test_a_trial_the_patient_newly_may_fit_is_always_shown_with_its_pre_screen(seeded, watchlist):
    send_recorded(seeded, watchlist)
    screened = Eligibility("may_fit", (Reason("child_pugh", "fits", "Child-Pugh class A",
                                              "Child-Pugh A", "Child-Pugh A级"),))
    with session_scope(seeded) as session:  # what pipeline/judge.py records on a new verdict
        trial = session.exec(select(Finding).where(Finding.key == "NCT09990003")).one()
        trial.eligibility, trial.eligibility_verdict = screened.to_json(), "may_fit"
        session.add(trial)
        session.add(Change(finding_id=trial.id, field="eligibility", old="unclear", new="may_fit",
                           seen_at=W48_AT, significance="may_fit"))
    no_trials = dataclasses.replace(watchlist, digest=Limits(top_items=1, trial_updates=0))
    digest = build(seeded, no_trials, Period(2026, 48, TZ))
    card = entry(digest, "NCT09990003")  # shown although the cap for trial updates is 0
    assert [b.text for b in card.badges] == ["May fit (pre-screen)"]
    assert (card.eligibility_line.text, card.eligibility_line.text_zh) == (
        "may fit: Child-Pugh A", "可能符合：Child-Pugh A级")
    assert card.eligibility == "may_fit"
    text = render_digest(digest).text
    assert "Eligibility pre-screen (ask the trial team)" in text and "may fit: Child-Pugh A" in text
