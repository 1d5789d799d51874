""""New" means new, and the ledger decides what a digest carries. On real recordings with a
controlled clock: the first poll of a (source, query) is a baseline whose old findings are
stored but never announced as new; a first digest after it is a starting point; a digest
carries everything no digest sent to the recipient carried yet, so the first run sends what
was found, a missed week is carried by the next one, and nothing is carried twice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from test_digest_build import FAMILY, TZ, build, entry, send_recorded, store

from digests.deliver import make_digest
from digests.period import Period, default_period
from digests.render import render_digest
from hccwatch.app import App
from pipeline.tagging import Tagger
from sources.clinicaltrials import parse_study
from sources.records import Location
from store.db import session_scope
from store.ingest import ingest_batch
from store.models import Digest, DigestEntry, Finding

FIRST_POLL = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)  # Monday of 2025-W49 in Shanghai
FIRST_WEEK = Period(2025, 49, TZ)
SEATTLE = Location(facility="Fred Hutchinson Cancer Center", city="Seattle",
                   country="United States", status="RECRUITING")


def recorded_trials(studies) -> dict:
    return {record.key: record for record in map(parse_study, studies)}


def first_poll(engine, watchlist, studies, *, at: datetime = FIRST_POLL) -> dict:
    """The recorded trials as a fresh install's first ClinicalTrials.gov poll; one recruiting
    trial of 2020 gets a site in Seattle, a watched place."""
    trials = recorded_trials(studies)
    trials["NCT04318717"].locations = [SEATTLE]
    store(engine, watchlist, [dataclasses.replace(t, topics={"immunotherapy": ["query"]})
                              for t in trials.values()], at=at)
    return trials


def keys(digest) -> set[str]:
    return {e.key for e in digest.entries()}


def test_the_first_poll_is_a_baseline_an_old_trial_is_never_announced_as_new(
        engine, watchlist, recorded_studies):
    trials = first_poll(engine, watchlist, recorded_studies)
    with session_scope(engine, write=False) as session:
        assert all(f.baseline for f in session.exec(select(Finding)))
    digest = build(engine, watchlist, FIRST_WEEK)
    new = [e for e in digest.entries() if any(b.text == "New trial" for b in e.badges)]
    # Started 2025-11-12, 19 days before the first poll: new. Every other one is older.
    assert [e.key for e in new] == ["NCT07281079"]
    assert new[0].date == "2025-11-12"
    completed = "NCT03590054"  # a 2018 trial, completed
    assert trials[completed].details["start_date"] == "2018-08-20"
    assert completed not in keys(digest)
    assert digest.known["trials"] == len(trials) - len(keys(digest))


def test_a_trial_first_found_after_the_baseline_is_new(engine, watchlist, recorded_studies):
    trials = first_poll(engine, watchlist, recorded_studies)
    send_recorded(engine, watchlist, FIRST_WEEK)
    later = FIRST_POLL + timedelta(days=7)
    fresh = dataclasses.replace(trials["NCT07281079"], ids={"nct": "NCT09999001"},
                                details={**trials["NCT07281079"].details, "start_date": "2025-12-05"})
    old = dataclasses.replace(trials["NCT03590054"], ids={"nct": "NCT09999002"})
    store(engine, watchlist, [fresh, old], at=later)
    digest = build(engine, watchlist, Period.containing(later, TZ))
    assert not digest.starting_point
    assert [b.text for b in entry(digest, "NCT09999001").badges] == ["New trial"]
    assert entry(digest, "NCT09999001").date == "2025-12-05"
    # Registered in 2018 and found only now: said honestly, dated by its own date.
    assert [b.text for b in entry(digest, "NCT09999002").badges] == ["Newly found"]
    assert entry(digest, "NCT09999002").date == "2018-08-20"


def test_the_first_digest_is_a_starting_point_trials_open_nearby_first(
        engine, watchlist, recorded_studies):
    first_poll(engine, watchlist, recorded_studies)
    digest = build(engine, watchlist, FIRST_WEEK)
    assert digest.starting_point
    trials = [e for e in digest.entries() if e.section == "trials"]
    nearby = trials[0]
    assert nearby.key == "NCT04318717"  # recruiting since 2020, site in Seattle
    assert [b.text for b in nearby.badges] == ["Recruiting"]  # not "New trial"
    assert nearby.date == "2020-05-29"
    assert nearby.sites[0].place == "Seattle"
    assert any(w.text == "already known when watching began" for w in nearby.why)


def test_the_first_run_on_a_fresh_install_sends_what_was_found(
        engine, watchlist, recorded_studies, settings):
    first_poll(engine, watchlist, recorded_studies)
    now = FIRST_POLL + timedelta(hours=1)
    with session_scope(engine, write=False) as session:  # not last week's empty digest
        assert default_period(session, TZ, now) == FIRST_WEEK
    report = make_digest(App(settings).post(), now=now)
    assert report.period == "2025-W49" and [o.status for o in report.outcomes] == ["sent"]
    with session_scope(engine, write=False) as session:
        [row] = session.exec(select(Digest)).all()
        carried = session.exec(select(DigestEntry).where(DigestEntry.digest_id == row.id)).all()
        stored = session.exec(select(Finding)).all()
    assert "Nothing new" not in row.text and "NCT07281079" in row.text
    # Every trial is carried: shown, or counted as already known when watching began.
    assert {e.finding_id for e in carried} == {f.id for f in stored}
    # A week later the default period is the last complete week: the one just sent.
    with session_scope(engine, write=False) as session:
        assert default_period(session, TZ, now + timedelta(days=7)) == FIRST_WEEK


def test_watching_that_began_as_a_week_ended_starts_with_the_new_week(engine, watchlist,
                                                                    recorded_studies):
    """The first poll at Monday 00:00 local time belongs to the new week: the first digest is
    that week's, not the empty week that just ended."""
    began = FIRST_WEEK.start  # the end of 2025-W48, to the second
    first_poll(engine, watchlist, recorded_studies, at=began)
    with session_scope(engine, write=False) as session:
        assert default_period(session, TZ, began + timedelta(hours=1)) == FIRST_WEEK


def test_a_missed_week_is_carried_by_the_next_and_nothing_twice(engine, watchlist, recorded_studies):
    trials = first_poll(engine, watchlist, recorded_studies)
    send_recorded(engine, watchlist, FIRST_WEEK)
    week2, week3 = FIRST_POLL + timedelta(days=7), FIRST_POLL + timedelta(days=14)
    recruiting = dataclasses.replace(trials["NCT07119606"], status="RECRUITING")  # was not yet
    store(engine, watchlist, [recruiting], at=week2)  # W50: no digest went out
    store(engine, watchlist, [dataclasses.replace(trials["NCT07281079"], ids={"nct": "NCT09999003"},
                                                  details={"start_date": "2025-12-10"})], at=week3)
    w51 = build(engine, watchlist, Period.containing(week3, TZ))
    assert keys(w51) == {"NCT07119606", "NCT09999003"}
    assert entry(w51, "NCT07119606").changes == ["Trial status · 试验状态: Not yet recruiting · 尚未招募 → Recruiting · 招募中"]
    send_recorded(engine, watchlist, Period.containing(week3, TZ))
    assert build(engine, watchlist, Period.containing(week3 + timedelta(days=7), TZ)).is_empty
    # Another recipient never sent anything still gets everything, the old trials counted.
    other = build(engine, watchlist, Period.containing(week3, TZ), recipient="other@example.org")
    assert other.starting_point and {"NCT07119606", "NCT09999003"} <= keys(other)
    assert other.recipient != FAMILY


def test_a_topic_added_later_has_its_own_baseline_in_an_ordinary_digest(
        engine, watchlist, recorded_studies):
    first_poll(engine, watchlist, recorded_studies)
    send_recorded(engine, watchlist, FIRST_WEEK)
    later = FIRST_POLL + timedelta(days=7)
    trials = recorded_trials(recorded_studies)
    nearby = dataclasses.replace(trials["NCT04318717"], ids={"nct": "NCT09999004"},
                                 locations=[SEATTLE], topics={"phelan": ["query"]})
    old = dataclasses.replace(trials["NCT03590054"], ids={"nct": "NCT09999005"},
                              topics={"phelan": ["query"]})
    with session_scope(engine) as session:  # the new topic's first poll: a baseline
        ingest_batch(session, [Tagger(watchlist).tag(nearby, found_by=None), old],
                     source="ctgov", query="phelan", seen_at=later)
    digest = build(engine, watchlist, Period.containing(later, TZ))
    assert not digest.starting_point  # the family has had its starting point
    assert keys(digest) == {"NCT09999004"}  # recruiting in Seattle since 2020: shown
    assert [b.text for b in entry(digest, "NCT09999004").badges] == ["Recruiting"]
    assert digest.known == {"trials": 1}  # the completed 2018 trial: counted, not announced
    assert "Already known when watching began (stored and searchable, not announced as new): " \
           "1 trial." in render_digest(digest).text
