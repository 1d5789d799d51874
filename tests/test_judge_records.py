"""A poll judges the findings a batch has just inserted from the Records in hand instead of
reading them back (store.ingest.Inserted): the judgement must be exactly the one the stored
finding gets, for real recordings of every source, with the bundled watchlist (its topics,
weights, places and patient); and a finding written again in the same batch (a later record
of the same paper or trial) is read back, never judged from the stale Record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import FIXTURES, fixture_bytes
from sqlmodel import select

from hccwatch.watchlist import load_watchlist
from pipeline.judge import Fresh, judge_findings
from pipeline.tagging import Tagger
from replay.server import studies_from_recordings
from sources import europepmc, pubmed_parse
from sources.clinicaltrials import parse_study
from sources.records import Record
from store.db import open_engine, session_scope
from store.identity import link_targets, record_ids
from store.ingest import ingest_batch
from store.models import Finding

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
BUNDLED = Path(__file__).resolve().parent.parent / "hccwatch" / "watchlist.toml"
# The bundled watchlist names Shanghai; some recorded trials have sites there.
SHANGHAI_SITE = {"facility": "Zhongshan Hospital, Fudan University", "city": "Shanghai", "country": "China",
                 "status": "RECRUITING"}


def _pubmed() -> list[Record]:
    return [r for path in sorted((FIXTURES / "pubmed").glob("*.xml"))
            if "entity" not in path.name and "esearch" not in path.name and "esummary" not in path.name
            for r in pubmed_parse.parse_batch(path.read_bytes()).records]


def _ctgov() -> list[Record]:
    paths = sorted((FIXTURES / "ctgov").glob("*.json"))
    return [parse_study(study) for study in studies_from_recordings(p.read_bytes() for p in paths)]


def _europepmc() -> list[Record]:
    bodies = [path.read_bytes() for path in sorted((FIXTURES / "europepmc").glob("*.json"))]
    return [r for body in bodies if body.lstrip()[:1] == b"{"  # not the recorded error answers
            for r in europepmc.parse_page(body).records]


def _distinct(records: list[Record]) -> list[Record]:
    """The records none of whose identifiers another record of the batch has or names (the
    recordings hold a paper and its retraction): each is inserted whole, once."""
    counts: dict[tuple[str, str], int] = {}
    for record in records:
        for pair in {*record_ids(record), *((s, v) for s, v, _ in link_targets(record))}:
            counts[pair] = counts.get(pair, 0) + 1
    return [r for r in records if all(counts[p] == 1 for p in record_ids(r))]


def _judged(engine) -> dict[str, tuple]:
    with session_scope(engine, write=False) as session:
        return {f.key: (f.relevance, f.why, f.eligibility, f.eligibility_verdict)
                for f in session.exec(select(Finding).where(Finding.placeholder == False))}  # noqa: E712


@pytest.mark.parametrize("source, records", [("pubmed", _pubmed), ("ctgov", _ctgov), ("europepmc", _europepmc)])
def test_a_finding_judged_from_its_record_is_judged_as_when_read_back(tmp_path, source, records):
    watchlist = load_watchlist(BUNDLED)
    judges, tagger = watchlist.judges(), Tagger(watchlist)
    batch = [tagger.tag(r, found_by="hcc", query="hcc") for r in _distinct(records())]
    assert len(batch) >= 5
    engine = open_engine(str(tmp_path / "store.sqlite3"))
    fresh = Fresh()
    with session_scope(engine) as session:
        result = ingest_batch(session, batch, source=source, query="hcc", seen_at=NOW, inserted=fresh)
        assert set(fresh.rows) == result.touched and result.new == len(batch)
        assert judge_findings(session, result.touched, judges, now=NOW, fresh=fresh) == len(result.touched)
    from_records = _judged(engine)
    with session_scope(engine) as session:  # the same findings, read back from the store
        assert judge_findings(session, result.touched, judges, now=NOW) == len(result.touched)
    read_back = _judged(engine)
    assert from_records == read_back
    assert all(relevance is not None and why for relevance, why, _, _ in read_back.values())
    if source == "ctgov":
        assert {verdict for *_, verdict in read_back.values()} - {None}  # the trials were screened


def test_a_record_written_again_in_the_same_batch_is_read_back(tmp_path):
    watchlist = load_watchlist(BUNDLED)
    first = pubmed_parse.parse_batch(fixture_bytes("pubmed/constructed_before_retraction.xml")).records[0]
    again = dataclasses.replace(first, evidence="retracted", details={**first.details})
    engine = open_engine(str(tmp_path / "store.sqlite3"))
    fresh = Fresh()
    with session_scope(engine) as session:
        result = ingest_batch(session, [first, again], source="pubmed", query="hcc", seen_at=NOW,
                              inserted=fresh)
        assert result.new == 1 and len(result.touched) == 1
        assert fresh.rows == {}  # the second record updated what the first inserted
        judge_findings(session, result.touched, watchlist.judges(), now=NOW, fresh=fresh)
    with session_scope(engine, write=False) as session:
        finding = session.exec(select(Finding).where(Finding.placeholder == False)).one()  # noqa: E712
        assert finding.evidence == "retracted" and finding.why[0]["en"] != ""
        assert any(w["en"] == "retracted" for w in finding.why)
