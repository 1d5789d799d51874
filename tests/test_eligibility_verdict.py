"""Verdicts a family sees: likely_excluded with the deciding criterion quoted, may_fit only when
every criterion about the patient was read and passed, unclear with questions in English and
Chinese. Bad input never crashes. The dev set holds the product guarantee: no false exclusion."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assess.eligibility import Eligibility, Reason, screen
from assess.profile import patient_from_table
from bench.eligibility import PROFILES, TODAY, cases, evaluate, profile

KNOWN = patient_from_table({
    "birth_year": 1960, "sex": "male", "diagnosis": "hcc", "bclc": "B", "child_pugh": "A6",
    "ecog": 1, "hbv": "treated", "hcv": "none", "vascular_invasion": False, "extrahepatic": False,
    "measurable_disease": True, "prior_treatments": [{"kind": "tace", "date": "2021-08"}],
    "progressed_after": ["tace"], "no_prior": ["systemic", "tare", "haic", "ablation",
                                               "radiotherapy", "resection", "transplant"]})
FIRST_LINE = """Inclusion Criteria:

* Age 18-75 years
* Histological or clinical diagnosis of HCC.
* BCLC stage B or C
* Child-Pugh A-B7.
* ECOG PS 0-1.
* No prior systemic therapy for HCC (including immunotherapy).
* At least one measurable lesion per mRECIST.

Exclusion Criteria:

* Prior TACE within 4 weeks before the first dose
* Presence of extra-hepatic tumor spread
"""


def test_may_fit_when_every_criterion_about_the_patient_is_read_and_passed():
    result = screen({"eligibility_criteria": FIRST_LINE}, KNOWN, today=date(2026, 11, 27))
    assert result.verdict == "may_fit"
    assert result.questions == () and result.deciding is None
    en, zh = result.summary()
    assert en.startswith("may fit: ") and zh.startswith("可能符合：")


def test_an_unknown_field_asks_and_never_excludes():
    unknown = patient_from_table({"diagnosis": "hcc"})
    result = screen({"eligibility_criteria": FIRST_LINE}, unknown, today=date(2026, 11, 27))
    assert result.verdict == "unclear"
    assert "What is the ECOG performance status (0-4)?" in result.questions
    assert "ECOG体能状态评分是多少（0-4）？" in result.questions_zh
    assert len(result.questions) == len(result.questions_zh)
    assert not [r for r in result.reasons if r.effect == "excludes"]


def test_likely_excluded_quotes_the_deciding_criterion():
    text = FIRST_LINE.replace("* Prior TACE within 4 weeks before the first dose", "* Prior TACE")
    result = screen({"eligibility_criteria": text}, KNOWN, today=date(2026, 11, 27))
    assert result.verdict == "likely_excluded"
    assert (result.deciding.concept, result.deciding.quote, result.deciding.section) == \
        ("prior_locoregional", "Prior TACE", "exclusion")
    assert result.summary() == ("likely not: no prior TACE", "可能不符合：未接受过TACE")


UNREAD_CHILD_PUGH = "Inclusion Criteria:\n* Child-Pugh score of = 7\n* Confirmed HCC\n* ECOG 0-1"
EXCLUDED_BY_TACE = FIRST_LINE.replace("* Prior TACE within 4 weeks before the first dose", "* Prior TACE")


@pytest.mark.parametrize(("text", "who"), [
    (FIRST_LINE, "bundled profile"), (FIRST_LINE, "known"), (EXCLUDED_BY_TACE, "known"),
    ("Inclusion Criteria:\n* Signed informed consent", "known"), (UNREAD_CHILD_PUGH, "known")])
def test_json_round_trip_and_contract_keys(text, who):
    """What the pipeline stores is what the pages and the digest read back: verdict, deciding
    criterion, note and the count of criteria left unread."""
    patient = KNOWN if who == "known" else profile(who)
    result = screen({"eligibility_criteria": text}, patient, today=TODAY)
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) == {"verdict", "reasons", "questions", "questions_zh", "deciding",
                         "inclusion", "exclusion", "note", "unread"}
    assert all({"concept", "effect", "quote"} <= set(r) for r in data["reasons"])
    assert Eligibility.from_json(data) == result
    assert Eligibility.from_json(data).summary() == result.summary()


def test_a_stored_verdict_without_the_optional_fields_reads_back_empty_not_invented():
    stored = {"verdict": "unclear", "reasons": [{"concept": "ecog", "effect": "ask"},
                                                {"concept": "ascites", "effect": "unread"}]}
    result = Eligibility.from_json(stored)
    assert result.reasons[0] == Reason("ecog", "ask", "", "", "", None, None)
    assert (result.deciding, result.note, result.unread) == (None, None, 0)
    # a concept a newer rule set added is shown by its own name
    assert result.summary() == ("unclear: ask about ECOG, ascites (0 questions)",
                                "不确定：需确认ECOG评分、ascites（0个问题）")


def test_cards_show_the_first_three_reasons_a_trial_may_fit():
    result = screen({"eligibility_criteria": FIRST_LINE}, KNOWN, today=TODAY)
    assert len([r for r in result.reasons if r.effect == "fits"]) == 9
    assert result.summary() == ("may fit: age 18-75, HCC, BCLC B/C",
                                "可能符合：年龄18-75岁，肝细胞癌，BCLC B/C期")


def test_an_unclear_card_names_the_first_three_things_to_ask_and_counts_the_questions():
    unknown = screen({"eligibility_criteria": FIRST_LINE}, patient_from_table({"diagnosis": "hcc"}),
                     today=TODAY)
    assert unknown.summary() == ("unclear: ask about age, BCLC stage, Child-Pugh (8 questions)",
                                 "不确定：需确认年龄、BCLC分期、Child-Pugh分级（8个问题）")
    assert unknown.questions[:3] == ("How old is the patient (year of birth)?",
                                     "What is the current BCLC stage (0, A, B, C, D)?",
                                     "What is the current Child-Pugh class and score (e.g. A5, B7)?")
    assert unknown.questions_zh[:3] == ("患者的年龄（出生年份）是多少？", "目前的BCLC分期是哪一期（0、A、B、C、D）？",
                                        "目前的Child-Pugh分级和评分是多少（如A5、B7）？")
    one = screen({"eligibility_criteria": "Inclusion Criteria:\n* ECOG 0-1\n* Confirmed HCC"},
                 patient_from_table({"diagnosis": "hcc"}), today=TODAY)
    assert one.summary() == ("unclear: ask about ECOG (1 question)", "不确定：需确认ECOG评分（1个问题）")


def test_a_criterion_left_unread_is_a_question_for_the_doctor_not_a_verdict():
    result = screen({"eligibility_criteria": UNREAD_CHILD_PUGH}, KNOWN, today=TODAY)
    assert (result.verdict, result.unread) == ("unclear", 1)
    assert result.questions == ("1 criteria about the patient could not be read automatically: ask "
                                "the doctor to check them (marked on the trial page).",)
    assert result.questions_zh == ("有1条与患者相关的标准无法自动判断：请医生核对（见试验页面标注）。",)
    assert result.summary() == ("unclear: ask about Child-Pugh (1 question)",
                                "不确定：需确认Child-Pugh分级（1个问题）")


def test_the_trial_page_gets_both_lists_and_the_registry_fields_read_without_criteria():
    result = screen({"eligibility_criteria": FIRST_LINE}, KNOWN, today=TODAY)
    assert result.inclusion[:2] == ("Age 18-75 years", "Histological or clinical diagnosis of HCC.")
    assert result.exclusion == ("Prior TACE within 4 weeks before the first dose",
                                "Presence of extra-hepatic tumor spread")
    ages_only = screen({"minimum_age": "18 Years", "maximum_age": "75 Years"}, KNOWN, today=TODAY)
    assert (ages_only.verdict, ages_only.note) == ("unclear", ("no criteria published", "未公布入选标准"))
    assert ages_only.reasons == (Reason("age", "fits", "Minimum age: 18 Years; Maximum age: 75 Years",
                                        "age 18-75", "年龄18-75岁"),)


def test_nothing_read_about_the_patient_is_said_plainly():
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n* Signed informed consent"}, KNOWN,
                    today=TODAY)
    assert (result.verdict, result.questions) == ("unclear", ())
    assert result.summary() == ("unclear: nothing about the patient could be read",
                                "不确定：未能读出与患者相关的标准")


def test_marks_list_the_read_concepts_of_one_item():
    result = screen({"eligibility_criteria": FIRST_LINE}, KNOWN, today=date(2026, 11, 27))
    assert [(r.concept, r.effect) for r in result.marks("inclusion", 4)] == [("ecog", "fits")]


@pytest.mark.parametrize("details", [{}, {"eligibility_criteria": None},
                                     {"eligibility_criteria": "   "},
                                     {"eligibility_criteria": 42}])
def test_no_criteria_published(details):
    result = screen(details, KNOWN, today=date(2026, 11, 27))
    assert result.verdict == "unclear"
    assert result.summary() == ("unclear: no criteria published", "不确定：未公布入选标准")


def test_bad_input_never_crashes():
    hostile = [
        "Inclusion Criteria: " + "Child-Pugh A or B7 and ECOG 0-1, no prior TACE within 4 weeks " * 800,
        "x" * 50_000,
        "Inclusion Criteria:\n\n* Age &gt;= 18 &amp;lt; 75 \\< \\> \\[ \\]\n* 入选标准：年龄≥18岁\n* ECOG ≤ 1",
        "\x00\x1b[31m Exclusion Criteria: \u202e TACE \ud7ff",
        "1. 2. 3. (1) (2) i) ii) - * • ① ②",
    ]
    for text in hostile:
        result = screen({"eligibility_criteria": text, "minimum_age": "eighteen",
                         "maximum_age": 75, "sex": None, "conditions": "HCC"}, KNOWN,
                        today=date(2026, 11, 27))
        assert result.verdict in ("likely_excluded", "may_fit", "unclear")


PIECES = st.sampled_from(["Inclusion Criteria:", "Exclusion Criteria:", "\n", "* ", "1. ", "(2) ",
                          "no prior ", "TACE", "within 4 weeks", "Child-Pugh ", "A", "B7", "≤", "=",
                          "ECOG ", "0-1", "BCLC ", "sorafenib", "入选标准：", "排除标准", "、", "未",
                          "乙肝", "HBV DNA < ", "500", "Vp3", " or ", "; ", "&lt;", "\\<"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=40))
def test_any_text_gets_a_verdict_with_reasons_a_person_can_check(pieces):
    result = screen({"eligibility_criteria": "".join(pieces)}, KNOWN, today=date(2026, 11, 27))
    assert result.verdict in ("likely_excluded", "may_fit", "unclear")
    assert len(result.questions) == len(result.questions_zh)
    if result.verdict == "likely_excluded":
        assert result.deciding is not None and result.deciding.quote


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_dev_set_has_no_false_exclusion(name):
    """Wrongly excluding a trial the patient could join is the worst error: none on the dev set."""
    score, _ = evaluate(profile(name))
    assert score.false_exclusions == []


def test_dev_set_exclusions_are_found_with_the_right_concept():
    score, _ = evaluate(profile("dev-set profile"))
    assert score.expected_exclusions == sum(c.expected == "likely_excluded" for c in cases())
    assert score.recall >= 0.8
