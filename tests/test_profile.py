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


KINDS = "tace, tare, haic, ablation, resection, transplant, radiotherapy, systemic"


@pytest.mark.parametrize(("table", "message"), [
    (["tace"], "patient: must be a table ([patient])"),
    ({"label": "  "}, "patient.label: must be a non-empty string"),
    ({"label_zh": 3}, "patient.label_zh: must be a non-empty string"),
    ({"birth_year": 1899}, "patient.birth_year: 1899 is not a whole number 1900-2100"),
    ({"birth_year": 2101}, "patient.birth_year: 2101 is not a whole number 1900-2100"),
    ({"child_pugh": 7}, "patient.child_pugh: 7 is not a class A/B/C or a class with its score "
                        "(A5, A6, B7, ... C15)"),
    ({"vascular_invasion": "vp5"}, "patient.vascular_invasion: 'vp5' is not true, false or a level "
                                   "vp1, vp2, vp3, vp4"),
    ({"prior_treatments": ["tace"]},
     'patient.prior_treatments[0]: must be a table like { kind = "tace", date = "2021-07" }'),
    ({"prior_treatments": [{"kind": "tace", "when": "2021"}]},
     "patient.prior_treatments[0].when: unknown key (known: date, drugs, kind, notes)"),
    ({"prior_treatments": [{"kind": "chemo"}]},
     f"patient.prior_treatments[0].kind: 'chemo' is not one of {KINDS}"),
    ({"prior_treatments": [{"kind": "systemic", "drugs": "sorafenib"}]},
     "patient.prior_treatments[0].drugs: must be a list of drug names"),
    ({"prior_treatments": [{"kind": "systemic", "drugs": ["sorafenib", " "]}]},
     "patient.prior_treatments[0].drugs: must be a list of drug names"),
    ({"prior_treatments": [{"kind": "systemic", "drugs": [3]}]},
     "patient.prior_treatments[0].drugs: must be a list of drug names"),
    ({"no_prior": ["chemo"]}, f"patient.no_prior: 'chemo' is not a treatment kind ({KINDS})"),
    ({"no_prior": [3]}, f"patient.no_prior: 3 is not a treatment kind ({KINDS})"),
    ({"no_prior": "tace"}, "patient.no_prior: must be a list"),
    ({"no_prior": ["tace"], "prior_treatments": [{"kind": "tace"}]},
     "patient.no_prior: 'tace' is also listed in prior_treatments"),
    ({"dad": 1}, "patient.dad: unknown key (known: bclc, birth_year, child_pugh, diagnosis, ecog, "
                 "extrahepatic, hbv, hcv, label, label_zh, measurable_disease, no_prior, notes, "
                 "prior_treatments, progressed_after, sex, vascular_invasion)"),
])
def test_the_whole_one_line_error_a_bad_value_gets(table, message):
    """The loader puts the file and line before it: `watchlist.toml:6: <message>`."""
    with pytest.raises(ProfileError) as raised:
        patient_from_table(table)
    assert str(raised.value) == message
    assert f"{raised.value.key}: {raised.value.reason}" == message


def test_the_limits_of_a_range_are_accepted_and_labels_are_kept():
    edge = patient_from_table({"birth_year": 1900, "ecog": 0, "label": " Dad ", "label_zh": "爸爸",
                               "measurable_disease": False})
    assert (edge.birth_year, edge.ecog, edge.label, edge.label_zh, edge.measurable_disease) == \
        (1900, 0, "Dad", "爸爸", False)
    assert (patient_from_table({"birth_year": 2100, "ecog": 4}).birth_year,
            patient_from_table({"ecog": 4}).ecog) == (2100, 4)
