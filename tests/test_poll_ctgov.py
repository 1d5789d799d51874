"""Polling ClinicalTrials.gov end to end against the replay server: paging to the end,
incremental re-polls, and one failing query never costing the others."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from conftest import fixture_bytes
from sqlmodel import func, select

from pipeline.engine import poll
from pipeline.plan import plan
from replay.server import CtgovHandler, Fault, cloned_studies, studies_from_recordings
from sources import clinicaltrials
from sources.http import SourceError, make_client
from store.db import session_scope
from store.models import Change, Finding, PollRun, SourceState, TopicMatch


def run(engine, settings, watchlist, **kw):
    events = []
    with ExitStack() as stack:
        tasks = plan(settings, watchlist, stack, progress=lambda e: events.append(e.stage), **kw)
        report = poll(engine, watchlist, tasks, progress=lambda e: events.append(e.stage))
    return report, events


def finding_count(engine):
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(Finding)).one()


def test_poll_follows_page_tokens_to_the_end(engine, settings, watchlist, ctgov, replay):
    ctgov.max_page_size = 2
    report, events = run(engine, settings, watchlist, topics=["phelan"])
    assert report.ok
    # 10 Phelan-McDermid studies across the two recorded pages, 2 per replayed page.
    assert report.results["ctgov"].new == 10
    tokens = [r.params.get("pageToken") for r in replay.requests("/ctgov/studies")]
    assert tokens == [None, "tok-2", "tok-4", "tok-6", "tok-8"]
    assert events.count("page") == 5


def test_second_poll_is_incremental_and_changes_nothing(engine, settings, watchlist, ctgov, replay):
    run(engine, settings, watchlist)
    before = finding_count(engine)
    report, _ = run(engine, settings, watchlist)
    assert finding_count(engine) == before
    assert report.results["ctgov"].new == 0 and report.results["ctgov"].changes == 0
    second = replay.requests("/ctgov/studies")[-3:]
    assert all("LastUpdatePostDate" in r.params["filter.advanced"] for r in second)


def test_changed_status_is_recorded_on_the_next_poll(engine, settings, watchlist, ctgov):
    run(engine, settings, watchlist, topics=["immunotherapy"])
    study = next(s for s in ctgov.studies
                 if s["protocolSection"]["identificationModule"]["nctId"] == "NCT05431270")
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    status["lastUpdatePostDateStruct"] = {"date": "2999-01-01"}
    run(engine, settings, watchlist, topics=["immunotherapy"])
    with session_scope(engine) as s:
        change = s.exec(select(Change)).one()
    assert (change.old, change.new) == ("RECRUITING", "ACTIVE_NOT_RECRUITING")


def test_one_trial_found_by_two_topics_is_tagged_with_both(engine, settings, watchlist, ctgov):
    run(engine, settings, watchlist)
    with session_scope(engine) as s:
        # NCT04114136 is a melanoma trial of pembrolizumab: both topics' queries find it.
        finding = s.exec(select(Finding).where(Finding.key == "NCT04114136")).one()
        topics = {t.topic for t in s.exec(select(TopicMatch).where(TopicMatch.finding_id == finding.id))}
    assert {"melanoma", "immunotherapy"} <= topics


def test_bad_query_fails_that_topic_only(engine, settings, watchlist, ctgov, replay):
    replay.inject("/ctgov/studies", Fault(status=400, body=b"Invalid Essie expression"))
    report, _ = run(engine, settings, watchlist)
    assert not report.ok and len(report.errors) == 1
    assert "Invalid Essie expression" in report.errors[0]
    assert report.results["ctgov"].new > 0  # the other topics were stored
    with session_scope(engine) as s:
        failed = [st for st in s.exec(select(SourceState)) if st.last_error]
    assert len(failed) == 1 and failed[0].cursor is None


def test_server_errors_leave_cursor_and_store_untouched_then_catch_up(engine, settings, watchlist, ctgov, replay):
    run(engine, settings, watchlist, topics=["phelan"])
    with session_scope(engine) as s:
        cursor = s.get(SourceState, ("ctgov", "phelan")).cursor
    replay.inject("/ctgov/studies", Fault(status=503), times=10)
    report, _ = run(engine, settings, watchlist, topics=["phelan"])
    assert not report.ok and "HTTP 503" in report.errors[0]
    with session_scope(engine) as s:
        state = s.get(SourceState, ("ctgov", "phelan"))
        assert state.cursor == cursor and state.consecutive_failures == 1
        run_row = s.exec(select(PollRun).order_by(PollRun.id.desc())).first()
        assert run_row.ok is False and run_row.counts["ctgov"]["errors"] == 1
    replay.clear_faults()
    report, _ = run(engine, settings, watchlist, topics=["phelan"])
    assert report.ok
    with session_scope(engine) as s:
        assert s.get(SourceState, ("ctgov", "phelan")).consecutive_failures == 0


def test_invalid_json_midway_loses_nothing_already_stored(engine, settings, watchlist, ctgov, replay):
    ctgov.max_page_size = 3
    replay.inject("/ctgov/studies", Fault(kind="invalid_json"))
    report, _ = run(engine, settings, watchlist, topics=["phelan"])
    assert "malformed JSON" in report.errors[0]
    assert finding_count(engine) == 0
    report, _ = run(engine, settings, watchlist, topics=["phelan"])
    assert report.ok and finding_count(engine) == 10


def test_watched_place_sites_are_marked(engine, settings, watchlist, ctgov):
    ctgov.studies.append({"protocolSection": {
        "identificationModule": {"nctId": "NCT09990002", "briefTitle": "Pembrolizumab in HCC"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "armsInterventionsModule": {"interventions": [{"name": "Pembrolizumab"}]},
        "contactsLocationsModule": {"locations": [
            {"facility": "Fred Hutchinson Cancer Center", "city": "Seattle", "country": "United States",
             "status": "RECRUITING", "contacts": [{"name": "Site Nurse", "phone": "206-555-0199"}]},
            {"facility": "Some Hospital", "city": "Seattle", "country": "Australia"}]}}})
    run(engine, settings, watchlist, topics=["immunotherapy"])
    with session_scope(engine) as s:
        finding = s.exec(select(Finding).where(Finding.key == "NCT09990002")).one()
    assert len(finding.watched_sites) == 1
    site = finding.watched_sites[0]
    assert site["place"] == "Seattle" and site["status"] == "RECRUITING"
    assert site["contacts"][0]["phone"] == "206-555-0199"


FULL_RECORDS = [f"ctgov/aact_{nct}.json" for nct in
                ("NCT00763412", "NCT02210780", "NCT03630471", "NCT04207047")]


def test_a_page_over_the_size_cap_is_asked_for_again_in_halves(replay):
    full = studies_from_recordings(fixture_bytes(f) for f in FULL_RECORDS)
    replay.route("/ctgov", CtgovHandler(cloned_studies(full, 12), filter_queries=False))
    params = clinicaltrials.build_params({"cond": "cancer"}, since=None, page_size=8)
    del params["fields"]  # whole records: any two of these fit in 130 kB, four do not
    with make_client(rate=100.0, max_bytes=130_000) as client:
        pages = list(clinicaltrials.fetch_pages(client, f"{replay.url}/ctgov", params))
    assert len({r.key for page in pages for r in page.records}) == 12
    sizes = [int(r.params["pageSize"]) for r in replay.requests("/ctgov/studies")]
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}


def test_a_single_study_over_the_cap_fails_the_topic_with_a_clear_error(replay, recorded_studies):
    replay.route("/ctgov", CtgovHandler(recorded_studies))
    params = clinicaltrials.build_params({"cond": "cancer"}, since=None, page_size=4)
    with make_client(rate=100.0, max_bytes=1_000) as client, \
            pytest.raises(SourceError, match="single study over the size limit"):
        list(clinicaltrials.fetch_pages(client, f"{replay.url}/ctgov", params))
