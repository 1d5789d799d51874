"""Verdicts a family sees: likely_excluded with the deciding criterion quoted, may_fit only when
every criterion about the patient was read and passed, unclear with questions in English and
Chinese. Bad input never crashes. The dev set holds the product guarantee: no false exclusion."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assess.eligibility import Eligibility, screen
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


def test_json_round_trip_and_contract_keys():
    result = screen({"eligibility_criteria": FIRST_LINE}, profile("bundled profile"), today=TODAY)
    data = json.loads(json.dumps(result.to_json()))
    assert {"verdict", "reasons", "questions"} <= set(data)
    assert all({"concept", "effect", "quote"} <= set(r) for r in data["reasons"])
    assert Eligibility.from_json(data) == result


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
