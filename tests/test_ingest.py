"""Upserting Records into a real SQLite file: one finding per trial, no churn on re-poll, and
Change events for what a family cares about."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from conftest import fixture_bytes
from sqlmodel import func, select

from sources.clinicaltrials import parse_page, parse_study
from sources.records import Record
from store.db import session_scope
from store.ingest import ingest_batch
from store.models import Change, Finding, FindingSource, Identifier, Link, SourceState, TopicMatch

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def counts(engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return {m.__name__: s.exec(select(func.count()).select_from(m)).one()
                for m in (Finding, Identifier, TopicMatch, Change, FindingSource, Link)}


def store(engine, records, *, query="q", at=T0, cursor="2026-11-16"):
    with session_scope(engine) as s:
        return ingest_batch(s, records, source=records[0].source if records else "ctgov",
                            query=query, seen_at=at, cursor=cursor)


def keytruda():
    return parse_page(fixture_bytes("ctgov/biomcp_search_keytruda_limit3_20260811.json")).records


def test_first_poll_stores_each_trial_once(engine):
    result = store(engine, keytruda())
    assert (result.new, result.updated, result.unchanged) == (3, 0, 0)
    assert counts(engine)["Finding"] == 3


def test_second_poll_of_same_page_changes_nothing(engine):
    store(engine, keytruda())
    before = counts(engine)
    result = store(engine, keytruda(), at=T0 + timedelta(hours=6))
    assert (result.new, result.updated, result.unchanged, result.changes) == (0, 0, 3, 0)
    assert counts(engine) == before


def test_same_trial_from_two_topics_is_one_finding_with_two_topics(engine):
    first, second = keytruda(), keytruda()
    for r in first:
        r.topics = {"immunotherapy": ["Keytruda"]}
    for r in second:
        r.topics = {"melanoma": ["melanoma"]}
    store(engine, first, query="immunotherapy")
    result = store(engine, second, query="melanoma")
    assert result.new == 0
    with session_scope(engine) as s:
        finding = s.exec(select(Finding).where(Finding.key == "NCT05431270")).one()
        topics = {m.topic for m in s.exec(select(TopicMatch).where(TopicMatch.finding_id == finding.id))}
    assert topics == {"immunotherapy", "melanoma"}
    assert counts(engine)["Finding"] == 3


def _study(status="RECRUITING", sites=(), results=None, phases=("PHASE2",)):
    study = {"protocolSection": {
        "identificationModule": {"nctId": "NCT09990001", "briefTitle": "HCC sample"},
        "statusModule": {"overallStatus": status},
        "designModule": {"phases": list(phases)},
        "contactsLocationsModule": {"locations": [dict(s) for s in sites]}}}
    if results:
        study["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": results}
    return study


SEATTLE = {"facility": "Fred Hutchinson Cancer Center", "city": "Seattle", "country": "United States",
           "status": "RECRUITING"}
DENVER = {"facility": "Denver Site", "city": "Denver", "country": "United States", "status": "RECRUITING"}


def test_status_change_is_recorded_with_old_and_new(engine):
    store(engine, [parse_study(_study("RECRUITING"))])
    result = store(engine, [parse_study(_study("ACTIVE_NOT_RECRUITING"))], at=T0 + timedelta(days=7))
    assert result.updated == 1 and result.changes == 1
    with session_scope(engine) as s:
        change = s.exec(select(Change)).one()
        finding = s.exec(select(Finding)).one()
    assert (change.field, change.old, change.new) == ("status", "RECRUITING", "ACTIVE_NOT_RECRUITING")
    assert change.seen_at == T0 + timedelta(days=7)
    assert finding.status == "ACTIVE_NOT_RECRUITING"


def test_results_posted_new_phase_and_new_watched_site_are_changes(engine):
    store(engine, [parse_study(_study(sites=[DENVER]))])
    newer = parse_study(_study(sites=[DENVER, SEATTLE], results="2026-11-20", phases=("PHASE2", "PHASE3")))
    newer.watched_sites = [{"place": "Seattle", "site_key": newer.locations[1].site_key(),
                            "facility": SEATTLE["facility"], "status": "RECRUITING"}]
    store(engine, [newer], at=T0 + timedelta(days=7))
    with session_scope(engine) as s:
        changes = {c.field: c for c in s.exec(select(Change))}
    assert changes["results_first_posted"].new == "2026-11-20"
    assert changes["results_first_posted"].significance == "results"
    assert changes["phases"].new == "PHASE2, PHASE3"
    assert changes["site"].significance == "watched_site"
    assert "Fred Hutchinson Cancer Center" in changes["site"].new


def test_site_status_change_in_watched_place(engine):
    closed = dict(SEATTLE, status="NOT_YET_RECRUITING")
    first = parse_study(_study(sites=[closed]))
    store(engine, [first])
    later = parse_study(_study(sites=[SEATTLE]))
    later.watched_sites = [{"site_key": later.locations[0].site_key(), "place": "Seattle"}]
    store(engine, [later], at=T0 + timedelta(days=1))
    with session_scope(engine) as s:
        change = s.exec(select(Change)).one()
    assert change.field == "site_status" and change.significance == "watched_site"
    assert change.new.endswith("RECRUITING") and "NOT_YET" in change.old


def test_cursor_commits_with_the_batch(engine):
    store(engine, keytruda(), query="immunotherapy", cursor="2026-11-16")
    with session_scope(engine) as s:
        state = s.get(SourceState, ("ctgov", "immunotherapy"))
    assert state.cursor == "2026-11-16" and state.last_success_at == T0 and state.last_count == 3


def test_a_failed_batch_leaves_nothing_and_keeps_the_cursor(engine):
    store(engine, keytruda()[:1], query="immunotherapy", cursor="2026-11-01")
    bad = Record(source="ctgov", kind="trial", ids={"nct": "NCT05431270"}, title="x")
    try:
        with session_scope(engine) as s:
            ingest_batch(s, keytruda()[1:], source="ctgov", query="immunotherapy",
                         seen_at=T0, cursor="2026-11-16")
            raise RuntimeError(f"killed mid-batch after {bad.key}")
    except RuntimeError:
        pass
    with session_scope(engine) as s:
        assert s.get(SourceState, ("ctgov", "immunotherapy")).cursor == "2026-11-01"
    assert counts(engine)["Finding"] == 1


def test_article_naming_a_trial_links_to_a_placeholder_then_the_trial(engine):
    article = Record(source="pubmed", kind="article", ids={"pmid": "123"}, title="Paper",
                     mentions=["NCT09990001"])
    store(engine, [article])
    with session_scope(engine) as s:
        placeholder = s.exec(select(Finding).where(Finding.key == "NCT09990001")).one()
        assert placeholder.placeholder
    result = store(engine, [parse_study(_study())], at=T0 + timedelta(days=1))
    assert result.new == 1  # the trial itself is new to the family when it arrives
    with session_scope(engine) as s:
        trial = s.exec(select(Finding).where(Finding.key == "NCT09990001")).one()
        link = s.exec(select(Link)).one()
    assert not trial.placeholder and trial.title == "HCC sample"
    assert link.dst_id == trial.id


def test_two_sources_naming_the_same_doi_and_pmid_merge(engine):
    a = Record(source="pubmed", kind="article", ids={"pmid": "42"}, title="A paper")
    b = Record(source="europepmc", kind="article", ids={"doi": "10.1000/XYZ"}, title="A paper")
    both = Record(source="europepmc", kind="article", ids={"pmid": "42", "doi": "10.1000/xyz"},
                  title="A paper")
    store(engine, [a])
    store(engine, [b])
    assert counts(engine)["Finding"] == 2
    store(engine, [both])
    with session_scope(engine) as s:
        findings = s.exec(select(Finding)).all()
        sources = {r.source for r in s.exec(select(FindingSource))}
    assert len(findings) == 1 and findings[0].key == "pmid:42"
    assert sources == {"pubmed", "europepmc"}


def test_reingesting_in_any_order_gives_the_same_findings(engine, tmp_path):
    from store.db import open_engine

    records = keytruda() + parse_page(fixture_bytes("ctgov/biomcp_search_phelan_limit5_20260811.json")).records
    store(engine, copy.deepcopy(records))
    other = open_engine(str(tmp_path / "other.sqlite3"))
    store(other, list(reversed(copy.deepcopy(records))))
    with session_scope(engine) as s1, session_scope(other) as s2:
        a = sorted((f.key, f.status, f.content_hash) for f in s1.exec(select(Finding)))
        b = sorted((f.key, f.status, f.content_hash) for f in s2.exec(select(Finding)))
    assert a == b and len(a) == 8
    other.dispose()


def test_two_sources_in_either_order_end_in_the_same_finding(engine, tmp_path):
    from store.db import open_engine

    def records():
        pubmed = Record(source="pubmed", kind="article", ids={"pmid": "7", "doi": "10.1/a"},
                        title="Atezolizumab plus bevacizumab in HCC", summary="PubMed abstract",
                        evidence="Phase 3 RCT", published="2024 Jan-Feb",
                        details={"journal": "Lancet", "authors": ["Roe J"]})
        europe = Record(source="europepmc", kind="preprint", ids={"doi": "10.1/A", "pmcid": "PMC9"},
                        title="Atezolizumab + bevacizumab in hepatocellular carcinoma",
                        summary="Europe PMC abstract", url="https://doi.org/10.1/a",
                        details={"journal": "Lancet Oncol", "cited_by": 12})
        return pubmed, europe

    other = open_engine(str(tmp_path / "reversed.sqlite3"))
    for target, order in ((engine, (0, 1)), (other, (1, 0))):
        pair = records()
        for index in order:
            store(target, [pair[index]])

    def state(e):
        with session_scope(e) as s:
            f = s.exec(select(Finding)).one()
            return (f.key, f.kind, f.title, f.summary, f.url, f.evidence, f.published, f.details)

    assert state(engine) == state(other)
    key, kind, title, summary, url, evidence, published, details = state(engine)
    assert (kind, title, evidence) == ("article", "Atezolizumab plus bevacizumab in HCC", "Phase 3 RCT")
    assert url == "https://doi.org/10.1/a" and details["cited_by"] == 12 and details["journal"] == "Lancet"
    other.dispose()


def test_every_stored_finding_is_searchable_by_its_current_title(engine):
    from sqlalchemy import text

    def hits(word):
        with session_scope(engine, write=False) as s:
            return {row[0] for row in s.execute(text(
                "SELECT finding.key FROM finding_fts JOIN finding ON finding.id = finding_fts.rowid "
                "WHERE finding_fts MATCH :q"), {"q": f'"{word}"'})}

    store(engine, keytruda())  # the bulk path
    store(engine, [parse_study(_study())])  # one record
    assert hits("Mavrostobart") == {"NCT05431270"}
    assert hits("HCC sample") == {"NCT09990001"}
    renamed = parse_study(_study())
    renamed.title = "Hepatocellular carcinoma sample, renamed"
    store(engine, [renamed], at=T0 + timedelta(days=1))
    assert hits("renamed") == {"NCT09990001"} and hits("HCC sample") == set()


def test_matches_of_an_ad_hoc_search_are_stored_as_ad_hoc(engine):
    found = keytruda()
    for record in found:
        record.topics = {"adhoc-pembrolizumab": ["query: pembrolizumab"], "melanoma": ["melanoma"]}
    store(engine, found)  # new findings: the bulk path
    for record in found:
        record.topics = {"adhoc-keytruda": ["query: keytruda"]}
    store(engine, found, at=T0 + timedelta(days=1))  # stored findings: one by one
    with session_scope(engine, write=False) as s:
        vias = {(m.topic, m.via) for m in s.exec(select(TopicMatch))}
    assert vias == {("adhoc-pembrolizumab", "adhoc"), ("melanoma", "match"), ("adhoc-keytruda", "adhoc")}


def test_an_identifier_first_written_by_an_update_is_known_to_later_records_of_the_batch(engine):
    def article(**ids):
        return Record(source="pubmed", kind="article", ids=ids, title="Sintilimab plus IBI305 in HCC",
                      url="https://pubmed.ncbi.nlm.nih.gov/38000002/")

    # The second record adds a PMCID to the first one's finding; the third names only that
    # PMCID, so it must be recognised as the same finding, not inserted as a new one.
    batch = [article(pmid="38000002", doi="10.1/y"), article(pmid="38000002", pmcid="PMC7000002"),
             article(pmcid="PMC7000002")]
    result = store(engine, batch)
    assert result.new == 1 and result.fetched == 3
    with session_scope(engine, write=False) as s:
        assert s.exec(select(func.count()).select_from(Finding)).one() == 1
        assert {(i.scheme, i.value) for i in s.exec(select(Identifier))} == {
            ("pmid", "38000002"), ("doi", "10.1/y"), ("pmcid", "PMC7000002")}


def test_a_merge_keeps_everything_both_halves_knew(engine):
    pubmed = Record(source="pubmed", kind="article", ids={"pmid": "42"}, title="A paper",
                    topics={"hcc": ["HCC"]})
    preprint = Record(source="europepmc", kind="article", ids={"doi": "10.1000/XYZ"},
                      title="A preprint", topics={"tace": ["TACE"]}, mentions=["NCT01234567"])
    retitled = Record(source="europepmc", kind="article", ids={"doi": "10.1000/XYZ"},
                      title="A paper", topics={"tace": ["TACE"]}, mentions=["NCT01234567"])
    both = Record(source="europepmc", kind="article", ids={"pmid": "42", "doi": "10.1000/xyz"},
                  title="A paper", topics={"tace": ["TACE"]}, mentions=["NCT01234567"])
    store(engine, [preprint], at=T0)  # seen first
    store(engine, [pubmed], at=T0 + timedelta(days=1))
    store(engine, [retitled], at=T0 + timedelta(days=2))
    store(engine, [both], at=T0 + timedelta(days=3))

    with session_scope(engine) as s:
        [paper] = s.exec(select(Finding).where(Finding.placeholder == False)).all()  # noqa: E712
        ids = {(i.scheme, i.value) for i in s.exec(select(Identifier).where(Identifier.finding_id == paper.id))}
        topics = {m.topic for m in s.exec(select(TopicMatch).where(TopicMatch.finding_id == paper.id))}
        sources = [r.source for r in s.exec(select(FindingSource).where(FindingSource.finding_id == paper.id))]
        changes = [(c.field, c.old, c.new) for c in s.exec(select(Change).where(Change.finding_id == paper.id))]
        links = [(link.src_id, link.dst_id) for link in s.exec(select(Link))]
        trial = s.exec(select(Finding).where(Finding.key == "NCT01234567")).one()
        orphans = s.exec(select(func.count()).select_from(TopicMatch).where(
            TopicMatch.finding_id != paper.id)).one()
    assert paper.key == "pmid:42" and ids == {("pmid", "42"), ("doi", "10.1000/xyz")}
    assert topics == {"hcc", "tace"} and orphans == 0
    assert sorted(sources) == ["europepmc", "pubmed"]  # one row per source, none twice
    assert ("title", "A preprint", "A paper") in changes  # the preprint's history came along
    assert links == [(paper.id, trial.id)]  # its link to the trial too, once
    assert paper.first_seen_at.replace(tzinfo=UTC) == T0  # seen since the preprint was


def _quietly(engine, records, *, at):
    """Store a batch as one page of a poll (no cursor) and return what it did: its counts, the
    findings it hands to be judged again, those the judge reads from their Records, and how
    many rows SQLite says it inserted, changed or deleted."""
    from pipeline.judge import Fresh
    from store.ingest import BatchResult, ingest_records

    result, fresh = BatchResult(), Fresh()
    with session_scope(engine) as s:
        sqlite = s.connection().connection.driver_connection
        before = sqlite.total_changes
        ingest_records(s, records, seen_at=at, baseline=False, result=result, inserted=fresh)
        s.flush()
        written = sqlite.total_changes - before
    return result, set(fresh.rows), written


def _tagged(records):
    for record in records:
        record.topics = {"immunotherapy": ["Keytruda", "pembrolizumab"], "melanoma": ["melanoma"]}
    return records


def _finding_rows(engine):
    with session_scope(engine, write=False) as s:
        return sorted((f.key, f.title, f.status, f.last_seen_at, f.content_hash) for f in s.exec(select(Finding)))


def test_a_repeat_poll_of_unchanged_records_writes_nothing_and_judges_nothing_again(engine):
    """Every record as stored (same content, same topics and terms): counted unchanged, no row
    written, no change event, and no finding handed to the judges (the poll re-scores exactly
    the findings a batch touched)."""
    store(engine, _tagged(keytruda()))
    stored = _finding_rows(engine)
    result, fresh, written = _quietly(engine, _tagged(keytruda()), at=T0 + timedelta(hours=6))
    assert (result.fetched, result.unchanged, result.new, result.updated, result.changes) == (3, 3, 0, 0, 0)
    assert (result.touched, fresh, written) == (set(), set(), 0)
    assert _finding_rows(engine) == stored  # last_seen_at, content_hash: as they were
    assert counts(engine)["Change"] == 0


def test_a_new_record_among_unchanged_ones_is_the_only_one_judged_and_from_its_record(engine):
    store(engine, _tagged(keytruda()))
    new = parse_study(_study())
    result, fresh, written = _quietly(engine, [new, *_tagged(keytruda())], at=T0 + timedelta(hours=6))
    with session_scope(engine, write=False) as s:
        new_id = s.exec(select(Finding.id).where(Finding.key == "NCT09990001")).one()
    assert (result.new, result.unchanged) == (1, 3)
    assert result.touched == fresh == {new_id}  # judged from the Record in hand, not read back
    assert written > 0


def test_a_record_changed_in_one_field_is_stored_again_and_judged_again(engine):
    store(engine, _tagged(keytruda()))
    again = _tagged(keytruda())
    again[1].status = "TERMINATED"  # was COMPLETED
    result, fresh, written = _quietly(engine, again, at=T0 + timedelta(days=7))
    with session_scope(engine, write=False) as s:
        changed = s.exec(select(Finding).where(Finding.key == again[1].key)).one()
        change = s.exec(select(Change)).one()
    assert (result.unchanged, result.updated, result.changes) == (2, 1, 1)
    assert result.touched == {changed.id} and fresh == set() and written > 0
    assert (changed.status, change.old, change.new) == ("TERMINATED", "COMPLETED", "TERMINATED")


def test_a_later_record_naming_a_paper_by_another_identifier_is_stored_after_an_earlier_one(engine):
    """A batch is stored in order, as one upsert after another would store it: a paper updated
    by its PMID and then sent again by its DOI alone, as PubMed first had it, ends as the DOI
    record says (not mistaken for unchanged on what the store held before the batch)."""
    def paper(title, **ids):
        return Record(source="pubmed", kind="article", ids=ids, title=title)

    store(engine, [paper("Old title", doi="10.1/x")])
    # Europe PMC names both identifiers: the paper is now known by its PMID too
    store(engine, [Record(source="europepmc", kind="article", ids={"pmid": "1", "doi": "10.1/x"},
                          title="Old title")], at=T0 + timedelta(days=1))
    batch = [paper("New title", pmid="1"), paper("Old title", doi="10.1/x")]
    result = store(engine, batch, at=T0 + timedelta(days=2))
    assert (result.updated, result.unchanged, result.changes) == (2, 0, 2)
    with session_scope(engine, write=False) as s:
        finding = s.exec(select(Finding)).one()
        titles = [(c.old, c.new) for c in s.exec(select(Change).where(Change.field == "title").order_by(Change.id))]
    assert finding.title == "Old title"
    assert titles == [("Old title", "New title"), ("New title", "Old title")]


def test_a_batch_naming_more_than_500_stored_findings_knows_every_unchanged_one(engine):
    """What a batch's papers already have in the store is read 500 findings at a time: 101
    papers each found under two identifiers (now merged, 202 findings named) and 299 unchanged
    ones name 501. The last of them is as unchanged as the others: not written, not judged."""
    def paper(**ids):
        return Record(source="pubmed", kind="article", ids=ids, title="Lenvatinib in HCC")

    halves = [paper(pmid=str(1000 + i)) for i in range(101)] + [paper(doi=f"10.1/{i}") for i in range(101)]
    unchanged = [paper(pmid=str(5000 + i)) for i in range(299)]
    store(engine, halves + unchanged)  # the unchanged ones stored last: the highest ids
    merged = [paper(pmid=str(1000 + i), doi=f"10.1/{i}") for i in range(101)]
    result, fresh, _ = _quietly(engine, merged + unchanged, at=T0 + timedelta(days=1))
    with session_scope(engine, write=False) as s:
        keepers = set(s.exec(select(Identifier.finding_id).where(Identifier.scheme == "doi")))
    assert (result.updated, result.unchanged, result.new) == (101, 299, 0)
    assert result.touched == keepers and len(keepers) == 101 and fresh == set()
    assert counts(engine)["Finding"] == 400
