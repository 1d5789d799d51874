"""Fuzz (hypothesis): valid JSON of any shape fed to the ClinicalTrials.gov, Europe PMC and
esearch parsers gives well-typed records or the project's own error (SourceError, whose
ParseError says the answer could not be read), never a TypeError, RecursionError or a Record
whose title is a number. Shapes are random JSON, and real recordings with random parts
replaced by random JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import fixture_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import clinicaltrials, europepmc
from sources.http import ParseError, SourceError
from sources.pubmed_parse import parse_search
from sources.records import ParsedPage, Record

CTGOV = json.loads(fixture_bytes("ctgov/biomcp_search_keytruda_limit3_20260811.json"))
EUROPEPMC = json.loads(fixture_bytes("europepmc/constructed_core_twin_and_preprint.json"))
ESEARCH = {"header": {"type": "esearch", "version": "0.3"},
           "esearchresult": {"count": "2", "retmax": "2", "retstart": "0", "querykey": "1",
                             "webenv": "MCID_1", "idlist": ["39000001", "39000002"]}}
# Real key names, so random shapes reach deep into the parsers.
KEYS = sorted({"studies", "nextPageToken", "totalCount", "protocolSection", "identificationModule",
               "nctId", "briefTitle", "officialTitle", "statusModule", "overallStatus",
               "resultList", "result", "nextCursorMark", "hitCount", "title", "pmid", "doi",
               "source", "id", "esearchresult", "count", "idlist", "webenv", "error", "ERROR",
               "locations", "facility", "conditions", "abstractText", "pubTypeList", "pubType"})
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["NCT01234567", "<b>", "*", ""]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=5),
                    max_leaves=25)

PARSERS = {
    "ctgov": (clinicaltrials.parse_page, CTGOV),
    "europepmc": (europepmc.parse_page, EUROPEPMC),
    "esearch": (parse_search, ESEARCH),
}


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document (dict keys and list positions)."""
    found = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[path[0]] = replaced(copy[path[0]], path[1:], value)
    return copy


def check(name: str, body: bytes) -> None:
    """The contract: well-typed output, or SourceError (ParseError) and nothing else."""
    parse = PARSERS[name][0]
    try:
        result = parse(body)
    except SourceError as error:
        assert str(error)
        return
    if name == "esearch":
        assert isinstance(result.count, int) and result.count >= 0
        assert all(isinstance(v, str | None) for v in (result.webenv, result.query_key))
        assert all(isinstance(i, str) for i in result.ids)
        assert all(isinstance(w, str) for w in result.warnings)
        return
    assert isinstance(result, ParsedPage)
    assert result.next is None or isinstance(result.next, str)
    assert result.total is None or isinstance(result.total, int)
    assert all(isinstance(s, str) for s in result.skipped)
    for record in result.records:
        well_typed(record)


def well_typed(record: Record) -> None:
    assert isinstance(record.title, str) and record.title
    assert isinstance(record.summary, str)
    for value in (record.url, record.status, record.published, record.updated, record.evidence):
        assert value is None or isinstance(value, str)
    assert all(isinstance(v, str) for v in (*record.ids.values(), *record.phases, *record.mentions))
    for location in record.locations:
        assert all(v is None or isinstance(v, str) for v in
                   (location.facility, location.city, location.state, location.country, location.status))
    json.dumps(record.details)  # storable


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_recordings_with_random_parts_replaced(name, data):
    document = PARSERS[name][1]
    places = paths(document)
    for _ in range(data.draw(st.integers(1, 3))):
        document = replaced(document, data.draw(st.sampled_from(places)), data.draw(JSON))
        places = paths(document)
    check(name, json.dumps(document).encode())


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=300, deadline=None)
@given(document=JSON)
def test_random_json(name, document):
    check(name, json.dumps(document).encode())


@pytest.mark.parametrize("name", PARSERS)
@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # RecursionError inside json.loads
    b'{"studies": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"studies": [{"protocolSection": {"identificationModule": {"nctId": "NCT01234567", "briefTitle": 12345}}}], "nextPageToken": {"a": 1}}',
    b'{"studies": [], "nextPageToken": ["t1"]}',
    b'{"resultList": [], "nextCursorMark": ["x"]}',
    b'{"resultList": {"result": [{"id": "1", "source": "MED", "pmid": "1", "title": "t"}]}, "nextCursorMark": ["x"]}',
    b'{"esearchresult": {"count": "lots"}}', b'{"esearchresult": "nope"}', b"[]", b'"text"',
])
def test_shapes_seen_in_the_wild(name, body):
    check(name, body)


def test_a_number_for_a_title_falls_back_to_a_real_title():
    body = json.dumps({"studies": [{"protocolSection": {"identificationModule": {
        "nctId": "NCT01234567", "briefTitle": 12345, "officialTitle": "A real title"}}}]})
    assert clinicaltrials.parse_page(body.encode()).records[0].title == "A real title"


def test_a_cursor_that_is_not_a_string_is_a_parse_error():
    with pytest.raises(ParseError, match="nextCursorMark"):
        europepmc.parse_page(b'{"resultList": {"result": []}, "nextCursorMark": ["x"]}')
