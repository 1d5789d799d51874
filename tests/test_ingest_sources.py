"""What the store keeps when several sources, links and topics meet one finding, read back
from a real SQLite file: the links a paper makes to the trials it names (and the placeholders
standing in for those not fetched yet), the topic matches, the key a finding is known by, and
the counts a poll reports."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from test_ingest import T0, _study, store

from sources.clinicaltrials import parse_study
from sources.records import Record
from store.db import session_scope
from store.ingest import BatchResult
from store.models import Finding, Identifier, Link, TopicMatch

LATER = T0 + timedelta(days=7)


def findings(engine) -> dict[str, Finding]:
    with session_scope(engine, write=False) as session:
        return {f.key: f for f in session.exec(select(Finding))}


def links(engine) -> set[tuple[str, str, str]]:
    with session_scope(engine, write=False) as session:
        keys = {f.id: f.key for f in session.exec(select(Finding))}
        return {(keys[link.src_id], keys[link.dst_id], link.relation) for link in session.exec(select(Link))}


def topics(engine) -> dict[tuple[str, str], tuple[list[str], str]]:
    with session_scope(engine, write=False) as session:
        keys = {f.id: f.key for f in session.exec(select(Finding))}
        return {(keys[m.finding_id], m.topic): (m.terms, m.via) for m in session.exec(select(TopicMatch))}


def article(pmid: str = "38000001", **fields) -> Record:
    fields.setdefault("title", "Sintilimab in HCC")
    return Record(source="pubmed", kind="article", ids={"pmid": pmid}, **fields)


def test_named_trials_and_papers_wait_as_placeholders_with_their_public_pages(engine):
    named = article(mentions=["nct09990001"], details={"related": [
        {"scheme": "pmid", "value": "38000002", "relation": "comment_on"},
        {"scheme": "doi", "value": "10.1/PREPRINT"},
        {"scheme": "isbn", "value": "978-3"}, "not a dict", {"scheme": "pmid"}]})
    store(engine, [named])
    stored = findings(engine)
    assert set(stored) == {"pmid:38000001", "NCT09990001", "pmid:38000002", "doi:10.1/preprint"}
    trial, comment, preprint = stored["NCT09990001"], stored["pmid:38000002"], stored["doi:10.1/preprint"]
    assert (trial.kind, trial.title, trial.url, trial.placeholder) == (
        "trial", "NCT09990001", "https://clinicaltrials.gov/study/NCT09990001", True)
    assert (comment.kind, comment.url) == ("article", "https://pubmed.ncbi.nlm.nih.gov/38000002/")
    assert (preprint.kind, preprint.url, preprint.placeholder) == ("article", None, True)
    assert links(engine) == {("pmid:38000001", "NCT09990001", "mentions"),
                             ("pmid:38000001", "pmid:38000002", "comment_on"),
                             ("pmid:38000001", "doi:10.1/preprint", "related")}


def test_a_paper_naming_itself_or_a_trial_twice_makes_one_link(engine):
    store(engine, [article(mentions=["NCT09990001", "NCT09990001"],
                           details={"related": [{"scheme": "pmid", "value": "38000001"}]})])
    store(engine, [article(mentions=["NCT09990001"], summary="now with an abstract")], at=LATER)
    assert links(engine) == {("pmid:38000001", "NCT09990001", "mentions")}


def test_a_placeholder_filled_later_is_new_when_it_arrives(engine):
    store(engine, [article(mentions=["NCT09990001"])])
    result = store(engine, [parse_study(_study())], at=LATER)
    assert (result.new, result.updated) == (1, 0)
    trial = findings(engine)["NCT09990001"]
    assert (trial.placeholder, trial.title, trial.first_seen_at.date()) == (False, "HCC sample", LATER.date())


def test_topic_terms_grow_and_say_how_the_topic_was_found(engine):
    store(engine, [article(topics={"tace": ["TACE"], "hcc": ["query: hcc"]})])
    store(engine, [article(topics={"tace": ["chemoembolization", "TACE"], "hcc": ["query: hcc"]})],
          at=LATER)
    assert topics(engine) == {("pmid:38000001", "tace"): (["TACE", "chemoembolization"], "match"),
                              ("pmid:38000001", "hcc"): (["query: hcc"], "query")}


def test_a_preprint_takes_the_pmid_key_once_pubmed_names_it(engine):
    preprint = Record(source="europepmc", kind="preprint", ids={"doi": "10.1101/2026.1"},
                      title="Early signals")
    store(engine, [preprint])
    assert set(findings(engine)) == {"doi:10.1101/2026.1"}
    named = Record(source="pubmed", kind="article", ids={"doi": "10.1101/2026.1", "pmid": "38000009"},
                   title="Early signals")
    store(engine, [named], at=LATER)
    assert set(findings(engine)) == {"pmid:38000009"}
    with session_scope(engine, write=False) as session:
        assert {(i.scheme, i.value) for i in session.exec(select(Identifier))} == {
            ("doi", "10.1101/2026.1"), ("pmid", "38000009")}


def test_batch_counts_add_up_across_batches():
    first = BatchResult(fetched=3, new=2, updated=1, unchanged=0, changes=4, skipped=["a"],
                        errors=["e1"], touched={1, 2})
    second = BatchResult(fetched=5, new=0, updated=2, unchanged=3, changes=1, skipped=["b", "c"],
                         errors=["e2"], touched={2, 3})
    first.add(second)
    assert first.as_dict() == {"fetched": 8, "new": 2, "updated": 3, "unchanged": 3, "changes": 5,
                               "skipped": 3}
    assert (first.errors, first.touched) == (["e1", "e2"], {1, 2, 3})
