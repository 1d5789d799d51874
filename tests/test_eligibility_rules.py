"""Concept rules on real criterion sentences (from tests/fixtures/eligibility and
tests/fixtures/ctgov): polarity, negation, time windows, ranges, items split across lines."""

from __future__ import annotations

import re
from datetime import date

import pytest

from assess.criteria import Criteria
from assess.eligibility import screen
from assess.profile import patient_from_table
from assess.reading import Clause, clauses_of, fast, gate

TODAY = date(2026, 11, 27)
TACE_2021 = [{"kind": "tace", "date": "2021-07"}, {"kind": "tace", "date": "2021-08"}]
PATIENT = {"diagnosis": "hcc", "hbv": "treated", "prior_treatments": TACE_2021,
           "progressed_after": ["tace"], "no_prior": ["systemic"]}


def effects(text: str, concept: str, section: str = "inclusion", **facts) -> list[str]:
    """The effects the concept's readings of one criterion have for the patient."""
    heading = "Inclusion Criteria" if section == "inclusion" else "Exclusion Criteria"
    patient = patient_from_table({**PATIENT, **facts})
    result = screen({"eligibility_criteria": f"{heading}:\n\n* {text}"}, patient, today=TODAY)
    return [r.effect for r in result.reasons if r.concept == concept]


@pytest.mark.parametrize(("text", "facts", "expected"), [
    ("Age 18-70 years (inclusive), male or female.", {"birth_year": 1950}, "excludes"),
    ("Age 18-70 years (inclusive), male or female.", {"birth_year": 1960}, "fits"),
    ("Age 18-70 years (inclusive), male or female.", {"birth_year": 1955}, "ask"),   # 70 or 71
    ("Age 18-70 years (inclusive), male or female.", {}, "ask"),
    ("80 > Age >= 18 years.", {"birth_year": 1950}, "fits"),
    ("18 years old ≤ age ≤ 70 years old, no gender limit;", {"birth_year": 1940}, "excludes"),
    ("年龄18-75岁", {"birth_year": 1945}, "excludes"),
])
def test_age_ranges(text, facts, expected):
    assert effects(text, "age", **facts) == [expected]


def reasons(text: str, concept: str, section: str = "inclusion", **facts) -> list[tuple[str, str, str]]:
    """(effect, why, why_zh) of the concept's readings: what the trial page and the card show."""
    heading = "Inclusion Criteria" if section == "inclusion" else "Exclusion Criteria"
    patient = patient_from_table({**PATIENT, **facts})
    result = screen({"eligibility_criteria": f"{heading}:\n\n* {text}"}, patient, today=TODAY)
    return [(r.effect, r.why, r.why_zh) for r in result.reasons if r.concept == concept]


@pytest.mark.parametrize(("text", "birth_year", "expected"), [
    ("80 > Age >= 18 years.", 1940, ("excludes", "age 18-79", "年龄18-79岁")),     # 85 or 86
    ("Age >= 18 years and <= 75 years", 1940, ("excludes", "age 18-75", "年龄18-75岁")),
    ("Age >= 18 years and <= 75 years", 1960, ("fits", "age 18-75", "年龄18-75岁")),
    ("Age 65-75 years", 1960, ("fits", "age 65-75", "年龄65-75岁")),                # 65 or 66
    ("Age ≥ 18 years", 1960, ("fits", "age 18 or over", "年龄18岁以上")),
    ("Male or female patients aged 18 years", 2012, ("excludes", "age 18 or over", "年龄18岁以上")),
    ("Male or female patients aged 18 years", 1960, ("fits", "age 18 or over", "年龄18岁以上")),
    ("Age 75-18 years", 1960, ("unread", "not read", "未能自动判断")),                # not guessed
    ("Age 18-18 years", 1960, ("unread", "not read", "未能自动判断")),
])
def test_age_limits_and_how_they_are_named(text, birth_year, expected):
    assert reasons(text, "age", birth_year=birth_year) == [expected]


def test_age_in_the_exclusion_list_is_the_other_side_of_the_range():
    assert effects("Age < 18 or >= 80 years.", "age", "exclusion", birth_year=1960) == ["fits"]
    assert effects("age > 75 years old", "age", "exclusion", birth_year=1945) == ["excludes"]


def test_structured_age_limits_are_read():
    patient = patient_from_table({**PATIENT, "birth_year": 1940})
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* Confirmed HCC",
                     "minimum_age": "18 Years", "maximum_age": "75 Years"}, patient, today=TODAY)
    assert result.verdict == "likely_excluded"
    assert (result.deciding.concept, result.deciding.quote) == \
        ("age", "Minimum age: 18 Years; Maximum age: 75 Years")


@pytest.mark.parametrize(("text", "child_pugh", "expected"), [
    ("Child-Pugh ≤7", "B7", "fits"),
    ("Child-Pugh ≤7", "B8", "excludes"),
    ("Child-Pugh A or B7", "B7", "fits"),
    ("Child-Pugh A or B7", "B", "ask"),          # B7 fits, B8 and B9 do not
    ("Child-Pugh class A", "A5", "fits"),
    ("Child-Pugh score class A to B7.", "B9", "excludes"),
    ("Liver function in line with Child-Pugh A grade (score 5-6 points)", "B7", "excludes"),
    ("Grade A or B Child-Pugh score", "B8", "fits"),
    ("Child-Pugh liver function rating AB", "C10", "excludes"),
    ("Child-Pugh score of = 7", "A5", "unread"),   # a mirror lost the "≤": not guessed
    ("Child-Pugh 5-7", "B7", "fits"),
    ("Child-Pugh 5-7", "B8", "excludes"),
    ("Child-Pugh A5-B7", "A6", "fits"),
    ("Child-Pugh A5-B7", "B8", "excludes"),
    ("Child-Pugh AB", "B9", "fits"),
    ("Child-Pugh ≤ B", "B9", "fits"),
    ("Child-Pugh ≤ B", "C10", "excludes"),
    ("Child-Pugh > A", "B7", "fits"),
    ("Child-Pugh > A", "A6", "excludes"),      # a class bound: worse than all of A (was: > A5)
    ("Child-Pugh < B", "A6", "fits"),
    ("Child-Pugh < B", "B7", "excludes"),      # better than all of B (was: < B9)
])
def test_child_pugh(text, child_pugh, expected):
    assert effects(text, "child_pugh", child_pugh=child_pugh) == [expected]


@pytest.mark.parametrize(("text", "section", "child_pugh", "expected"), [
    ("Child-Pugh B8 or worse", "exclusion", "B7", ("fits", "Child-Pugh A or B7", "Child-Pugh A或B7")),
    ("Child-Pugh B8 or worse", "exclusion", "B9", ("excludes", "Child-Pugh A or B7", "Child-Pugh A或B7")),
    ("Child-Pugh 7 points", "inclusion", "B7", ("fits", "Child-Pugh B7", "Child-Pugh B7")),
    ("Child-Pugh评分7分", "inclusion", "B8", ("excludes", "Child-Pugh B7", "Child-Pugh B7")),
])
def test_child_pugh_or_worse_and_points(text, section, child_pugh, expected):
    assert reasons(text, "child_pugh", section, child_pugh=child_pugh) == [expected]


def test_child_pugh_requirement_is_named_by_class_and_score():
    assert reasons("Child-Pugh A or B7", "child_pugh", child_pugh="B7") == [
        ("fits", "Child-Pugh A or B7", "Child-Pugh A或B7")]
    assert reasons("Child-Pugh 5-7", "child_pugh", child_pugh="B8") == [
        ("excludes", "Child-Pugh A or B7", "Child-Pugh A或B7")]
    assert reasons("Child-Pugh AB", "child_pugh", child_pugh="C10") == [
        ("excludes", "Child-Pugh A or B", "Child-Pugh A或B")]


def test_child_pugh_exclusions_and_unknown_score():
    assert effects("Child-Pugh > A", "child_pugh", "exclusion", child_pugh="A6") == ["fits"]
    assert effects("Child-Pugh score >= 8.", "child_pugh", "exclusion", child_pugh="B7") == ["fits"]
    assert effects("Child-Pugh class C liver cirrhosis or evidence of hepatic decompensation",
                   "child_pugh", "exclusion", child_pugh="C11") == ["excludes"]
    assert effects("Child-Pugh ≤7", "child_pugh") == ["ask"]


@pytest.mark.parametrize(("text", "section", "ecog", "expected"), [
    ("Eastern Cooperative Oncology Group (ECOG) performance status of 0, 1 or 2", "inclusion", 2, "fits"),
    ("ECOG PS 0-1.", "inclusion", 2, "excludes"),
    ("ECOG performance status score of 0 before the first medication in the study;", "inclusion", 1, "excludes"),
    ("ECOG Performance Status >= 3.", "exclusion", 2, "fits"),
    ("poor performance status with European Cooperative Oncology Group (ECOG) scale grade III or IV",
     "exclusion", 3, "excludes"),
    ("Performance status ≤ 2", "inclusion", 1, "fits"),
])
def test_ecog(text, section, ecog, expected):
    assert effects(text, "ecog", section, ecog=ecog) == [expected]


@pytest.mark.parametrize(("text", "bclc", "expected"), [
    ("Barcelona Clinic Liver Cancer stage Category B or C that cannot benefit from treatments of established efficacy", "B", "fits"),
    ("Diagnosed to have advanced HCC (BCLC C stage).", "B", "excludes"),
    ("Staging in BCLC Stage A or B, and beyond the Up-to-Seven criteria", "C", "excludes"),
    ("Diagnosed to have advanced HCC (BCLC C stage).", None, "ask"),
])
def test_bclc(text, bclc, expected):
    facts = {"bclc": bclc} if bclc else {}
    assert effects(text, "bclc", **facts) == [expected]


def screened(text: str, section: str = "inclusion", **facts):
    """The whole pre-screen of a trial with this one criterion (verdict, reasons, questions)."""
    heading = "Inclusion Criteria" if section == "inclusion" else "Exclusion Criteria"
    patient = patient_from_table({**PATIENT, **facts})
    return screen({"eligibility_criteria": f"{heading}:\n\n* {text}"}, patient, today=TODAY)


@pytest.mark.parametrize(("text", "section", "facts", "expected"), [
    # bug found by the mutation run: only the number before "points" was read, so an A5 patient
    # was excluded from a trial for "Child-Pugh 5 or 6 points"
    ("Child-Pugh 5 or 6 points", "inclusion", {"child_pugh": "A5"}, ("fits", "Child-Pugh A", "Child-Pugh A")),
    # "score" in front of the list was read as nothing (unread, so asked); a list of three must
    # not lose its last number (a B9 patient excluded from a trial for 7, 8 or 9)
    ("Child-Pugh score 5 or 6", "inclusion", {"child_pugh": "A5"}, ("fits", "Child-Pugh A", "Child-Pugh A")),
    ("Child-Pugh score of 5 or 6", "inclusion", {"child_pugh": "B7"}, ("excludes", "Child-Pugh A", "Child-Pugh A")),
    ("Child-Pugh score of 7, 8 or 9", "inclusion", {"child_pugh": "B9"}, ("fits", "Child-Pugh B", "Child-Pugh B")),
    ("Child-Pugh score of 7, 8, or 9", "inclusion", {"child_pugh": "A6"}, ("excludes", "Child-Pugh B", "Child-Pugh B")),
    ("Child-Pugh 7, 8 or 9 points", "inclusion", {"child_pugh": "B9"}, ("fits", "Child-Pugh B", "Child-Pugh B")),
    ("Child-Pugh评分7、8或9分", "inclusion", {"child_pugh": "B9"}, ("fits", "Child-Pugh B", "Child-Pugh B")),
    ("Child-Pugh score of 7, 8 or 9", "exclusion", {"child_pugh": "A6"}, ("fits", "Child-Pugh A or C", "Child-Pugh A或C")),
    ("Child-Pugh score of 7, 8 or 9", "exclusion", {"child_pugh": "B9"}, ("excludes", "Child-Pugh A or C", "Child-Pugh A或C")),
    ("Child-Pugh score < 7", "inclusion", {"child_pugh": "B7"}, ("excludes", "Child-Pugh A", "Child-Pugh A")),
    ("Child-Pugh 5 or 6 points", "inclusion", {"child_pugh": "B7"}, ("excludes", "Child-Pugh A", "Child-Pugh A")),
    ("Child-Pugh评分5或6分", "inclusion", {"child_pugh": "A5"}, ("fits", "Child-Pugh A", "Child-Pugh A")),
    # a Child-Pugh B trial named by its scores: the range starts at 7
    ("Child-Pugh B (score 7-9)", "inclusion", {"child_pugh": "A6"}, ("excludes", "Child-Pugh B", "Child-Pugh B")),
    # "≥ B" by class letter: from B7, not from B9
    ("Child-Pugh ≥ B", "exclusion", {"child_pugh": "B7"}, ("excludes", "Child-Pugh A", "Child-Pugh A")),
    ("Child-Pugh ≥ B", "exclusion", {"child_pugh": "A6"}, ("fits", "Child-Pugh A", "Child-Pugh A")),
    # the search for values stops at the next concept: "ECOG 0-1" is not Child-Pugh 0-1
    ("Child-Pugh A and ECOG 0-1", "inclusion", {"child_pugh": "B7", "ecog": 0},
     ("excludes", "Child-Pugh A", "Child-Pugh A")),
    # the words before the trigger are read from the last comma on ("ECOG 0-1" is another criterion)
    ("Grade A or B Child-Pugh score", "inclusion", {"child_pugh": "A5"},
     ("fits", "Child-Pugh A or B", "Child-Pugh A或B")),
    ("ECOG 0-1, Grade A or B Child-Pugh score", "inclusion", {"child_pugh": "C10", "ecog": 0},
     ("excludes", "Child-Pugh A or B", "Child-Pugh A或B")),
    # a lost "≤" before a class and score is not guessed
    ("Child-Pugh = B7", "inclusion", {"child_pugh": "B7"}, ("unread", "not read", "未能自动判断")),
])
def test_child_pugh_readings_a_person_can_check(text, section, facts, expected):
    assert reasons(text, "child_pugh", section, **facts) == [expected]


@pytest.mark.parametrize(("text", "section", "facts", "expected"), [
    ("ECOG 1-2", "inclusion", {"ecog": 0}, [("excludes", "ECOG 1-2", "ECOG 1-2")]),    # from 1, not 0
    ("ECOG 1-2", "inclusion", {"ecog": 2}, [("fits", "ECOG 1-2", "ECOG 1-2")]),
    ("Child-Pugh A and ECOG 0-1", "inclusion", {"child_pugh": "A5", "ecog": 2},
     [("excludes", "ECOG 0-1", "ECOG 0-1")]),
    # the Karnofsky scale is not ECOG: "performance status" next to it is not read as ECOG
    ("Karnofsky performance status >= 70", "inclusion", {"ecog": 1}, []),
    ("Karnofsky performance status (KPS) >= 70", "inclusion", {"ecog": 1}, []),
    ("ECOG = 1", "inclusion", {"ecog": 1}, [("unread", "not read", "未能自动判断")]),   # a lost "≤"
])
def test_ecog_readings_a_person_can_check(text, section, facts, expected):
    assert reasons(text, "ecog", section, **facts) == expected


@pytest.mark.parametrize(("text", "section", "birth_year", "expected"), [
    # in the exclusion list the requirement shown is the ages allowed
    ("Age < 18 or >= 80 years.", "exclusion", 1960, [("fits", "age 18-79", "年龄18-79岁")]),
    ("age > 75 years old", "exclusion", 1945, [("excludes", "age 0-75", "年龄0-75岁")]),
    # "child-bearing age" is not the patient's age, and an age named without a number is not read
    ("Women of child-bearing age must have a negative pregnancy test within 7 days", "inclusion", 1960, []),
    ("Patients of legal age", "inclusion", 1960, []),
])
def test_age_readings_a_person_can_check(text, section, birth_year, expected):
    assert reasons(text, "age", section, birth_year=birth_year) == expected


@pytest.mark.parametrize(("minimum", "maximum", "born", "expected"), [
    ("18 Years", None, 2012, "excludes"),                  # a 14-year-old: below the minimum alone
    ("216 Months", None, 1960, "fits"),                    # 18 years
    (None, "900 Months", 1951, "fits"), (None, "3900 Weeks", 1951, "fits"), (None, "27375 Days", 1951, "fits"),
])
def test_structured_age_limits_in_each_unit(minimum, maximum, born, expected):
    """The registry's limits: 900 months, 3,900 weeks and 27,375 days are each 75 years, so a
    patient of 74 or 75 fits; a minimum of 18 years alone still excludes a child."""
    details = {"eligibility_criteria": None, "minimum_age": minimum, "maximum_age": maximum}
    result = screen(details, patient_from_table({**PATIENT, "birth_year": born}), today=TODAY)
    assert [(r.concept, r.effect, r.quote) for r in result.reasons] == [
        ("age", expected, f"Minimum age: {minimum}" if minimum else f"Maximum age: {maximum}")]


@pytest.mark.parametrize(("text", "facts", "expected"), [
    # the stage list stops at the next concept: "Child-Pugh A" is not BCLC A
    ("Advanced HCC, BCLC stage C with Child-Pugh A liver function", {"bclc": "A", "child_pugh": "A5"},
     [("excludes", "BCLC C", "BCLC C期")]),
    ("Advanced HCC, BCLC stage", {"bclc": "C"}, [("unread", "not read", "未能自动判断")]),
])
def test_bclc_readings_a_person_can_check(text, facts, expected):
    assert reasons(text, "bclc", **facts) == expected


def test_a_bclc_sub_stage_is_asked_about():
    result = screened("BCLC stage B2", bclc="B")
    assert [(r.concept, r.effect, r.why, r.why_zh) for r in result.reasons] == [("bclc", "ask", "BCLC B", "BCLC B期")]
    assert (result.questions, result.questions_zh) == (("Which BCLC sub-stage applies?",), ("属于BCLC哪个亚期？",))


@pytest.mark.parametrize(("text", "facts", "expected"), [
    # a stage that fits satisfies the clause: the other alternative's exclusion is dropped
    ("Macrovascular invasion or BCLC stage C", {"vascular_invasion": False, "bclc": "C"},
     ("may_fit", [("bclc", "fits")])),
    # a stage unread or a sub-stage unknown: the other alternative's exclusion becomes a question
    ("Portal vein invasion or advanced BCLC stage", {"vascular_invasion": False, "bclc": "C"},
     ("unclear", [("vascular_invasion", "ask"), ("bclc", "unread")])),
    ("Portal vein invasion or BCLC stage B2", {"vascular_invasion": False, "bclc": "B"},
     ("unclear", [("vascular_invasion", "ask"), ("bclc", "ask")])),
])
def test_a_bclc_stage_is_one_alternative_of_an_or(text, facts, expected):
    result = screened(text, **facts)
    assert (result.verdict, [(r.concept, r.effect) for r in result.reasons]) == expected


def test_prior_systemic_negation_required_and_allowed():
    assert effects("No prior systemic therapy for HCC (including immunotherapy).", "prior_systemic") == ["fits"]
    assert effects("Have not received any systemic treatment for HCC in the past.", "prior_systemic") == ["fits"]
    required = ("Previously progressed on atezolizumab in combination with bevacizumab as first line "
                "systemic therapy for advanced disease")
    assert effects(required, "prior_systemic") == ["excludes"]
    assert effects("Failure to prior treatment with sorafenib (defined as documented radiological\n"
                   "  progression according to the radiology charter).", "prior_systemic") == ["excludes"]
    had = {"no_prior": [], "prior_treatments": TACE_2021 + [
        {"kind": "systemic", "date": "2023-01", "drugs": ["atezolizumab", "bevacizumab"]}],
        "progressed_after": ["tace", "systemic"]}
    assert effects(required, "prior_systemic", **had) == ["fits"]
    assert effects("No prior systemic therapy for HCC (including immunotherapy).", "prior_systemic",
                   **had) == ["excludes"]


def test_prior_systemic_unknown_history_asks():
    assert effects("No prior systemic therapy for HCC", "prior_systemic", no_prior=[]) == ["ask"]


def test_prior_systemic_time_window():
    text = "Received other antitumor systemic treatment within 28 days before enrollment;"
    assert effects(text, "prior_systemic", "exclusion") == ["fits"]
    recent = {"no_prior": [], "prior_treatments": TACE_2021 + [
        {"kind": "systemic", "date": "2026-11-10", "drugs": ["lenvatinib"]}]}
    assert effects(text, "prior_systemic", "exclusion", **recent) == ["excludes"]


def test_prior_tace_excluded():
    assert effects("Prior locoregional therapy (such as TACE、TAE、HAIC、TARE)", "prior_locoregional",
                   "exclusion") == ["excludes"]
    assert effects("Prior TACE, RFA, or liver transplant", "prior_locoregional", "exclusion") == ["excludes"]


def test_prior_tace_excluded_only_within_four_weeks_passes_a_2021_tace():
    text = ("Received local-regional therapy within 4 weeks before the first dose of the study drug, "
            "including but not limited to surgery, radiotherapy, hepatic artery embolism, TACE")
    assert effects(text, "prior_locoregional", "exclusion") in (["fits"], ["ask"])
    assert effects("Prior TACE within 4 weeks", "prior_locoregional", "exclusion") == ["fits"]
    recent = {"prior_treatments": [{"kind": "tace", "date": "2026-11-20"}]}
    assert effects("Prior TACE within 4 weeks", "prior_locoregional", "exclusion", **recent) == ["excludes"]
    assert effects("Prior TACE within four weeks", "prior_locoregional", "exclusion", **recent) == ["excludes"]
    assert effects("Prior TACE within four weeks", "prior_locoregional", "exclusion") == ["fits"]
    month = {"prior_treatments": [{"kind": "tace", "date": "2026-10"}]}   # 1 Oct - 31 Oct
    assert effects("Prior TACE within 4 weeks", "prior_locoregional", "exclusion", **month) == ["ask"]


def test_since_window_in_the_inclusion_list():
    text = "Local therapy must be completed at least 4 weeks prior to the baseline scan"
    assert effects(text, "prior_locoregional") == ["ask"]   # TARE, HAIC, ablation... unknown
    known = ["systemic", "tare", "haic", "ablation", "radiotherapy", "resection"]
    assert effects(text, "prior_locoregional", no_prior=known) == ["fits"]
    recent = [{"kind": "tace", "date": "2026-11-15"}]
    assert effects(text, "prior_locoregional", no_prior=known, prior_treatments=recent) == ["excludes"]


def test_progressed_after_tace_required():
    text = "Patients with HCC who progressed after TACE (TACE refractoriness)"
    assert effects(text, "prior_locoregional") == ["fits"]
    assert effects(text, "prior_locoregional", progressed_after=[]) == ["ask"]


def test_tace_naive_required():
    assert effects("No previous treatment of the tumor", "prior_locoregional") == ["excludes"]
    assert effects("TACE-naive patients", "prior_locoregional") == ["excludes"]


def test_suitability_for_tace_is_a_question():
    assert effects("Patients suitable for TACE therapy assessed by investigators.",
                   "prior_locoregional") == ["ask"]


def test_curative_treatment_required_for_adjuvant_trials():
    text = ("Subjects diagnosed with hepatocellular carcinoma by imaging criteria and/or pathology "
            "and who have received curative resection.")
    assert effects(text, "curative_treatment") == ["ask"]
    assert effects(text, "curative_treatment", no_prior=["systemic", "resection", "ablation"]) == ["excludes"]
    assert effects(text, "curative_treatment", prior_treatments=[{"kind": "resection", "date": "2020-01"}]) == ["fits"]


RECENT_TACE = [{"kind": "tace", "date": "2026-11-10"}]
EVERYTHING_ELSE = ["systemic", "tare", "haic", "ablation", "radiotherapy", "resection", "transplant"]


def test_any_anti_cancer_treatment_within_a_window():
    any_kind = ("no anti-cancer treatment of any kind within 28 days", "28天内未接受任何抗肿瘤治疗")
    assert reasons("Anti-tumour treatment within 4 weeks", "prior_locoregional", "exclusion",
                   prior_treatments=RECENT_TACE) == [("excludes", *any_kind)]
    assert reasons("Anti-tumour treatment within 4 weeks", "prior_locoregional", "exclusion",
                   no_prior=EVERYTHING_ELSE) == [("fits", *any_kind)]
    # next to "chemotherapy", a TACE (chemo-embolisation) may or may not be what is meant: asked
    text = "Chemotherapy or other anti-tumour treatment within 4 weeks"
    patient = patient_from_table({**PATIENT, "prior_treatments": RECENT_TACE})
    result = screen({"eligibility_criteria": f"Exclusion Criteria:\n\n* {text}"}, patient, today=TODAY)
    assert [(r.effect, r.why, r.why_zh) for r in result.reasons] == [("ask", *any_kind)]
    assert result.questions == ("Has the patient had anti-cancer treatment of any kind in the last 28 days?",)
    assert result.questions_zh == ("患者最近28天内是否接受过任何抗肿瘤治疗？",)


@pytest.mark.parametrize(("text", "concept", "why"), [
    ("Prior sorafenib or lenvatinib", "prior_systemic",
     ("no prior sorafenib / lenvatinib", "未接受过sorafenib / lenvatinib")),
    ("Prior TACE or ablation", "prior_locoregional", ("no prior TACE or ablation", "未接受过TACE或消融")),
    ("Prior TACE, TARE or HAIC", "prior_locoregional",
     ("no prior liver-directed therapy (TACE, TARE, HAIC, ablation, radiotherapy)", "未接受过肝脏局部治疗")),
])
def test_treatments_are_named_as_the_family_reads_them(text, concept, why):
    assert [r[1:] for r in reasons(text, concept, "exclusion")] == [why]


@pytest.mark.parametrize(("text", "facts", "expected"), [
    # HAIC, like TACE, may be what "chemotherapy" means: asked, not excluded
    ("Chemotherapy or other anti-tumour treatment within 4 weeks",
     {"prior_treatments": TACE_2021 + [{"kind": "haic", "date": "2026-11-10"}]}, "ask"),
    ("Chemotherapy or other anti-tumour treatment within 4 weeks",
     {"prior_treatments": RECENT_TACE, "no_prior": EVERYTHING_ELSE}, "ask"),
    # "systemic chemotherapy" is not a TACE: the TACE is one of the other anti-tumour treatments
    ("Systemic chemotherapy or other anti-tumour treatment within 4 weeks",
     {"prior_treatments": RECENT_TACE}, "excludes"),
])
def test_a_recent_tace_or_haic_next_to_chemotherapy(text, facts, expected):
    assert effects(text, "prior_locoregional", "exclusion", **facts) == [expected]


def test_how_many_sessions_or_lines():
    tace_and_tare = [{"kind": "tace", "date": "2021-07"}, {"kind": "tare", "date": "2021-09"}]
    assert reasons("Previously received >= 2 sessions of TACE", "prior_locoregional",
                   prior_treatments=tace_and_tare) == [("excludes", ">= 2 prior TACE", "既往TACE>=2次")]
    either = "Received >= 2 sessions of TACE or TARE"
    assert effects(either, "prior_locoregional", no_prior=["systemic", "tare"]) == ["fits"]
    assert effects(either, "prior_locoregional") == ["ask"]          # TARE not stated
    assert reasons("No more than 2 prior lines of systemic therapy", "prior_systemic") == [
        ("fits", "<= 2 prior systemic therapy", "既往系统治疗<=2次")]


LENVATINIB = [{"kind": "systemic", "date": "2023-01", "drugs": ["lenvatinib"]}]
NIVOLUMAB = [{"kind": "systemic", "date": "2023-01", "drugs": ["nivolumab"]}]
UNNAMED = [{"kind": "systemic", "date": "2023-01"}]


def test_a_drug_class_counts_only_the_drugs_in_it():
    pd1 = "Prior anti-PD-1 therapy"
    assert effects(pd1, "prior_systemic", "exclusion", no_prior=[], prior_treatments=LENVATINIB) == ["fits"]
    assert effects(pd1, "prior_systemic", "exclusion", no_prior=[], prior_treatments=NIVOLUMAB) == ["excludes"]
    assert effects(pd1, "prior_systemic", "exclusion", no_prior=[], prior_treatments=UNNAMED) == ["ask"]
    assert effects("Prior sorafenib", "prior_systemic", "exclusion", no_prior=[],
                   prior_treatments=LENVATINIB) == ["fits"]
    progressed = "Progression on a prior PD-1 inhibitor"
    facts = {"no_prior": [], "progressed_after": ["systemic"]}
    assert effects(progressed, "prior_systemic", prior_treatments=NIVOLUMAB, **facts) == ["fits"]
    assert effects(progressed, "prior_systemic", prior_treatments=LENVATINIB, **facts) == ["excludes"]


def test_first_line_and_second_line_trials():
    had = {"no_prior": [], "prior_treatments": TACE_2021 + LENVATINIB}
    second = "Second-line systemic treatment for advanced HCC"
    after_first = ("after first-line systemic therapy", "一线系统治疗后")
    assert reasons(second, "prior_systemic") == [("excludes", *after_first)]
    assert reasons(second, "prior_systemic", **had) == [("fits", *after_first)]
    first = "First-line systemic treatment of advanced HCC"
    none_before = ("no prior systemic therapy (first line)", "未接受过系统治疗（一线）")
    assert reasons(first, "prior_systemic") == [("fits", *none_before)]
    assert reasons(first, "prior_systemic", **had) == [("excludes", *none_before)]
    assert effects(first, "prior_systemic", no_prior=[]) == ["ask"]


def test_no_prior_chemotherapy_asks_after_a_tace():
    """TACE is chemo-embolisation: whether it counts as chemotherapy is for the doctor."""
    assert effects("No prior chemotherapy", "prior_systemic") == ["ask"]
    assert effects("No prior chemotherapy", "prior_systemic", prior_treatments=[],
                   progressed_after=[], no_prior=["systemic", "tace", "haic"]) == ["fits"]


@pytest.mark.parametrize(("date", "expected"), [
    ("2026-10-30", "excludes"), ("2026-10-29", "fits"),   # 28 days before 2026-11-27 is 2026-10-30
    ("2026-11", "excludes"), ("2026-10", "ask")])
def test_within_four_weeks_on_the_exact_dates(date, expected):
    assert effects("Prior TACE within 4 weeks", "prior_locoregional", "exclusion",
                   prior_treatments=[{"kind": "tace", "date": date}]) == [expected]


@pytest.mark.parametrize(("treatments", "expected"), [
    (TACE_2021, "excludes"), (RECENT_TACE, "fits"), ([{"kind": "tace"}], "ask"),
    ([{"kind": "tace", "date": "2026-05-30"}], "excludes"),    # 180 days before 2026-11-27: 05-31
    ([{"kind": "tace", "date": "2026-05-31"}], "fits")])
def test_a_treatment_longer_ago_than_the_trial_allows(treatments, expected):
    assert reasons("Prior TACE more than 6 months before enrollment", "prior_locoregional",
                   "exclusion", prior_treatments=treatments) == [
        (expected, "no TACE more than 180 days ago", "180天以前未接受TACE")]


def test_suitability_and_progression_the_nearer_cue_decides():
    plan = ("ask", "suitability for TACE", "是否适合TACE")
    assert reasons("Patients unsuitable for TACE or who progressed after TACE", "prior_locoregional") == [plan]
    assert reasons("Patients who progressed after TACE or are unsuitable for TACE", "prior_locoregional") == [
        ("fits", "progressed on or after TACE", "TACE后进展")]
    patient = patient_from_table(PATIENT)
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* Not a candidate for curative "
                     "resection"}, patient, today=TODAY)
    assert [(r.concept, r.effect, r.why, r.why_zh) for r in result.reasons] == [
        ("curative_treatment", "ask", "suitability for resection", "是否适合手术切除")]
    assert result.questions == ("Could the tumour currently be removed or destroyed with curative intent "
                                "(surgery, ablation or transplant)?",)
    assert result.questions_zh == ("目前肿瘤是否可以根治性切除、消融或移植？",)


SYSTEMIC_QUESTION = ("Has the patient had any systemic therapy (targeted drugs, immunotherapy, chemotherapy)? "
                     "Which drugs, when, and did the disease progress on them?",
                     "患者是否接受过系统治疗（靶向、免疫、化疗）？用了哪些药、何时、是否进展？")
LOCAL_QUESTION = ("Which liver-directed treatments has the patient had (TACE, TARE/Y-90, HAIC, ablation, "
                  "radiotherapy), and when?", "患者接受过哪些肝脏局部治疗（TACE、TARE/钇-90、HAIC、消融、放疗），分别在何时？")


@pytest.mark.parametrize(("text", "section", "facts", "expected", "question"), [
    # each way of reading a history asks the doctor when the history does not say
    ("Second-line systemic treatment for advanced HCC", "inclusion", {"no_prior": []},
     ("ask", "after first-line systemic therapy", "一线系统治疗后"), SYSTEMIC_QUESTION),
    ("First-line systemic treatment of advanced HCC", "inclusion", {"no_prior": []},
     ("ask", "no prior systemic therapy (first line)", "未接受过系统治疗（一线）"), SYSTEMIC_QUESTION),
    ("Patients who progressed after sorafenib", "inclusion", {"no_prior": []},
     ("ask", "progressed on or after sorafenib", "sorafenib后进展"), SYSTEMIC_QUESTION),
    ("No prior systemic therapy", "inclusion", {"no_prior": []},
     ("ask", "no prior systemic therapy", "未接受过系统治疗"), SYSTEMIC_QUESTION),
    ("Prior TACE within 4 weeks", "exclusion", {"prior_treatments": [{"kind": "tace"}]},
     ("ask", "no TACE within 28 days", "28天内未接受TACE"),
     ("Has the patient had TACE in the last 28 days?", "患者最近28天内是否接受过TACE？")),
    ("Prior TACE more than 6 months before enrollment", "exclusion", {"prior_treatments": [{"kind": "tace"}]},
     ("ask", "no TACE more than 180 days ago", "180天以前未接受TACE"), LOCAL_QUESTION),
    ("Previously received >= 2 sessions of TACE", "inclusion", {"prior_treatments": [], "progressed_after": []},
     ("ask", ">= 2 prior TACE", "既往TACE>=2次"), LOCAL_QUESTION),
    ("TACE not as the sole form of previous treatment", "inclusion", {},
     ("ask", "TACE not as the only treatment", "不能仅接受过TACE"), LOCAL_QUESTION),
])
def test_an_unknown_history_is_asked_about(text, section, facts, expected, question):
    result = screened(text, section, **facts)
    assert [(r.effect, r.why, r.why_zh) for r in result.reasons] == [expected]
    assert (result.questions, result.questions_zh) == ((question[0],), (question[1],))


@pytest.mark.parametrize(("treatments", "expected"), [
    ([{"kind": "tace", "date": "2026-11-20"}], "fits"), (TACE_2021, "excludes")])
def test_a_window_the_inclusion_list_asks_for(treatments, expected):
    assert reasons("Received TACE within 4 weeks before enrolment", "prior_locoregional",
                   prior_treatments=treatments) == [(expected, "TACE within 28 days", "28天内接受过TACE")]


@pytest.mark.parametrize(("drug", "expected"), [("lenvatinib", "fits"), ("sorafenib", "excludes")])
def test_naive_to_one_drug(drug, expected):
    had = [*TACE_2021, {"kind": "systemic", "date": "2023-01", "drugs": [drug]}]
    assert reasons("Sorafenib-naive patients", "prior_systemic", no_prior=[], prior_treatments=had) == [
        (expected, "no prior sorafenib", "未接受过sorafenib")]


def test_a_tace_dated_long_ago_next_to_chemotherapy_is_not_within_the_window():
    """The TACE that "chemotherapy" may mean was in 2021: not within 4 weeks, so it fits."""
    assert reasons("Chemotherapy or other anti-tumour treatment within 4 weeks", "prior_locoregional",
                   "exclusion", no_prior=EVERYTHING_ELSE) == [
        ("fits", "no anti-cancer treatment of any kind within 28 days", "28天内未接受任何抗肿瘤治疗")]


def test_systemic_chemotherapy_is_not_a_tace():
    recent = [{"kind": "tace", "date": "2026-11-10"}]
    assert reasons("Systemic chemotherapy within 4 weeks", "prior_systemic", "exclusion",
                   prior_treatments=recent) == [("fits", "no systemic therapy within 28 days", "28天内未接受系统治疗")]
    # a chemotherapy drug without "systemic": a TACE may have carried it, so it is asked
    assert effects("Prior chemotherapy with doxorubicin", "prior_systemic", "exclusion",
                   prior_treatments=recent) == ["ask"]


@pytest.mark.parametrize(("text", "section", "treatments", "expected"), [
    # bug found by the mutation run: "sessions" after the treatment's name was not read as a
    # count, so "more than 2 prior TACE sessions" excluded a patient who had exactly two
    ("More than 2 prior TACE sessions", "exclusion", TACE_2021, ("fits", "> 2 prior TACE", "既往TACE>2次")),
    ("More than 2 prior TACE sessions", "exclusion", [*TACE_2021, {"kind": "tace", "date": "2022-01"}],
     ("excludes", "> 2 prior TACE", "既往TACE>2次")),
    ("Received >= 2 TACE procedures", "inclusion", TACE_2021, ("fits", ">= 2 prior TACE", "既往TACE>=2次")),
])
def test_sessions_counted_after_the_treatment_name(text, section, treatments, expected):
    assert reasons(text, "prior_locoregional", section, prior_treatments=treatments) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("Two prior lines of systemic therapy", ("excludes", ">= 2 prior systemic therapy", "既往系统治疗>=2次")),
    ("At least two prior lines of systemic therapy", ("excludes", ">= 2 prior systemic therapy", "既往系统治疗>=2次")),
    ("Fewer than 3 prior lines of systemic therapy", ("fits", "< 3 prior systemic therapy", "既往系统治疗<3次")),
])
def test_lines_of_systemic_therapy_counted(text, expected):
    """The patient has had no systemic therapy: zero lines."""
    assert reasons(text, "prior_systemic", "inclusion") == [expected]


NOTHING_BEFORE = {"prior_treatments": [], "progressed_after": [], "no_prior": [*EVERYTHING_ELSE, "tace", "tare"]}


@pytest.mark.parametrize(("facts", "expected"), [
    # "any anti-cancer treatment" belongs to the concept of the treatment the patient had
    (NOTHING_BEFORE, ("prior_systemic", "fits")),
    ({"prior_treatments": [{"kind": "ablation", "date": "2020-01"}], "progressed_after": [],
      "no_prior": ["systemic", "tace", "tare", "haic", "radiotherapy", "resection", "transplant"]},
     ("prior_locoregional", "fits")),
])
def test_any_treatment_within_a_window_by_the_patients_history(facts, expected):
    result = screened("Anti-tumour treatment within 4 weeks", "exclusion", **facts)
    assert [(r.concept, r.effect) for r in result.reasons] == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    # ablation named beside resection (and no TACE) is curative treatment; beside TACE, liver-directed
    ("Prior hepatic resection or radiofrequency ablation", [("curative_treatment", "ask", "no prior ablation or resection")]),
    ("Prior radiofrequency ablation", [("prior_locoregional", "ask", "no prior ablation")]),
    ("Prior TACE, resection or ablation", [("curative_treatment", "ask", "no prior resection"),
                                           ("prior_locoregional", "excludes", "no prior TACE or ablation")]),
])
def test_ablation_is_curative_next_to_resection(text, expected):
    result = screened(text, "exclusion")
    assert [(r.concept, r.effect, r.why) for r in result.reasons] == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a plan cue after the treatment: a question about suitability, not a history
    ("Surgical resection not possible", [("curative_treatment", "ask", "suitability for resection")]),
    # "newly diagnosed" is a history: nothing before; the patient had TACE
    ("Newly diagnosed HCC", [("prior_locoregional", "excludes", "no prior anti-cancer treatment of any kind"),
                             ("diagnosis", "fits", "HCC")]),
    ("Treatment-naive HCC: no prior TACE or sorafenib",
     [("prior_locoregional", "excludes", "no prior anti-cancer treatment of any kind"),
      ("prior_systemic", "fits", "no prior sorafenib")]),
    # a treatment named with no cue about the patient's history is left unread, never guessed
    ("TACE combined with lenvatinib", [("prior_locoregional", "unread", "not read"),
                                       ("prior_systemic", "unread", "not read")]),
    # a condition without a window, and any treatment with no cue, say nothing
    ("For patients who received prior TACE, the last session must be completed", []),
    ("Anti-tumour therapy according to local practice", []),
    # in a second-line trial, the TACE named is read as history
    ("Second-line systemic treatment for patients previously treated with TACE",
     [("prior_systemic", "excludes", "after first-line systemic therapy"), ("prior_locoregional", "fits", "prior TACE")]),
])
def test_what_a_treatment_history_clause_says(text, expected):
    result = screened(text)
    assert [(r.concept, r.effect, r.why) for r in result.reasons] == expected


@pytest.mark.parametrize(("text", "facts", "expected"), [
    # chemotherapy named beside another drug class is systemic chemotherapy: a 2021 TACE is not it
    ("Prior immunotherapy or chemotherapy", {}, "fits"),
    ("Prior drug therapy with sorafenib", {}, "fits"),
    # plain "chemotherapy": a HAIC (arterial chemotherapy) may be what is meant, so it is asked
    ("Prior chemotherapy", {"prior_treatments": [{"kind": "haic", "date": "2025-01"}], "progressed_after": [],
                            "no_prior": ["systemic", "tace"]}, "ask"),
])
def test_which_chemotherapy_a_tace_or_haic_may_be(text, facts, expected):
    assert effects(text, "prior_systemic", "exclusion", **facts) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    # the plan cue comes a few words after the treatment, which is far into the sentence
    ("Patients with hepatocellular carcinoma whose tumour resection is not possible",
     [("diagnosis", "fits", "HCC"), ("curative_treatment", "ask", "suitability for resection")]),
    # a plan cue far before the treatment (more than 60 characters) is about something else
    ("Patients who are candidates for systemic therapy in the opinion of the investigator and who had "
     "prior TACE", [("prior_systemic", "ask", "suitability for systemic therapy"),
                    ("prior_locoregional", "fits", "prior TACE")]),
])
def test_how_far_a_plan_cue_reaches(text, expected):
    result = screened(text)
    assert [(r.concept, r.effect, r.why) for r in result.reasons] == expected


@pytest.mark.parametrize(("today", "dated", "expected"), [
    (date(2026, 11, 30), "2026-11", "ask"),        # window from 2 Nov: 1 Nov may be before it
    (date(2026, 11, 28), "2026-10", "ask"),        # window from 31 Oct: the last day of October is in it
    (date(2024, 3, 28), "2024-02", "ask"),         # window from 29 Feb 2024, a leap day
    (date(2024, 3, 29), "2024-02", "fits"),        # window from 1 Mar: all of February is before it
])
def test_a_treatment_dated_by_month_at_the_edge_of_a_window(today, dated, expected):
    patient = patient_from_table({**PATIENT, "prior_treatments": [{"kind": "tace", "date": dated}]})
    result = screen({"eligibility_criteria": "Exclusion Criteria:\n\n* Prior TACE within 4 weeks"}, patient,
                    today=today)
    assert [r.effect for r in result.reasons] == [expected]


@pytest.mark.parametrize(("text", "concept", "section", "facts", "expected"), [
    ("ECOG =< 1", "ecog", "inclusion", {"ecog": 1}, ("fits", "ECOG 0-1", "ECOG 0-1")),
    ("Age => 18 years", "age", "inclusion", {"birth_year": 1960}, ("fits", "age 18 or over", "年龄18岁以上")),
    ("ECOG PS = 1", "ecog", "inclusion", {"ecog": 0}, ("unread", "not read", "未能自动判断")),  # lost "≤"
    ("ECOG  0-1", "ecog", "inclusion", {"ecog": 2}, ("excludes", "ECOG 0-1", "ECOG 0-1")),      # two spaces
    ("Prior TACE (surgery is allowed)", "prior_locoregional", "exclusion", {},
     ("excludes", "no prior TACE", "未接受过TACE")),       # what the parenthesis allows is another thing
    ("Prior TACE 4 weeks before the first dose", "prior_locoregional", "inclusion",
     {"prior_treatments": RECENT_TACE}, ("excludes", "no TACE within 28 days", "28天内未接受TACE")),
    ("Prior TACE 4 weeks before the first dose", "prior_locoregional", "inclusion",
     {"no_prior": EVERYTHING_ELSE}, ("fits", "no TACE within 28 days", "28天内未接受TACE")),
])
def test_how_comparators_and_windows_are_written(text, concept, section, facts, expected):
    assert reasons(text, concept, section, **facts) == [expected]


@pytest.mark.parametrize(("text", "concept", "section", "facts", "expected"), [
    ("BCLC stage B-C", "bclc", "inclusion", {"bclc": "A"}, ("excludes", "BCLC B/C", "BCLC B/C期")),
    ("BCLC stage B-C", "bclc", "inclusion", {"bclc": "C"}, ("fits", "BCLC B/C", "BCLC B/C期")),
    ("BCLC stage A-C", "bclc", "inclusion", {"bclc": "B"}, ("fits", "BCLC A/B/C", "BCLC A/B/C期")),
    ("Vp1-Vp2 portal vein tumour thrombus", "vascular_invasion", "exclusion", {"vascular_invasion": "vp3"},
     ("fits", "no Vp1/Vp2", "无Vp1/Vp2")),
    ("Vp1-Vp2 portal vein tumour thrombus", "vascular_invasion", "exclusion", {"vascular_invasion": "vp2"},
     ("excludes", "no Vp1/Vp2", "无Vp1/Vp2")),
    ("Vp1-Vp2 portal vein tumour thrombus", "vascular_invasion", "exclusion", {"vascular_invasion": True},
     ("ask", "no Vp1/Vp2", "无Vp1/Vp2")),
    ("Main portal vein tumour thrombus", "vascular_invasion", "exclusion", {"vascular_invasion": "vp3"},
     ("fits", "no Vp4", "无Vp4")),
    ("Main portal vein tumour thrombus", "vascular_invasion", "exclusion", {"vascular_invasion": "vp4"},
     ("excludes", "no Vp4", "无Vp4")),
    ("Prior TACE is allowed", "prior_locoregional", "exclusion", {}, ("fits", "prior TACE allowed", "允许既往TACE")),
    ("Sorafenib-naive", "prior_systemic", "inclusion", {}, ("fits", "no prior sorafenib", "未接受过sorafenib")),
    ("Sorafenib-naive", "prior_systemic", "inclusion",
     {"no_prior": [], "prior_treatments": [{"kind": "systemic", "drugs": ["sorafenib"]}]},
     ("excludes", "no prior sorafenib", "未接受过sorafenib")),
    ("ECOG 0-1 within 7 days before enrolment", "ecog", "inclusion", {"ecog": 1}, ("fits", "ECOG 0-1", "ECOG 0-1")),
    ("Child-Pugh A, within 7 days before enrolment", "child_pugh", "inclusion", {"child_pugh": "A6"},
     ("fits", "Child-Pugh A", "Child-Pugh A")),
    ("TACE not as the sole form of previous treatment", "prior_locoregional", "inclusion",
     {"no_prior": EVERYTHING_ELSE}, ("excludes", "TACE not as the only treatment", "不能仅接受过TACE")),
    ("TACE not as the sole form of previous treatment", "prior_locoregional", "inclusion",
     {"no_prior": [], "prior_treatments": TACE_2021 + LENVATINIB},
     ("fits", "TACE not as the only treatment", "不能仅接受过TACE")),
    ("TACE not as the sole form of previous treatment", "prior_locoregional", "inclusion", {},
     ("ask", "TACE not as the only treatment", "不能仅接受过TACE")),
    ("TACE not as the sole form of previous treatment", "prior_locoregional", "inclusion",
     {"prior_treatments": [], "progressed_after": []},
     ("ask", "TACE not as the only treatment", "不能仅接受过TACE")),       # no treatment listed at all
    # a bare window in the exclusion list is "within": a TACE in 2021 passes it
    ("Prior TACE 4 weeks before the first dose", "prior_locoregional", "exclusion", {},
     ("fits", "no TACE within 28 days", "28天内未接受TACE")),
])
def test_ranges_levels_stops_and_exceptions(text, concept, section, facts, expected):
    assert reasons(text, concept, section, **facts) == [expected]


def test_a_bclc_sub_stage_asks_which_one():
    patient = patient_from_table({**PATIENT, "bclc": "B"})
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n* BCLC stage B2"}, patient, today=TODAY)
    assert [(r.effect, r.why) for r in result.reasons] == [("ask", "BCLC B")]
    assert (result.questions, result.questions_zh) == (("Which BCLC sub-stage applies?",), ("属于BCLC哪个亚期？",))


def test_transplant_history():
    assert effects("History of organ allograft.", "transplant", "exclusion") == ["ask"]
    assert effects("History of organ allograft.", "transplant", "exclusion",
                   no_prior=["systemic", "transplant"]) == ["fits"]


@pytest.mark.parametrize(("text", "section", "vascular", "expected"), [
    ("Tumor thrombus involving main trunk of portal vein or inferior vena cava.", "exclusion", "vp2", "fits"),
    ("Vp3/Vp4 portal vein tumor thrombus;", "exclusion", "vp4", "excludes"),
    ("Vp3/Vp4 portal vein tumor thrombus;", "exclusion", True, "ask"),
    ("Hepatocellular carcinoma with major branch of portal vein invasion on dynamic CT or MRI",
     "inclusion", False, "excludes"),
    ("Presence of macrovascular invasion", "exclusion", None, "ask"),
])
def test_vascular_invasion(text, section, vascular, expected):
    facts = {} if vascular is None else {"vascular_invasion": vascular}
    assert effects(text, "vascular_invasion", section, **facts) == [expected]


def test_extrahepatic():
    assert effects("No evidence of extrahepatic disease on any available imaging.", "extrahepatic",
                   extrahepatic=True) == ["excludes"]
    assert effects("Presence of extra-hepatic tumor spread", "extrahepatic", "exclusion",
                   extrahepatic=False) == ["fits"]
    assert effects("Known central nervous system tumors including metastatic brain disease",
                   "extrahepatic", "exclusion", extrahepatic=True) == ["ask"]


def test_hbv():
    assert effects("If hepatitis B is present, participants must be on anti-viral HBV therapy.", "hbv") == ["fits"]
    assert effects("If the patient is HBsAg positive, HBV-DNA will be less than 2000 IU/ml", "hbv") == ["fits"]
    assert effects("If the patient is HBsAg positive, HBV-DNA will be less than 2000 IU/ml", "hbv",
                   hbv="active") == ["ask"]
    condition = ("Patients with HBV infection with detectable HBV DNA (≥ 10 IU/ml or above the limit "
                 "of detection per local lab standard), must be t")
    assert effects(condition, "hbv") == ["unread"]   # a condition, not a limit: not guessed


@pytest.mark.parametrize(("text", "section", "by_status", "why"), [
    ("Chronic hepatitis B must be well controlled", "inclusion", ("fits", "fits", "ask", "ask"),
     ("controlled hepatitis B", "乙肝已控制")),
    ("Uncontrolled hepatitis B infection", "exclusion", ("fits", "fits", "excludes", "ask"),
     ("no active hepatitis B", "无活动性乙肝")),
    ("Active hepatitis B infection", "inclusion", ("excludes", "excludes", "fits", "ask"),
     ("active hepatitis B", "活动性乙肝")),
    ("HBV-related HCC", "inclusion", ("excludes", "fits", "fits", "ask"), ("hepatitis B", "乙肝")),
    ("Hepatitis B surface antigen positive", "inclusion", ("excludes", "fits", "fits", "ask"),
     ("hepatitis B", "乙肝")),
    ("HBV or HCV related HCC", "inclusion", ("unread",) * 4, ("not read", "未能自动判断")),
    ("HBV DNA < 500 IU/mL", "inclusion", ("fits", "fits", "ask", "ask"), ("HBV DNA < 500", "HBV DNA < 500")),
    ("HBV DNA ≤ 500 IU/mL", "inclusion", ("fits", "fits", "ask", "ask"), ("HBV DNA <= 500", "HBV DNA <= 500")),
    ("HBV DNA > 2000 IU/mL", "exclusion", ("fits", "fits", "ask", "ask"),
     ("HBV DNA > 2000", "HBV DNA > 2000")),
    ("HBV DNA < 500 IU/mL", "exclusion", ("unread",) * 4, ("not read", "未能自动判断")),
    ("HBV DNA = 500 IU/mL", "inclusion", ("unread",) * 4, ("not read", "未能自动判断")),   # a lost "≤"
    ("HBV DNA = 500 IU/mL", "exclusion", ("unread",) * 4, ("not read", "未能自动判断")),
    ("Uncontrolled or unsuppressed hepatitis B", "exclusion", ("fits", "fits", "excludes", "ask"),
     ("no active hepatitis B", "无活动性乙肝")),
    ("Patients with hepatitis B must receive antiviral therapy", "inclusion", ("fits", "fits", "ask", "ask"),
     ("antiviral therapy for hepatitis B", "乙肝需抗病毒治疗")),
    ("Hepatitis B infection", "exclusion", ("unread",) * 4, ("not read", "未能自动判断")),
])
def test_hepatitis_b_by_status(text, section, by_status, why):
    """For a patient without hepatitis B, treated, active, and not stated: never an exclusion
    the patient's status does not support, and the requirement named in both languages."""
    found = []
    for hbv in ("none", "treated", "active", None):
        found += reasons(text, "hbv", section, hbv=hbv)
    assert [effect for effect, _, _ in found] == list(by_status)
    assert {r[1:] for r in found} == {why}
    if "ask" in by_status:   # the question the doctor is asked, in both languages
        patient = patient_from_table({**PATIENT, "hbv": None})
        heading = "Inclusion Criteria" if section == "inclusion" else "Exclusion Criteria"
        result = screen({"eligibility_criteria": f"{heading}:\n\n* {text}"}, patient, today=TODAY)
        assert (result.questions, result.questions_zh) == (
            ("What is the current HBV DNA level, and is antiviral treatment ongoing?",),
            ("目前HBV DNA水平是多少，是否在持续抗病毒治疗？",))


@pytest.mark.parametrize(("hbv", "hcv", "expected"), [
    ("none", None, "fits"), ("treated", "none", "fits"), ("treated", "active", "excludes"),
    ("active", "active", "excludes"), ("treated", "cured", "ask"), ("treated", None, "ask")])
def test_hcv_and_coinfection(hbv, hcv, expected):
    for text in ("HBV/HCV co-infected patients will be excluded.", "HBV/HCV co-infection"):
        assert reasons(text, "hcv", "exclusion", hbv=hbv, hcv=hcv) == [
            (expected, "HBV and HCV co-infection", "乙肝丙肝合并感染")]
    patient = patient_from_table({**PATIENT, "hbv": hbv, "hcv": hcv})
    result = screen({"eligibility_criteria": "Exclusion Criteria:\n\n* HBV/HCV co-infection"}, patient,
                    today=TODAY)
    asked = ("Has the patient ever had hepatitis C (HCV antibody / HCV RNA)?",)
    assert result.questions == (asked if expected == "ask" else ())
    assert effects("HBV/HCV co-infected patients will be excluded.", "hcv", hbv=hbv, hcv=hcv) == [expected]


HCV_QUESTION = (("Has the patient ever had hepatitis C (HCV antibody / HCV RNA)?",),
                ("患者是否曾感染丙肝（HCV抗体/HCV RNA）？",))


@pytest.mark.parametrize(("text", "section", "by_status", "why"), [
    ("Active hepatitis C infection", "exclusion", ("fits", "fits", "excludes", "ask"),
     ("no active hepatitis C", "无活动性丙肝")),
    ("HCV RNA positive", "exclusion", ("fits", "fits", "excludes", "ask"), ("no active hepatitis C", "无活动性丙肝")),
    ("Active HCV infection", "inclusion", ("excludes", "excludes", "fits", "ask"), ("active hepatitis C", "活动性丙肝")),
    ("Patients with hepatitis C are allowed", "inclusion", ("fits",) * 4, ("hepatitis C allowed", "允许丙肝")),
    ("Hepatitis C infection", "exclusion", ("unread",) * 4, ("not read", "未能自动判断")),
])
def test_hepatitis_c_by_status(text, section, by_status, why):
    """For a patient who never had hepatitis C, cured, active, and not stated: the requirement
    named in both languages, and the question asked only when the status is not stated."""
    found = []
    for hcv in ("none", "cured", "active", None):
        found += reasons(text, "hcv", section, hcv=hcv)
    assert [effect for effect, _, _ in found] == list(by_status)
    assert {r[1:] for r in found} == {why}
    result = screened(text, section, hcv=None)
    asked = (result.questions[:1], result.questions_zh[:1]) == HCV_QUESTION
    assert asked == ("ask" in by_status)


@pytest.mark.parametrize(("sex", "patient_sex", "expected"), [
    ("FEMALE", "female", ("fits", "women only", "仅限女性")),
    ("MALE", "male", ("fits", "men only", "仅限男性")),
    ("MALE", "female", ("excludes", "men only", "仅限男性")),
    ("FEMALE", None, ("ask", "women only", "仅限女性")),
])
def test_a_trial_for_one_sex(sex, patient_sex, expected):
    patient = patient_from_table({**PATIENT, "sex": patient_sex})
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* Confirmed HCC", "sex": sex}, patient,
                    today=TODAY)
    assert [(r.effect, r.why, r.why_zh, r.quote) for r in result.reasons if r.concept == "sex"] == [
        (*expected, f"Sex: {sex}")]
    asked = ("Is the patient male or female?",) if patient_sex is None else ()
    assert (result.questions, result.questions_zh) == (asked, ("患者的性别？",) if asked else ())


def test_a_trial_for_both_sexes_says_nothing_about_sex():
    patient = patient_from_table({**PATIENT, "sex": "male"})
    for sex in ("ALL", None):
        result = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* Confirmed HCC", "sex": sex}, patient,
                        today=TODAY)
        assert [r.concept for r in result.reasons] == ["diagnosis"]


@pytest.mark.parametrize(("conditions", "criteria", "excluded"), [
    (["Ocular Melanoma", "Uveal Melanoma"], None, True),
    # a condition naming HCC next to another cancer is the patient's disease
    (["Combined Hepatocellular-Cholangiocarcinoma"], None, False),
    # a basket trial whose conditions name only biliary cancer, but whose criteria admit HCC
    (["Biliary Tract Cancer"], "Inclusion Criteria:\n\n* Histologically confirmed hepatocellular carcinoma or "
                               "biliary tract cancer", False),
])
def test_a_trial_for_another_cancer_is_named_and_quoted(conditions, criteria, excluded):
    patient = patient_from_table(PATIENT)
    result = screen({"conditions": conditions, "eligibility_criteria": criteria}, patient, today=TODAY)
    found = [(r.concept, r.effect, r.why, r.why_zh, r.quote) for r in result.reasons if r.quote.startswith("Conditions")]
    assert found == ([("diagnosis", "excludes", "another disease (not HCC)", "其他疾病（非肝癌）",
                       "Conditions: " + "; ".join(conditions))] if excluded else [])


@pytest.mark.parametrize(("text", "expected"), [
    ("History of HCC", [("excludes", "no HCC", "无肝癌")]),
    # trials for hepatitis B exclude a recent HCC; "other than HCC" is about other cancers
    ("Known HCC diagnosed within the past 5 years", [("excludes", "no HCC", "无肝癌")]),
    ("History of malignancy other than HCC within 5 years", []),
])
def test_hcc_in_the_exclusion_list(text, expected):
    assert reasons(text, "diagnosis", "exclusion") == expected


def test_an_unknown_diagnosis_is_asked():
    result = screened("Histological or clinical diagnosis of HCC.", diagnosis=None)
    assert (result.questions, result.questions_zh) == (
        ("Is the diagnosis hepatocellular carcinoma (HCC), by imaging or biopsy?",), ("是否已确诊为肝细胞癌（影像或病理）？",))


@pytest.mark.parametrize(("text", "section", "diagnosis", "expected"), [
    ("Fibrolamellar hepatocellular carcinoma", "inclusion", "fibrolamellar",
     [("fits", "fibrolamellar/mixed type", "纤维板层/混合型")]),
    ("Fibrolamellar hepatocellular carcinoma", "inclusion", "hcc",
     [("excludes", "fibrolamellar/mixed type", "纤维板层/混合型")]),
    ("Known fibrolamellar or sarcomatoid HCC", "exclusion", "hcc",
     [("fits", "not fibrolamellar, sarcomatoid or mixed", "非纤维板层/肉瘤样/混合型")]),
    # "HCC or mixed HCC-CCA": the mixed type is an alternative, not a requirement
    ("Histologically confirmed HCC or mixed HCC-cholangiocarcinoma", "inclusion", "hcc", []),
])
def test_histology_requirements_as_named(text, section, diagnosis, expected):
    assert reasons(text, "histology", section, diagnosis=diagnosis) == expected


def test_an_unknown_histology_is_asked_never_assumed():
    result = screened("Known fibrolamellar or sarcomatoid HCC", "exclusion", diagnosis=None)
    assert [(r.concept, r.effect) for r in result.reasons] == [("histology", "ask")]
    assert result.questions == ("Has pathology ever shown a fibrolamellar, sarcomatoid or mixed "
                                "HCC-cholangiocarcinoma type?",)
    assert result.questions_zh == ("病理是否显示为纤维板层型、肉瘤样或混合型肝癌-胆管癌？",)


@pytest.mark.parametrize(("text", "section", "extrahepatic", "expected"), [
    ("Disease confined to the liver", "inclusion", True, ("excludes", "no extrahepatic spread", "无肝外转移")),
    ("Extrahepatic metastasis", "inclusion", True, ("fits", "extrahepatic spread", "肝外转移")),
    ("Known brain metastases", "exclusion", False, ("fits", "no brain metastases", "无脑转移")),
])
def test_spread_outside_the_liver_as_named(text, section, extrahepatic, expected):
    assert reasons(text, "extrahepatic", section, extrahepatic=extrahepatic) == [expected]


@pytest.mark.parametrize(("text", "vascular", "expected"), [
    # a bland (non-tumour) thrombosis is not tumour invasion: asked, whatever the Vp level
    ("Portal vein thrombosis", "vp3", ("ask", "no macrovascular invasion", "无大血管侵犯")),
    ("Portal vein thrombosis (PVTT) involving the main trunk", "vp3", ("fits", "no Vp4", "无Vp4")),
    # an invasion stated without a level, or a level, against an item naming no level
    ("Presence of macrovascular invasion", True, ("excludes", "no macrovascular invasion", "无大血管侵犯")),
    ("Presence of macrovascular invasion", "vp3", ("excludes", "no macrovascular invasion", "无大血管侵犯")),
    # two Vp levels named apart in one item
    ("Tumour thrombus in the first-order branch (Vp3) or main trunk (Vp4) of the portal vein", "vp3",
     ("excludes", "no Vp3/Vp4", "无Vp3/Vp4")),
])
def test_vascular_invasion_as_named(text, vascular, expected):
    assert reasons(text, "vascular_invasion", "exclusion", vascular_invasion=vascular) == [expected]
    asked = screened(text, "exclusion", vascular_invasion=None)
    assert (asked.questions, asked.questions_zh) == (
        ("Has the tumour invaded a major blood vessel (portal vein tumour thrombus; which Vp level)?",),
        ("是否有大血管侵犯（门静脉癌栓，Vp几级）？",))


@pytest.mark.parametrize(("text", "facts", "question"), [
    ("Presence of measurable disease (mRECIST)", {"prior_treatments": [], "progressed_after": []},
     ("Is there at least one measurable lesion on the latest scan (RECIST or mRECIST)?",
      "最近的影像上是否有至少一个可测量病灶（RECIST或mRECIST）？")),
    ("Patients must have measurable disease per mRECIST", {},
     ("Is there a measurable lesion that TACE has not treated (or that has grown since)?",
      "是否有未经TACE治疗（或TACE后增大）的可测量病灶？")),
    # the question names the patient's own liver-directed treatments, each once, never TACE
    # for a patient who had none
    ("Patients must have measurable disease per mRECIST",
     {"prior_treatments": [{"kind": "tare", "date": "2024-03"}], "progressed_after": []},
     ("Is there a measurable lesion that TARE/Y-90 has not treated (or that has grown since)?",
      "是否有未经放射栓塞(TARE)治疗（或放射栓塞(TARE)后增大）的可测量病灶？")),
    ("At least one measurable lesion",
     {"prior_treatments": [{"kind": "ablation", "date": "2023-01"}, {"kind": "haic", "date": "2024-01"},
                           {"kind": "radiotherapy", "date": "2024-06"}, {"kind": "ablation", "date": "2025-01"}],
      "progressed_after": []},
     ("Is there a measurable lesion that ablation, HAIC or radiotherapy has not treated (or that has grown since)?",
      "是否有未经消融、HAIC或放疗治疗（或消融、HAIC或放疗后增大）的可测量病灶？")),
    ("At least one measurable lesion",
     {"prior_treatments": [{"kind": "tace", "date": "2021-03"}, {"kind": "ablation", "date": "2021-09"}],
      "progressed_after": []},
     ("Is there a measurable lesion that TACE or ablation has not treated (or that has grown since)?",
      "是否有未经TACE或消融治疗（或TACE或消融后增大）的可测量病灶？")),
    ("At least one measurable lesion",
     {"prior_treatments": [{"kind": "resection", "date": "2020-01"}], "progressed_after": []},
     ("Is there at least one measurable lesion on the latest scan (RECIST or mRECIST)?",
      "最近的影像上是否有至少一个可测量病灶（RECIST或mRECIST）？")),
])
def test_a_measurable_lesion_is_asked_about(text, facts, question):
    result = screened(text, **facts)
    assert [(r.concept, r.effect, r.why, r.why_zh) for r in result.reasons] == [
        ("measurable_disease", "ask", "a measurable lesion", "可测量病灶")]
    assert (result.questions, result.questions_zh) == ((question[0],), (question[1],))


def test_measurability_in_the_exclusion_list_is_not_a_requirement():
    assert reasons("Lesions that have been treated with TACE are not considered measurable",
                   "measurable_disease", "exclusion") == []


def test_histology():
    text = "Known fibrolamellar HCC, sarcomatoid HCC, or mixed cholangiocarcinoma and HCC"
    assert effects(text, "histology", "exclusion") == ["fits"]
    assert effects(text, "histology", "exclusion", diagnosis="hcc-cca") == ["excludes"]
    assert effects(text, "histology", "exclusion", diagnosis="fibrolamellar") == ["excludes"]
    assert effects("混合型肝癌", "histology", "exclusion", diagnosis="hcc-cca") == ["excludes"]
    assert effects("混合型肝癌", "histology", "exclusion", diagnosis="fibrolamellar") == ["fits"]


def test_measurable_disease_asks_about_a_lesion_tace_has_not_treated():
    patient = patient_from_table(PATIENT)
    result = screen({"eligibility_criteria": "Inclusion Criteria:\n\n* At least one measurable lesion "
                     "(per RECIST v1.1) untreated lesion"}, patient, today=TODAY)
    assert "Is there a measurable lesion that TACE has not treated (or that has grown since)?" in result.questions
    assert "是否有未经TACE治疗（或TACE后增大）的可测量病灶？" in result.questions_zh


def test_diagnosis():
    assert effects("Absence of previous or current history of HCC", "diagnosis") == ["excludes"]
    assert effects("History of HCC", "diagnosis", "exclusion") == ["excludes"]
    assert effects("Histological or clinical diagnosis of HCC.", "diagnosis") == ["fits"]
    assert effects("Histological or clinical diagnosis of HCC.", "diagnosis", diagnosis=None) == ["ask"]
    text = ("Patients with hepatocellular carcinoma who are candidates for surgical radical cure")
    assert effects(text, "diagnosis", "exclusion") == []


def test_a_trial_for_another_cancer_is_excluded_by_its_conditions():
    patient = patient_from_table(PATIENT)
    result = screen({"conditions": ["Ocular Melanoma"], "eligibility_criteria": None}, patient, today=TODAY)
    assert result.verdict == "likely_excluded"
    assert result.deciding.quote == "Conditions: Ocular Melanoma"
    shared = screen({"conditions": ["Hepatitis B", "Cirrhosis"]}, patient, today=TODAY)
    assert shared.verdict == "unclear"


def test_sex():
    assert effects("x", "sex") == []
    patient = patient_from_table({**PATIENT, "sex": "male"})
    result = screen({"eligibility_criteria": "Inclusion:\n* HCC", "sex": "FEMALE"}, patient, today=TODAY)
    assert result.verdict == "likely_excluded" and result.deciding.concept == "sex"


@pytest.mark.parametrize(("text", "concept", "facts", "expected"), [
    ("Patients with extrahepatic spread are excluded", "extrahepatic", {"extrahepatic": False},
     ("fits", "no extrahepatic spread")),
    ("Patients with extrahepatic spread are excluded", "extrahepatic", {"extrahepatic": True},
     ("excludes", "no extrahepatic spread")),
    ("ECOG 2 or more is not allowed", "ecog", {"ecog": 0}, ("fits", "ECOG 0-1")),
    ("Patients with macrovascular invasion will be excluded", "vascular_invasion",
     {"vascular_invasion": False}, ("fits", "no macrovascular invasion")),
    ("HBV/HCV co-infected patients will be excluded.", "hcv", {"hbv": "none"},
     ("fits", "HBV and HCV co-infection")),
    ("Patients with prior TACE are not allowed", "prior_locoregional", {}, ("excludes", "no prior TACE")),
    ("Patients with prior TACE are not allowed", "prior_locoregional",
     {"prior_treatments": [], "progressed_after": [], "no_prior": ["systemic", "tace"]},
     ("fits", "no prior TACE")),
    ("肝外转移者不允许入组", "extrahepatic", {"extrahepatic": False}, ("fits", "no extrahepatic spread")),
    ("既往TACE治疗不允许", "prior_locoregional", {}, ("excludes", "no prior TACE")),   # not "允许"
    # "除外" names the exception: prior systemic therapy is excluded, TACE is not
    ("既往接受过系统治疗（TACE除外）", "prior_systemic", {}, ("fits", "no prior systemic therapy")),
    ("既往接受过系统治疗（TACE除外）", "prior_locoregional",
     {"prior_treatments": [], "progressed_after": [], "no_prior": ["systemic", "tace"]},
     ("fits", "prior TACE allowed")),
])
def test_are_excluded_in_the_exclusion_list_restates_the_list_it_does_not_flip_it(
        text, concept, facts, expected):
    """Bug found by the mutation run: "X are excluded" / "is not allowed" in the exclusion list
    read as a double negation, so a patient WITHOUT X was the one excluded."""
    assert [r[:2] for r in reasons(text, concept, "exclusion", **facts)] == [expected]


def test_alternatives_joined_by_or_exclude_only_together():
    text = "Portal vein invasion or extrahepatic spread detected by baseline imaging"
    assert effects(text, "vascular_invasion", vascular_invasion=False, extrahepatic=True) == []
    assert effects(text, "extrahepatic", vascular_invasion=False, extrahepatic=True) == ["fits"]
    # in the exclusion list "or" joins two exclusions: either one excludes
    assert effects(text, "extrahepatic", "exclusion", vascular_invasion=False, extrahepatic=True) == ["excludes"]
    both = effects(text, "vascular_invasion", vascular_invasion=False, extrahepatic=False)
    assert both == ["excludes"]
    unknown = reasons(text, "vascular_invasion", vascular_invasion=False)
    assert unknown == [("ask", "macrovascular invasion", "大血管侵犯")]   # asked, named as read
    patient = patient_from_table({**PATIENT, "vascular_invasion": False})
    result = screen({"eligibility_criteria": f"Inclusion Criteria:\n\n* {text}"}, patient, today=TODAY)
    assert "Has the cancer spread outside the liver (and if so where: lymph nodes, lungs, bones, brain)?" \
        in result.questions
    assert "Has the tumour invaded a major blood vessel (portal vein tumour thrombus; which Vp level)?" \
        in result.questions
    assert "是否有大血管侵犯（门静脉癌栓，Vp几级）？" in result.questions_zh
    assert result.verdict == "unclear"


def test_chinese_criteria_are_read():
    text = ("入选标准：\n1、年龄18-75岁；\n2、经病理或临床诊断为肝细胞癌；\n3、ECOG评分0-1分；\n"
            "4、既往未接受过系统治疗；\n5、TACE治疗后进展。\n排除标准：\n1、既往接受过肝移植；\n"
            "2、4周内接受过TACE治疗；\n3、肝外转移。")
    patient = patient_from_table({**PATIENT, "birth_year": 1960, "ecog": 2, "extrahepatic": False})
    result = screen({"eligibility_criteria": text}, patient, today=TODAY)
    read = {(r.concept, r.effect, r.quote) for r in result.reasons}
    assert ("ecog", "excludes", "ECOG评分0-1分；") in read
    assert ("prior_systemic", "fits", "既往未接受过系统治疗；") in read
    assert ("prior_locoregional", "fits", "TACE治疗后进展。") in read
    assert ("prior_locoregional", "fits", "4周内接受过TACE治疗；") in read   # 2021 is not within 4 weeks
    assert ("transplant", "ask", "既往接受过肝移植；") in read
    assert ("extrahepatic", "fits", "肝外转移。") in read
    assert result.verdict == "likely_excluded" and result.summary()[1] == "可能不符合：ECOG 0-1"


# The machinery every rule stands on: `fast` (a pattern regrouped for speed must match what it
# was written to match) and word gates (a gate must let through every clause its rule can read,
# or a criterion about the patient silently goes unread).
TEXTS = ["no prior tace", "not allowed", "未接受过", "无肝外转移", "age 18 years old", "aged 75",
         "|x and \\x", "a or b", "cx| d", "c| nothing", "(a) b d", "know nothing; no", "年龄18岁",
         "not now, no", "bd ab", "ba", "nod"]
PATTERNS = [
    r"\bno\b|\bnot\b|未|无",
    r"\bage[ds]?\b|\byears? (?:of age|old)\b|\byrs? old\b|年龄|岁",
    r"[|\\]x|(?:\ba|\bb)|\bc\||d",
    r"\(?\bno\)?|\bnot\b",
    r"(?:\bif\b|\bwhen\b)[^.;]{0,20}$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fast_patterns_match_what_they_were_written_to_match(pattern):
    plain, quick = re.compile(pattern), fast(pattern)
    for text in TEXTS:
        assert [m.span() for m in quick.finditer(text)] == [m.span() for m in plain.finditer(text)], text


def test_fast_gathers_only_top_level_word_led_alternatives():
    """Alternatives inside groups and character classes, and escaped bars, stay where they are."""
    assert fast(r"\bno\b|\bnot\b|未|无").pattern == r"\b(?:no\b|not\b)|未|无"
    assert fast(r"\bno\b|[|\\]\bx|(?:\ba|\bb)|\bc\||d").pattern == \
        r"\b(?:no\b|c\|)|[|\\]\bx|(?:\ba|\bb)|d"
    assert fast(r"\(|\bx|\[\bz|(?:a|\bb)|[(]|\by").pattern == r"\b(?:x|y)|\(|\[\bz|(?:a|\bb)|[(]"
    assert fast(r"\ba|[c|\bd]|\be").pattern == r"\b(?:a|e)|[c|\bd]"          # a bar inside a class
    assert fast(r"\bx|(?:(?:a|b)|\bc)|\by").pattern == r"\b(?:x|y)|(?:(?:a|b)|\bc)"  # nested groups
    # one word-led alternative: nothing to gather
    assert fast(r"\bage\b|年龄").pattern == r"\bage\b|年龄"


def clause(text: str) -> Clause:
    return clauses_of(Criteria(inclusion=(text,)))[0]


def test_a_gate_opens_on_its_words_their_stems_and_its_chinese_terms():
    tace_or_ablation = gate("tace rfa ablation", "消融 栓塞")
    assert tace_or_ablation.open(clause("Prior TACE"))
    assert tace_or_ablation.open(clause("RFA of one lesion"))
    assert tace_or_ablation.open(clause("Ablative therapy"))            # stem "ablat"
    assert tace_or_ablation.open(clause("既往接受过消融治疗"))
    assert tace_or_ablation.open(clause("肝动脉栓塞"))
    assert not tace_or_ablation.open(clause("Prior surgery or radiotherapy"))
    assert not tace_or_ablation.open(clause("Prior tac or abl"))         # short words are whole words
    assert not tace_or_ablation.open(clause("既往手术"))
    assert gate("tumor").open(clause("Tumors larger than 5 cm"))          # a five-letter word is a stem
