"""The [patient] profile: every field optional, unknown stays unknown, bad values name the key."""

from __future__ import annotations

import pytest

from assess.profile import Patient, ProfileError, Treatment, patient_from_table


def test_empty_table_is_a_patient_about_whom_nothing_is_known():
    assert patient_from_table({}) == Patient()


def test_full_profile_is_read():
    patient = patient_from_table({
        "label": "the patient", "label_zh": "患者", "birth_year": 1955, "sex": "Male",
        "diagnosis": "hcc", "bclc": "b", "child_pugh": "B7", "ecog": 1, "hbv": "treated",
        "hcv": "none", "vascular_invasion": "Vp2", "extrahepatic": False,
        "prior_treatments": [{"kind": "TACE", "date": "2021-07"},
                             {"kind": "systemic", "date": "2022-01-15", "drugs": ["Lenvatinib"]}],
        "progressed_after": ["tace"], "no_prior": ["transplant"], "measurable_disease": True,
    })
    assert (patient.sex, patient.bclc, patient.child_pugh_class, patient.child_pugh_score) == \
        ("male", "B", "B", 7)
    assert patient.vascular_invasion == "vp2"
    assert patient.prior_treatments == (Treatment("tace", "2021-07"),
                                        Treatment("systemic", "2022-01-15", ("lenvatinib",)))
    assert patient.no_prior == ("transplant",) and patient.progressed_after == ("tace",)


def test_child_pugh_class_alone_leaves_the_score_unknown():
    patient = patient_from_table({"child_pugh": "A"})
    assert (patient.child_pugh_class, patient.child_pugh_score) == ("A", None)


@pytest.mark.parametrize(("table", "key", "words"), [
    ({"child_pugh": "A7"}, "patient.child_pugh", "class A has scores 5-6"),
    ({"child_pugh": "good"}, "patient.child_pugh", "A5, A6, B7"),
    ({"ecog": 7}, "patient.ecog", "0-4"),
    ({"ecog": True}, "patient.ecog", "whole number"),
    ({"sex": "m"}, "patient.sex", "male, female"),
    ({"hbv": "yes"}, "patient.hbv", "none, active, treated"),
    ({"bclc": "E"}, "patient.bclc", "0, A, B, C, D"),
    ({"extrahepatic": "no"}, "patient.extrahepatic", "true or false"),
    ({"vascular_invasion": "vp5"}, "patient.vascular_invasion", "vp1"),
    ({"prior_treatments": [{"kind": "chemo"}]}, "patient.prior_treatments[0].kind", "tace"),
    ({"prior_treatments": [{"kind": "tace", "date": "July 2021"}]},
     "patient.prior_treatments[0].date", "YYYY-MM"),
    ({"prior_treatments": [{"kind": "tace", "when": "2021"}]},
     "patient.prior_treatments[0].when", "unknown key"),
    ({"prior_treatments": "tace"}, "patient.prior_treatments", "must be a list"),
    ({"no_prior": ["tace"], "prior_treatments": [{"kind": "tace"}]}, "patient.no_prior",
     "also listed"),
    ({"no_prior": ["tace"], "progressed_after": ["tace"]}, "patient.progressed_after",
     "also listed"),
    ({"dad": True}, "patient.dad", "unknown key"),
])
def test_bad_value_names_the_key_and_the_reason(table, key, words):
    with pytest.raises(ProfileError) as raised:
        patient_from_table(table)
    assert raised.value.key == key and words in raised.value.reason
    assert str(raised.value).startswith(f"{key}: ") and words in str(raised.value)


def test_facts_say_what_is_known_and_what_the_pre_screen_will_ask():
    """`hccwatch check` shows these lists: a fact stated as false is known, never unknown."""
    patient = patient_from_table({
        "birth_year": 1960, "child_pugh": "A6", "vascular_invasion": False,
        "prior_treatments": [{"kind": "tace", "date": "2021-07"}, {"kind": "resection"},
                             {"kind": "tare", "date": "2022-01"}, {"kind": "haic"}],
        "progressed_after": ["tace"], "no_prior": ["systemic", "transplant"]})
    known, unknown = patient.facts()
    assert known == ["birth year", "Child-Pugh", "vascular invasion", "TACE 2021-07",
                     "resection (no date)", "TARE 2022-01", "HAIC (no date)",
                     "progressed after TACE", "no systemic", "no transplant"]
    assert unknown == ["sex", "diagnosis", "BCLC stage", "ECOG", "hepatitis B", "hepatitis C",
                       "spread outside the liver", "measurable lesion"]
    assert Patient().facts() == ([], ["birth year", "sex", "diagnosis", "BCLC stage", "Child-Pugh",
                                      "ECOG", "hepatitis B", "hepatitis C", "vascular invasion",
                                      "spread outside the liver", "measurable lesion"])
