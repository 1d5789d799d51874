"""Splitting eligibility texts into inclusion and exclusion items, on the real shapes mirrors and
the registry deliver: Markdown lists, old-record blocks, run-on lines, Chinese headings."""

from __future__ import annotations

import json
from pathlib import Path

from assess.criteria import split_criteria

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(nct: str) -> str:
    return (FIXTURES / "eligibility" / f"{nct}.txt").read_text(encoding="utf-8")


def test_clinicaltrials_markdown_numbered_items_keep_their_nested_items():
    study = json.loads((FIXTURES / "ctgov" / "biomcp_get_nct02576665_20260811.json").read_text())
    criteria = split_criteria(study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"])
    assert len(criteria.inclusion) == 13 and len(criteria.exclusion) == 12
    organ = criteria.inclusion[5]
    assert organ.startswith("Patient has adequate organ function")
    assert "\n- Liver: total bilirubin" in organ           # a nested item stays with its parent
    assert criteria.exclusion[-1] == "Patient has previously participated in the Toca 5 trial (Tg 511-15-01)."
    assert "\\<" not in criteria.exclusion[4] and "< 30 days" in criteria.exclusion[4]


def test_old_record_blocks_and_their_labels():
    criteria = split_criteria(fixture_text("NCT00098943"))
    assert "Age Over 18" in criteria.inclusion
    assert "Performance status ECOG 0-2 OR" in criteria.inclusion
    assert criteria.exclusion == ()


def test_run_on_text_with_roman_numbered_items():
    criteria = split_criteria(fixture_text("NCT00234182"))
    assert criteria.exclusion[:3] == ("patient refusal", "age > 75 years old", "hospital mortality")
    assert criteria.inclusion[0].startswith("All patients who undergo a curvative hepatic resection")


def test_hard_wrapped_numbering_continues_across_lines():
    criteria = split_criteria(fixture_text("NCT01034865"))
    assert criteria.exclusion[0] == "Patients who declined to participate in the study"
    assert criteria.exclusion[1] == "Patients with a history of HIV infection"
    assert len(criteria.exclusion) == 5


def test_items_split_across_lines_are_joined():
    criteria = split_criteria(fixture_text("NCT01774344"))
    assert criteria.inclusion[2].startswith("Failure to prior treatment with sorafenib (defined as "
                                            "documented radiological progression")


def test_chinese_headings_and_numbering():
    text = "入选标准：\n1、年龄18-75岁；\n2、肝功能Child-Pugh A级\n排除标准：\n1. 既往接受过TACE治疗\n（2）门静脉癌栓"
    criteria = split_criteria(text)
    assert criteria.inclusion == ("年龄18-75岁；", "肝功能Child-Pugh A级")
    assert criteria.exclusion == ("既往接受过TACE治疗", "门静脉癌栓")


def test_html_entities_and_escapes_are_decoded():
    criteria = split_criteria("Exclusion Criteria:\n\n* HBV DNA &gt; 2000 IU/mL\n* ALT \\> 5 x ULN &amp;amp; AST")
    assert criteria.exclusion == ("HBV DNA > 2000 IU/mL", "ALT > 5 x ULN & AST")


def test_empty_and_missing_texts():
    assert split_criteria(None).empty and split_criteria("  \n ").empty


def test_fifty_thousand_characters_without_line_breaks_are_cut_not_carried():
    criteria = split_criteria("Inclusion Criteria: " + "x" * 50_000)
    assert len(criteria.inclusion) == 1 and len(criteria.inclusion[0]) <= 4000


def test_a_flattened_list_of_two_items_is_two_items():
    """A mirror that flattened a two-item list onto one line: each item is quoted on its own."""
    consent = ("the patient has signed the informed consent form and is able to comply with the "
               "visits, the tests and the treatment schedule of this study ") * 3
    criteria = split_criteria(f"Exclusion Criteria: - Prior TACE within 4 weeks, {consent.strip()} "
                              "- Child-Pugh B8 or worse liver function")
    assert criteria.exclusion == (f"Prior TACE within 4 weeks, {consent.strip()}",
                                  "Child-Pugh B8 or worse liver function")


def test_a_wrapped_line_of_a_nested_item_stays_with_it():
    criteria = split_criteria("Inclusion Criteria:\n* Adequate organ function:\n  - Bilirubin <= 2 mg/dL"
                              " and\n    ALT < 5 x ULN\n* ECOG 0-1")
    assert criteria.inclusion == ("Adequate organ function:\n- Bilirubin <= 2 mg/dL and ALT < 5 x ULN",
                                  "ECOG 0-1")


def test_windows_and_old_mac_line_ends_and_no_break_spaces():
    windows = split_criteria("Inclusion Criteria:\r\n* Child-Pugh A or\r\n  B7\r\n* Age\u00a0>= 18 years")
    assert windows.inclusion == ("Child-Pugh A or B7", "Age >= 18 years")
    old_mac = split_criteria("Inclusion Criteria:\r* Child-Pugh A or B7\r* ECOG 0-1")
    assert old_mac.inclusion == ("Child-Pugh A or B7", "ECOG 0-1")


def test_numbering_inside_an_item_stays_in_it_and_a_skipped_number_does_not_stop_the_list():
    inline = split_criteria("Inclusion Criteria:\n* Adequate function: 1) bilirubin < 2, 2) ALT < 5 x ULN"
                            "\n* ECOG 0-1")
    assert inline.inclusion == ("Adequate function: 1) bilirubin < 2, 2) ALT < 5 x ULN", "ECOG 0-1")
    skipped = split_criteria("Inclusion Criteria:\n1. Age >= 18\n3. ECOG 0-1 4. Child-Pugh A")
    assert skipped.inclusion == ("Age >= 18", "ECOG 0-1", "Child-Pugh A")


def test_a_label_line_after_a_blank_line_heads_the_next_item_and_joins_no_other():
    criteria = split_criteria("Inclusion Criteria:\n* ECOG 0-1\n\nAge:\n18 to 75 years")
    assert criteria.inclusion == ("ECOG 0-1", "Age: 18 to 75 years")
