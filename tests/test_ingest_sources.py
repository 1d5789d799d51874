"""What the store keeps when several sources, links and topics meet one finding, read back
from a real SQLite file: the links a paper makes to the trials it names (and the placeholders
standing in for those not fetched yet), the topic matches, the key a finding is known by, and
the counts a poll reports."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select
from test_ingest import T0, _study, keytruda, store

from sources.clinicaltrials import parse_study
from sources.records import Record
from store.db import session_scope
from store.ingest import BatchResult, ingest_batch
from store.models import (
    Change,
    Digest,
    DigestEntry,
    Finding,
    FindingSource,
    Identifier,
    Link,
    SourceState,
    TopicMatch,
)

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
    arrived = Record(source="europepmc", kind="preprint", ids={"doi": "10.1/preprint"}, title="The preprint")
    assert store(engine, [arrived], at=LATER).new == 1  # the placeholder filled, not a second finding
    assert not findings(engine)["doi:10.1/preprint"].placeholder and len(findings(engine)) == 4


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
    store(engine, [article(topics={"tace": ["chemoembolization", "TACE"], "hcc": ["query: hcc"],
                                   "sintilimab": ["Tyvyt", "IBI308"]})], at=LATER)
    assert topics(engine) == {("pmid:38000001", "tace"): (["TACE", "chemoembolization"], "match"),
                              ("pmid:38000001", "hcc"): (["query: hcc"], "query"),
                              ("pmid:38000001", "sintilimab"): (["Tyvyt", "IBI308"], "match")}


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
    first = BatchResult(fetched=3, new=2, updated=1, unchanged=1, changes=4, skipped=["a"],
                        errors=["e1"], touched={1, 2})
    second = BatchResult(fetched=5, new=1, updated=2, unchanged=3, changes=1, skipped=["b", "c"],
                         errors=["e2"], touched={2, 3})
    first.add(second)
    assert first.as_dict() == {"fetched": 8, "new": 3, "updated": 3, "unchanged": 4, "changes": 5,
                               "skipped": 3}
    assert (first.errors, first.touched) == (["e1", "e2"], {1, 2, 3})


def test_the_same_trial_found_again_by_another_topic_is_unchanged_and_tagged(engine):
    first, again = keytruda(), keytruda()
    for record in again:
        record.topics = {"melanoma": ["melanoma"]}
    store(engine, first)
    result = store(engine, again, query="melanoma", at=LATER)
    assert (result.new, result.updated, result.unchanged, result.changes) == (0, 0, 3, 0)
    tagged = topics(engine)
    for record in first:
        assert {topic for key, topic in tagged if key == record.key} == {*record.topics, "melanoma"}
        assert tagged[(record.key, "melanoma")] == (["melanoma"], "match")


def test_details_in_another_order_are_the_same_content(engine):
    store(engine, [article(details={"journal": "Lancet", "volume": "12"})])
    result = store(engine, [article(details={"volume": "12", "journal": "Lancet"})], at=LATER)
    assert (result.updated, result.unchanged) == (0, 1)


def test_a_page_listing_a_trial_twice_stores_it_once(engine):
    trial = parse_study(_study())
    result = store(engine, [trial, parse_study(_study())])
    assert (result.fetched, result.new, result.unchanged) == (2, 1, 1)
    assert list(findings(engine)) == ["NCT09990001"]


def test_a_trial_and_a_paper_naming_it_in_one_batch_are_linked_without_a_placeholder(engine):
    paper = article(mentions=["NCT09990001"])
    paper.source = "ctgov"  # one batch is one source
    result = store(engine, [paper, parse_study(_study())])
    assert (result.fetched, result.new) == (2, 2)
    stored = findings(engine)
    assert set(stored) == {"pmid:38000001", "NCT09990001"}
    assert not stored["NCT09990001"].placeholder and stored["NCT09990001"].title == "HCC sample"
    assert links(engine) == {("pmid:38000001", "NCT09990001", "mentions")}


def test_what_the_first_poll_of_a_query_finds_is_its_baseline(engine):
    """The first poll of a (source, query) finds what was already known when watching began
    (both the bulk path and a placeholder filled by it); a later poll's finds are new."""
    store(engine, [article("38000001", mentions=["NCT09990001"])], query="first")
    store(engine, [parse_study(_study()), *keytruda()], query="trials")  # the placeholder filled
    store(engine, [article("38000003")], query="first", at=LATER)  # after its baseline
    baseline = {key: f.baseline for key, f in findings(engine).items()}
    assert baseline == {"pmid:38000001": True, "NCT09990001": True, "pmid:38000003": False,
                        **{record.key: True for record in keytruda()}}


def test_a_partly_failed_batch_stores_what_arrived_and_keeps_the_cursor(engine):
    store(engine, [article("38000001")], query="q", cursor="2026-11-01")
    with session_scope(engine) as session:
        result = ingest_batch(session, [article("38000002")], source="pubmed", query="q",
                              seen_at=LATER, cursor="2026-11-16", error="HTTP 500 on page 2")
    assert (result.fetched, result.new) == (1, 1)
    with session_scope(engine, write=False) as session:
        state = session.get(SourceState, ("pubmed", "q"))
    assert (state.cursor, state.consecutive_failures, state.last_count) == ("2026-11-01", 1, 1)
    assert "HTTP 500 on page 2" in state.last_error
    assert set(findings(engine)) == {"pmid:38000001", "pmid:38000002"}


def test_new_findings_are_searchable_and_remember_when_they_were_first_seen(engine):
    store(engine, [article(summary="Sintilimab and bevacizumab biosimilar in unresectable HCC")])
    with session_scope(engine, write=False) as session:
        hits = session.execute(text(
            "SELECT finding.key FROM finding_words JOIN finding ON finding.id = finding_words.rowid "
            "WHERE finding_words MATCH :q"), {"q": '"biosimilar"'}).all()
        row = session.exec(select(FindingSource)).one()
    assert [hit[0] for hit in hits] == ["pmid:38000001"]
    stored = findings(engine)["pmid:38000001"]
    assert (stored.first_seen_at.date(), stored.last_seen_at.date()) == (T0.date(), T0.date())
    assert (row.source, row.first_seen_at.date()) == ("pubmed", T0.date())


def test_empty_fields_of_a_newer_record_never_erase_what_is_stored(engine):
    store(engine, [article(url="https://pubmed.ncbi.nlm.nih.gov/38000001/", evidence="review",
                           summary="Background.", lang="en", published="2026-11-01",
                           details={"journal": "Lancet"})])
    result = store(engine, [article(title="", details={"cited_by": 3})], at=LATER)
    assert result.updated == 1
    kept = findings(engine)["pmid:38000001"]
    assert (kept.title, kept.url, kept.evidence, kept.summary, kept.lang, kept.published) == (
        "Sintilimab in HCC", "https://pubmed.ncbi.nlm.nih.gov/38000001/", "review", "Background.",
        "en", "2026-11-01")
    assert kept.details == {"journal": "Lancet", "cited_by": 3}
    assert kept.last_seen_at.date() == LATER.date() and kept.first_seen_at.date() == T0.date()
    again = store(engine, [article(title="", details={"cited_by": 3})], at=LATER + timedelta(days=1))
    assert (again.updated, again.unchanged) == (0, 1)


def test_a_news_feed_ranks_below_the_literature_sources(engine):
    """A paper first seen in a news feed takes PubMed's values once PubMed reports it; a feed
    reporting it after PubMed only fills gaps."""
    def feed(title):
        return Record(source="feed:medscape", kind="news", ids={"doi": "10.1/z"}, title=title,
                      summary="As reported by the feed.")

    def pubmed(title):
        return Record(source="pubmed", kind="article", ids={"doi": "10.1/z", "pmid": "38000005"},
                      title=title, evidence="Phase 3 RCT")

    store(engine, [feed("Feed headline")])
    store(engine, [pubmed("PubMed title")], at=LATER)
    store(engine, [feed("Feed headline, updated")], at=LATER + timedelta(days=1))
    kept = findings(engine)["pmid:38000005"]
    assert (kept.kind, kept.title, kept.evidence, kept.summary) == (
        "article", "PubMed title", "Phase 3 RCT", "As reported by the feed.")


def test_an_identifier_an_update_adds_names_the_finding_from_then_on(engine):
    """PubMed later names a paper's DOI while another paper's DOI is already stored: the new
    DOI is recorded, so a record naming only it is the same paper."""
    store(engine, [article("38000001"), Record(source="pubmed", kind="article",
                                              ids={"pmid": "38000002", "doi": "10.1/other"},
                                              title="Another paper")])
    store(engine, [Record(source="pubmed", kind="article", ids={"pmid": "38000001", "doi": "10.1/first"},
                          title="Sintilimab in HCC")], at=LATER)
    result = store(engine, [Record(source="pubmed", kind="article", ids={"doi": "10.1/first"},
                                   title="Sintilimab in HCC")], at=LATER + timedelta(days=1))
    assert result.new == 0
    assert set(findings(engine)) == {"pmid:38000001", "pmid:38000002"}


def test_links_are_kept_per_paper_per_trial_and_per_relation(engine):
    """Two papers naming one trial, one paper naming two trials, and a paper both naming a
    trial and reporting its results: every link is kept; a trial naming itself is not."""
    first = article("38000001", mentions=["NCT09990001", "NCT09990002"], details={"related": [
        {"scheme": "nct", "value": "NCT09990001", "relation": "results_of"}]})
    second = article("38000002", mentions=["NCT09990001"])
    trial = parse_study(_study())
    trial.mentions = ["NCT09990001", "NCT09990002"]
    for record in (first, second, trial):
        store(engine, [record])
    assert links(engine) == {
        ("pmid:38000001", "NCT09990001", "mentions"), ("pmid:38000001", "NCT09990002", "mentions"),
        ("pmid:38000001", "NCT09990001", "results_of"), ("pmid:38000002", "NCT09990001", "mentions"),
        ("NCT09990001", "NCT09990002", "mentions")}


def test_a_lower_ranked_source_fills_missing_evidence_but_never_replaces_it(engine):
    store(engine, [article("38000001"), article("38000002", evidence="review")])
    store(engine, [Record(source="europepmc", kind="article", ids={"pmid": pmid}, title="Sintilimab in HCC",
                          evidence="preprint") for pmid in ("38000001", "38000002")], at=LATER)
    stored = findings(engine)
    assert (stored["pmid:38000001"].evidence, stored["pmid:38000002"].evidence) == ("preprint", "review")


def test_a_second_source_on_a_stored_paper_is_unchanged_when_it_repeats_itself(engine):
    store(engine, [article()])
    again = Record(source="europepmc", kind="article", ids={"pmid": "38000001"}, title="Sintilimab in HCC",
                   summary="Europe PMC's abstract")
    assert store(engine, [again], at=LATER).updated == 1
    result = store(engine, [again], at=LATER + timedelta(days=1))
    assert (result.updated, result.unchanged) == (0, 1)


def test_a_trial_without_phases_keeps_its_sites_and_watched_places(engine):
    record = parse_study(_study(sites=[{"facility": "Zhongshan Hospital", "city": "Shanghai",
                                        "country": "China", "status": "RECRUITING"}], phases=()))
    record.watched_sites = [{"place": "Shanghai", "site_key": record.locations[0].site_key()}]
    store(engine, [record])
    stored = findings(engine)["NCT09990001"]
    assert [site["facility"] for site in stored.locations] == ["Zhongshan Hospital"]
    assert stored.watched_sites == record.watched_sites and stored.phases == []


def test_a_finding_keeps_its_key_when_named_by_another_identifier_of_the_same_kind(engine):
    store(engine, [Record(source="feed:a", kind="news", ids={"doi": "10.1/first", "url": "https://a.example/x"},
                          title="Readout")])
    store(engine, [Record(source="feed:a", kind="news", ids={"doi": "10.1/second", "url": "https://a.example/x"},
                          title="Readout")], at=LATER)
    assert set(findings(engine)) == {"doi:10.1/first"}


def test_a_trial_listed_before_the_paper_naming_it_in_a_first_poll_is_baseline(engine):
    paper = article(mentions=["NCT09990001"])
    paper.source = "ctgov"
    store(engine, [parse_study(_study()), paper], query="first")
    assert {key: f.baseline for key, f in findings(engine).items()} == {
        "NCT09990001": True, "pmid:38000001": True}


def test_a_merge_moves_everything_the_later_half_knew_onto_the_earlier_one(engine):
    """A paper (found first) and its preprint (found later, with its own history) turn out to
    be one: the preprint's identifiers, change, links both ways, topics, source and digest
    entry move to the paper; what both had is kept once; a link between the two is dropped."""
    paper = Record(source="pubmed", kind="article", ids={"pmid": "42"}, title="A paper",
                   topics={"hcc": ["HCC"]}, mentions=["NCT01234567"])
    preprint = Record(source="europepmc", kind="preprint", ids={"doi": "10.1/x", "pmcid": "PMC9"},
                      title="A preprint", topics={"hcc": ["HCC"], "tace": ["TACE"]},
                      mentions=["NCT01234567"],
                      details={"related": [{"scheme": "pmid", "value": "42", "relation": "version_of"}]})
    store(engine, [paper])
    store(engine, [Record(source="europepmc", kind="article", ids={"pmid": "42"}, title="A paper")])
    store(engine, [preprint], at=T0 + timedelta(days=1))
    store(engine, [dataclasses.replace(preprint, title="A preprint, retitled")], at=T0 + timedelta(days=2))
    store(engine, [article("77", details={"related": [{"scheme": "doi", "value": "10.1/x"},
                                                      {"scheme": "pmid", "value": "42"}]}),
                   article("78", mentions=["NCT07654321"])], at=T0 + timedelta(days=2))
    store(engine, [dataclasses.replace(preprint, title="A preprint, retitled", mentions=["NCT01234567", "NCT07654321"],
                                       details={})], at=T0 + timedelta(days=2, hours=1))
    with session_scope(engine) as session:
        ids = {f.key: f.id for f in session.exec(select(Finding))}
        digest = Digest(period="2026-W47", recipient="family@example.org", subject="s", html="h",
                        text="t", message_id="<m@x>", created_at=T0)
        session.add(digest)
        session.flush()
        session.add(DigestEntry(digest_id=digest.id, section="papers", finding_id=ids["doi:10.1/x"]))
    both = Record(source="europepmc", kind="article", ids={"pmid": "42", "doi": "10.1/x"}, title="A paper")
    store(engine, [both], at=T0 + timedelta(days=3))

    kept = ids["pmid:42"]
    assert set(findings(engine)) == {"pmid:42", "NCT01234567", "pmid:77", "pmid:78", "NCT07654321"}
    assert (findings(engine)["pmid:42"].title, findings(engine)["pmid:42"].kind) == ("A paper", "article")
    # the paper came with the query's first poll (baseline), the preprint later (announced):
    # one half was announced, so the merged finding is too
    assert findings(engine)["pmid:42"].baseline is False
    with session_scope(engine, write=False) as session:
        assert {(i.scheme, i.value) for i in session.exec(select(Identifier).where(Identifier.finding_id == kept))} \
            == {("pmid", "42"), ("doi", "10.1/x"), ("pmcid", "PMC9")}
        assert [(c.finding_id, c.field) for c in session.exec(select(Change))] == [(kept, "title")]
        assert sorted(r.source for r in session.exec(select(FindingSource).where(
            FindingSource.finding_id == kept))) == ["europepmc", "pubmed"]
        assert [e.finding_id for e in session.exec(select(DigestEntry))] == [kept]
    assert links(engine) == {("pmid:42", "NCT01234567", "mentions"), ("pmid:77", "pmid:42", "related"),
                             ("pmid:42", "NCT07654321", "mentions"),
                             ("pmid:78", "NCT07654321", "mentions")}
    assert set(topics(engine)) == {("pmid:42", "hcc"), ("pmid:42", "tace")}


def test_a_placeholder_merged_with_the_real_paper_takes_everything_the_paper_says(engine):
    """An article names a DOI (a placeholder waits for it); the paper itself arrives under its
    PMID only; a later record names both: one finding, with the paper's own values."""
    store(engine, [article("38000001", details={"related": [{"scheme": "doi", "value": "10.1/real"}]})],
          query="first")
    real = Record(source="pubmed", kind="preprint", ids={"pmid": "38000002"}, title="The real paper",
                  summary="Its abstract.", url="https://pubmed.ncbi.nlm.nih.gov/38000002/", status="ppublish",
                  evidence="Phase 2", details={"journal": "Hepatology"})
    store(engine, [real], query="second")  # this query's baseline
    store(engine, [dataclasses.replace(real, ids={"pmid": "38000002", "doi": "10.1/real"})], query="second",
          at=LATER)
    merged = findings(engine)["pmid:38000002"]
    assert set(findings(engine)) == {"pmid:38000001", "pmid:38000002"}
    assert (merged.kind, merged.title, merged.summary, merged.url, merged.status, merged.evidence,
            merged.details, merged.baseline, merged.placeholder) == (
        "preprint", "The real paper", "Its abstract.", "https://pubmed.ncbi.nlm.nih.gov/38000002/",
        "ppublish", "Phase 2", {"journal": "Hepatology"}, True, False)
    assert links(engine) == {("pmid:38000001", "pmid:38000002", "related")}


def test_a_mixed_batch_counts_every_new_finding_and_every_change(engine):
    """New, updated, new again in one batch: the poll summary counts both new findings and
    the changes of both updated trials."""
    one, two = (parse_study(_study()), dataclasses.replace(parse_study(_study()), ids={"nct": "NCT09990002"}))
    store(engine, [one, two])
    batch = [article("38000001"), dataclasses.replace(one, status="COMPLETED"), article("38000002"),
             dataclasses.replace(two, status="TERMINATED"), article("38000003")]
    for record in batch:
        record.source = "ctgov"
    result = store(engine, batch, at=LATER)
    assert (result.fetched, result.new, result.updated, result.changes) == (5, 3, 2, 2)


def test_a_new_paper_is_stored_with_empty_lists_not_nothing(engine):
    store(engine, [article()])
    stored = findings(engine)["pmid:38000001"]
    assert (stored.phases, stored.locations, stored.watched_sites, stored.why, stored.details) == (
        [], [], [], [], {})


def test_an_identifier_written_two_updates_earlier_in_a_batch_is_still_known(engine):
    """An update adds a PMCID, another update touches a different paper, then a record names
    only that PMCID: it is the first paper, not a new one."""
    def paper(**ids):
        return Record(source="pubmed", kind="article", ids=ids, title="Sintilimab plus IBI305 in HCC")

    store(engine, [paper(pmid="38000002"), paper(pmid="38000003")])
    batch = [paper(pmid="38000002", pmcid="PMC7000002"), paper(pmid="38000003", doi="10.1/three"),
             paper(pmcid="PMC7000002")]
    result = store(engine, batch, at=LATER)
    assert (result.new, result.fetched) == (0, 3)
    assert set(findings(engine)) == {"pmid:38000002", "pmid:38000003"}


def test_a_merge_keeps_two_links_to_one_trial_with_different_relations(engine):
    store(engine, [article("42", mentions=["NCT01234567"])])
    store(engine, [Record(source="europepmc", kind="preprint", ids={"doi": "10.1/x"}, title="A preprint",
                          details={"related": [{"scheme": "nct", "value": "NCT01234567",
                                                "relation": "results_of"}]})])
    store(engine, [Record(source="europepmc", kind="article", ids={"pmid": "42", "doi": "10.1/x"},
                          title="Sintilimab in HCC")], at=LATER)
    assert links(engine) == {("pmid:42", "NCT01234567", "mentions"), ("pmid:42", "NCT01234567", "results_of")}
