"""Properties (hypothesis): a watchlist term written anywhere in any text, in any case or
width, is found, and one glued inside a longer word is not; and ingesting the same records in
any order, any number of times, ends in the same database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import CTGOV_RECORDINGS, fixture_bytes
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sources.clinicaltrials import parse_page
from sources.matching import matched_terms
from sources.records import Record, normalize_id
from store.db import open_engine, session_scope
from store.ingest import ingest_batch
from store.models import SourceState

LATIN_TERMS = st.from_regex(r"[A-Za-z][A-Za-z0-9]{2,11}", fullmatch=True)
CJK_TERMS = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=2,
                    max_size=8)
BOUNDARY = st.sampled_from([" ", ", ", ". ", "(", ")", "; ", "\n", " - ", "/", "“", "”", "："])
FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


def full_width(term: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)


@given(LATIN_TERMS, FILLER, BOUNDARY, BOUNDARY, FILLER,
       st.sampled_from([str, str.upper, str.lower, str.title, full_width]))
def test_a_latin_term_between_word_boundaries_is_found(term, before, left, right, after, variant):
    text_ = before + left + variant(term) + right + after
    assert matched_terms(text_, [term]) == [term]


@given(LATIN_TERMS, st.from_regex(r"[a-z]{1,5}", fullmatch=True),
       st.from_regex(r"[a-z]{1,5}", fullmatch=True))
def test_a_latin_term_inside_a_longer_word_is_not_found(term, glued_before, glued_after):
    assert matched_terms(glued_before + term + glued_after, [term]) == []


@given(CJK_TERMS, FILLER, FILLER)
def test_a_chinese_term_is_found_anywhere(term, before, after):
    assert matched_terms(before + term + after, [term]) == [term]


@given(st.sampled_from(["10.1056/NEJMoa1915745", "10.1016/S0140-6736(18)30207-1"]),
       st.sampled_from(["", "doi:", "https://doi.org/", "http://dx.doi.org/"]),
       st.sampled_from([str, str.upper, str.lower]))
def test_a_doi_in_any_spelling_names_the_same_finding(doi, prefix, variant):
    assert normalize_id("doi", prefix + variant(doi)) == normalize_id("doi", doi)


# ------------------------------------------------------------------ upsert idempotence

def records() -> list[Record]:
    """Real trials, and an article naming one of them (so that, depending on the order, the
    article links to a placeholder that the trial later fills in, or to the stored trial)."""
    found: dict[str, Record] = {}
    for path in CTGOV_RECORDINGS:
        for record in parse_page(fixture_bytes(path)).records:
            found[record.key] = record
    trials = list(found.values())[:6]
    nct = trials[0].ids["nct"]
    article = Record(source="pubmed", kind="article", ids={"pmid": "38000001", "doi": "10.1/x"},
                     title="A trial report", summary=f"Results of {nct}.", mentions=[nct],
                     topics={"melanoma": ["melanoma"]})
    return trials + [article]


RECORDS = records()
SEEN_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TABLES = ("finding", "identifier", "findingsource", "topicmatch", "link", "change", "sourcestate")


def canonical_dump(engine, tables: tuple[str, ...] = TABLES) -> str:
    """Every table's rows with database ids replaced by finding keys, sorted."""
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT id, key FROM finding")).all())
        dump = {}
        for table in tables:
            rows = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
            for row in rows:
                row.pop("id", None)
                for column in ("finding_id", "src_id", "dst_id"):
                    if column in row:
                        row[column] = keys[row[column]]
            dump[table] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return json.dumps(dump, indent=1)


def polled_before(engine) -> None:
    """Every (source, query) has had its baseline: otherwise which batch is one (and so which
    findings are marked `baseline`) depends on the order, by definition."""
    with session_scope(engine) as session:
        for source in {r.source for r in RECORDS}:
            session.add(SourceState(source=source, query="q", last_success_at=SEEN_AT))


def ingest(order: list[int]) -> str:
    engine = open_engine("sqlite://")
    try:
        polled_before(engine)
        for index in order:
            record = RECORDS[index]
            with session_scope(engine) as session:
                ingest_batch(session, [record], source=record.source, query="q",
                             seen_at=SEEN_AT, cursor="2026-11-23")
        return canonical_dump(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def reference() -> str:
    return ingest(list(range(len(RECORDS))))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(range(len(RECORDS))), st.lists(st.integers(0, len(RECORDS) - 1),
                                                      max_size=8))
def test_same_records_in_any_order_and_repetition_end_in_the_same_database(reference, order,
                                                                           repeats):
    assert ingest(list(order) + repeats) == reference


def ingest_in_one_batch(order: list[int]) -> str:
    """The records in one batch per source (as a poll stores them), cursors left out."""
    engine = open_engine("sqlite://")
    try:
        records = [RECORDS[index] for index in order]
        polled_before(engine)
        with session_scope(engine) as session:
            for source in dict.fromkeys(record.source for record in records):
                ingest_batch(session, [r for r in records if r.source == source], source=source,
                             query="q", seen_at=SEEN_AT, cursor="2026-11-23")
        return canonical_dump(engine, TABLES[:-1])
    finally:
        engine.dispose()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(range(len(RECORDS))), st.lists(st.integers(0, len(RECORDS) - 1),
                                                      max_size=8), st.randoms())
def test_one_batch_in_any_order_with_repeats_ends_as_record_by_record(reference, order, repeats,
                                                                       rng):
    mixed = list(order) + repeats
    rng.shuffle(mixed)
    expected = json.loads(reference)
    expected.pop("sourcestate")
    assert json.loads(ingest_in_one_batch(mixed)) == expected


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,6}){1,2}", fullmatch=True)
SEGMENTS = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,10}", fullmatch=True), max_size=4)
PARAMS = st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(
    lambda k: not k.startswith("utm") and k not in {"fbclid", "gclid"}),
    st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True)), max_size=4, unique_by=lambda kv: kv[0])
TRACKERS = st.lists(st.sampled_from(["utm_source=rss", "utm_medium=feed", "utm_campaign=x",
                                     "fbclid=abc123", "gclid=zz"]), max_size=3)


def _url(scheme: str, host: str, segments: list[str], params: list[tuple[str, str]],
         extra: list[str] = (), slash: bool = False) -> str:
    query = "&".join([f"{k}={v}" for k, v in params] + list(extra))
    path = "/" + "/".join(segments) + ("/" if slash and segments else "")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


@given(st.sampled_from(["http", "https"]), HOSTS, SEGMENTS, PARAMS, TRACKERS, st.booleans(),
       st.randoms(use_true_random=False))
def test_url_normalization_ignores_what_does_not_name_a_different_page(
        scheme, host, segments, params, trackers, slash, rnd):
    from sources.feeds import normalize_url

    plain = _url(scheme, host, segments, params)
    shuffled = list(params) + []
    rnd.shuffle(shuffled)
    noisy = _url(scheme.upper(), host.upper(), segments, shuffled, trackers, slash) + "#section"
    assert normalize_url(noisy) == normalize_url(plain)
    assert normalize_url(normalize_url(plain)) == normalize_url(plain)  # idempotent
    for tracker in ("utm_", "fbclid", "gclid", "#"):
        assert tracker not in normalize_url(noisy)


@given(HOSTS, SEGMENTS, PARAMS)
def test_url_normalization_keeps_what_names_a_different_page(host, segments, params):
    from sources.feeds import normalize_url

    url = _url("https", host, segments, params)
    assert normalize_url(url + ("&" if params else "?") + "id=other") != normalize_url(url)
    assert normalize_url(_url("https", host, segments + ["x"], params)) != normalize_url(url)


@settings(deadline=None)  # the first example imports sources.feeds
@given(st.text(max_size=60))
@example("http://a:99999/")
@example("http://[::1")
@example("https://host:port/")
def test_url_normalization_of_junk_never_crashes_and_is_stable(junk):
    from sources.feeds import normalize_url

    normalized = normalize_url(junk)
    assert normalized == normalize_url(f"  {junk}\n")  # surrounding blanks never make a new key
    if normalized.startswith(("http://", "https://")):
        assert normalize_url(normalized) == normalized  # one page, one key, however often seen
