"""The evidence wording and the disease's terms are looked for where a match can begin (at a
lead, found with str.find) instead of at every character: the answers must be exactly those of
the plain patterns, on every title and abstract of the recordings and on wordings built to
sit on the edges (a word boundary, a lookbehind, overlapping terms, Chinese next to Latin)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import assess.relevance as relevance
from assess.relevance import Words, fold, term_at, term_pattern
from sources import europepmc, pubmed_parse

FIXTURES = Path(__file__).parent / "fixtures"
EDGES = [
    "A phase II/III randomized placebo-controlled trial", "phase 3", "Phase-Ib/II study", "phase iib",
    "phase 2/3", "III期随机对照试验", "ii期", "iii期", "2期 12期", "a 65-year-old man", "x65-year-old man",
    "covid19-year-old patient", "we present a case", "we present two patients", "A rare case of HCC",
    "showcase of", "rat.", "in rats,", "(mice)", "mouse-derived", "ratio of rates", "HCCs and hcc-related",
    "xhcc hccx hcces", "this meta-analysis", "we performed a systematic review", "promotes growth via",
    "inhibits x by targeting", "an update on", "Here we review", "PRISMA", "肝癌与肝细胞癌", "hepatomas",
    "liver cancers.", "Guidelines", "consensus statement", "position paper", "A retrospective cohort",
    "real-world registry", "小鼠移植瘤", "一例病例报告",
]
TOKENS = ["phase", "ii", "iii", "2", "3", "/", "-", " ", "期", "i", "random", "ized", "controlled", "trial",
          "case", "of", "a", "rare", "we", "report", "present", "65", "-year-old", "man", "mice", "rat", "rats",
          ",", ".", "x", "hcc", "s", "es", "liver", "cancer", "肝癌", "this", "review", "meta", "-analysis",
          "via", "promotes", "by", "targeting", "cohort", "ly", "retrospective", "prisma", "an", "update",
          "here", "cell", "lines", "in vitro", "小鼠", "随机", "对照"]
WORDS = {name: value for name, value in vars(relevance).items() if isinstance(value, Words)}


def _texts() -> list[str]:
    articles = [p for p in sorted((FIXTURES / "pubmed").glob("*.xml"))
                if not any(word in p.name for word in ("entity", "esearch", "esummary"))]
    records = [r for path in articles for r in pubmed_parse.parse_batch(path.read_bytes()).records]
    records += [r for path in sorted((FIXTURES / "europepmc").glob("*.json"))
                if path.read_bytes().lstrip()[:1] == b"{"
                for r in europepmc.parse_page(path.read_bytes()).records]
    found = [fold(text) for r in records for text in (r.title, r.summary or "") if text]
    shuffle = random.Random(13)
    built = ["".join(shuffle.choice(TOKENS) + shuffle.choice(["", " ", "-"]) for _ in range(shuffle.randint(1, 12)))
             for _ in range(4000)]
    return found + [fold(e) for e in EDGES] + built


TEXTS = _texts()


def _plain(words: Words, text: str) -> bool:
    """The rule as written: an anchor occurs, and the pattern matches somewhere."""
    anchors = words.latin if text.isascii() else words.latin + words.chinese
    return any(a in text for a in anchors) and words.pattern.search(text) is not None


@pytest.mark.parametrize("name", sorted(WORDS))
def test_each_wording_rule_finds_exactly_what_its_pattern_finds(name):
    words = WORDS[name]
    answers = [words.search(text) for text in TEXTS]
    assert answers == [_plain(words, text) for text in TEXTS]
    assert any(answers)  # the texts exercise the rule


def test_a_match_always_begins_at_a_lead():
    for name, words in WORDS.items():
        leads = words.leads[0] + words.leads[1]
        for text in TEXTS:
            for match in words.pattern.finditer(text):
                assert text.startswith(leads, match.start()), (name, text[match.start():match.end()])


@pytest.mark.parametrize("term", ["hcc", "hepatocellular carcinoma", "liver cancer", "hepatoma", "肝癌", "a-a"])
def test_the_disease_terms_are_found_where_the_pattern_finds_them(term):
    texts = TEXTS + ["xa-a-a a-a-a", "hcchcc hcc-hcc", "肝癌肝癌"]
    assert [term_at(term, t) for t in texts] == [[m.start() for m in term_pattern(term).finditer(t)] for t in texts]
    assert any(term_at(term, t) for t in texts)

