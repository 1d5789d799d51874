"""Watchlist term matching in English and Chinese: what a reader would call a mention is one,
and look-alikes (TACE in "Stacey") are not."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sources.matching import (
    _DASHES,
    _cjk_needle,
    _cjk_squash,
    _latin_pattern,
    is_cjk,
    match_topics,
    matched_terms,
    normalize,
)

TOPICS = {
    "tace": ["TACE", "chemoembolization", "经动脉化疗栓塞"],
    "ql1706": ["QL1706", "iparomlimab", "艾帕洛利托沃瑞利单抗"],
    "pd1": ["PD-1"],
    "hcc": ["hepatocellular carcinoma", "HCC", "肝细胞癌", "肝癌"],
}


@pytest.mark.parametrize(("text", "expected"), [
    ("Stacey Tacey went home", []),
    ("Outcomes after TACE in BCLC-B", ["TACE"]),
    ("two TACEs before progression", ["TACE"]),
    ("tace-refractory disease", ["TACE"]),
    ("CONTACT with the clinic", []),
])
def test_latin_terms_need_word_boundaries(text, expected):
    assert matched_terms(text, TOPICS["tace"]) == expected


@pytest.mark.parametrize("text", ["anti-PD-1 antibody", "a PD1 inhibitor", "PD 1 blockade",
                                  "PD‑1 (non-breaking hyphen)", "PD－1 (full-width hyphen)"])
def test_pd1_matches_its_spellings_and_dashes(text):
    assert matched_terms(text, TOPICS["pd1"]) == ["PD-1"]


def test_pd1_does_not_match_pdl1_or_pd10():
    assert matched_terms("PD-L1 expression and PD-10 scores", TOPICS["pd1"]) == []


def test_full_width_letters_and_digits_match():
    assert matched_terms("ＱＬ１７０６ 在 ＨＣＣ 中", ["QL1706", "HCC"]) == ["QL1706", "HCC"]


def test_latin_code_right_next_to_chinese_characters_matches():
    text = "患者使用QL1706联合贝伐珠单抗治疗"
    assert matched_terms(text, TOPICS["ql1706"]) == ["QL1706"]


def test_chinese_term_split_by_full_width_punctuation_still_matches():
    text = "研究显示，艾帕洛利·托沃瑞利单抗（QL-1706）在晚期肝细胞癌中……"
    assert match_topics(text, TOPICS) == {
        "ql1706": ["QL1706", "艾帕洛利托沃瑞利单抗"],
        "hcc": ["肝细胞癌"],
    }


def test_chinese_term_split_by_full_width_comma_and_space():
    assert matched_terms("艾帕洛利，托沃瑞利 单抗获批", TOPICS["ql1706"]) == ["艾帕洛利托沃瑞利单抗"]


def test_real_chinese_sentence_about_tace():
    text = "原发性肝癌患者在两次经动脉化疗栓塞（TACE）后疾病进展。"
    assert match_topics(text, TOPICS) == {"tace": ["TACE", "经动脉化疗栓塞"], "hcc": ["肝癌"]}


def test_topics_without_a_match_are_left_out():
    assert match_topics("Sunscreen labeling guidance", TOPICS) == {}


@given(st.text(max_size=200))
def test_any_text_yields_only_watchlist_terms_and_keeps_a_real_mention(text):
    found = match_topics(text, TOPICS)
    assert all(terms and set(terms) <= set(TOPICS[topic]) for topic, terms in found.items())
    # Whatever precedes it, a mention standing on its own is still found.
    assert "HCC" in match_topics(f"{text} . HCC trial", TOPICS).get("hcc", [])


@given(st.sampled_from(["QL1706", "HCC", "TACE", "iparomlimab"]),
       st.sampled_from(["", "In ", "新闻："]), st.sampled_from(["", " trial", "。"]))
def test_full_width_form_of_a_term_is_the_same_term(term, before, after):
    wide = "".join(chr(ord(c) + 0xFEE0) for c in term)
    assert unicodedata.normalize("NFKC", wide) == term
    assert matched_terms(f"{before}{wide}{after}", [term]) == [term]


def test_nct_numbers_are_found_in_chinese_text_and_not_inside_longer_codes():
    from sources.records import find_nct_ids

    text = "IMbrave150（NCT03434379）研究；另见NCT03764293研究。不是 xNCT12345678 或 NCT123456789。"
    assert find_nct_ids(text) == ["NCT03434379", "NCT03764293"]


# The fast paths (an ASCII text skips NFKC and the dash table; spaces collapse by str.split; a
# Latin term's pattern is tried only where its first letters occur; an ASCII text is never
# squashed for CJK terms) must answer exactly as the rules are written.
_SPELLINGS = ["PD-1", "pd 1", "PD\u20131", "ＰＤ－１", "QL-1706", "ql1706联合", "艾帕洛利·托沃瑞利单抗", "TACEs",
              "Stacey", "x\u00a0y\tz\n", "\x1c", "ﬁ", "HCC-related", "hcchcc", "肝细胞癌", "", "  a  "]


@given(st.lists(st.sampled_from(_SPELLINGS + [" ", "-", "\u2212", "a", "1"]), max_size=12).map("".join))
def test_normalize_is_nfkc_one_dash_single_spaces_casefolded(text):
    written = re.sub(f"[{_DASHES}]", "-", unicodedata.normalize("NFKC", text))
    assert normalize(text) == re.sub(r"\s+", " ", written).casefold().strip()


@given(st.lists(st.sampled_from(_SPELLINGS + [" ", "-", "a", "1", "x"]), max_size=12).map("".join))
def test_a_term_is_found_exactly_where_its_pattern_or_needle_says(text):
    norm = normalize(text)
    terms = [t for terms in TOPICS.values() for t in terms]
    expected = [t for t in terms if (_cjk_needle(t) in _cjk_squash(norm) if is_cjk(t)
                                     else _latin_pattern(t).search(norm))]
    assert matched_terms(text, terms) == expected
