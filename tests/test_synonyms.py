"""A search for one of a watchlist topic's terms finds the topic's other terms in both
languages and everything tagged with it, says so, and offers the literal search: the web page
(real app, TestClient) and `hccwatch search --local` (the real command), on a real SQLite file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from html import unescape

import pytest
from fastapi.testclient import TestClient

from hccwatch.web_cli import web_app
from sources.records import Record
from store.db import session_scope
from store.search import Filters, search, synonyms_of
from store.upsert import upsert_record

SEEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WATCHLIST = """
timezone = "Asia/Shanghai"

[[topics]]
id = "ql1706"
label = "Iparomlimab and tuvonralimab (QL1706)"
label_zh = "艾帕洛利托沃瑞利单抗（QL1706）"
terms = ["QL1706", "iparomlimab", "tuvonralimab"]
terms_zh = ["艾帕洛利托沃瑞利单抗"]

[[topics]]
id = "conversion-therapy"
label = "Conversion therapy"
label_zh = "转化治疗"
terms = ["conversion therapy", "salvage hepatectomy"]
terms_zh = ["转化治疗", "降期切除"]
"""
ZH_NEWS = "url:https://news.example.cn/ql"
EN_ARTICLE = "pmid:39000011"
TRIAL = "NCT01000011"
PREPRINT = "doi:10.1101/2026.11.01.000001"
ZH_CONVERSION = "url:https://news.example.cn/zh"
UNRELATED = "pmid:39000012"


@pytest.fixture
def watchlist_text() -> str:
    return WATCHLIST


def record(kind: str, ids: dict[str, str], title: str, summary: str, topics: dict[str, list[str]],
           **extra) -> Record:
    return Record(source="pubmed" if kind == "article" else "ctgov" if kind == "trial" else
                  "europepmc" if kind == "preprint" else "feed:cn", kind=kind, ids=ids, title=title,
                  summary=summary, topics=topics, **extra)


RECORDS = [
    record("news", {"url": "https://news.example.cn/ql"}, "艾帕洛利托沃瑞利单抗获批新适应症",
           "齐鲁制药的双抗用于晚期肝细胞癌。", {"ql1706": ["艾帕洛利托沃瑞利单抗"]}, lang="zh"),
    record("article", {"pmid": "39000011"}, "QL1706 plus bevacizumab in advanced HCC",
           "A phase 2 study of QL1706.", {"ql1706": ["QL1706"]}),
    # Found by the topic's own ClinicalTrials.gov query: none of its terms in the text.
    record("trial", {"nct": TRIAL}, "Downstaging unresectable HCC before surgery",
           "Lenvatinib with TACE to make the tumour resectable.",
           {"conversion-therapy": ["query: conversion OR downstaging"]}, status="RECRUITING"),
    record("preprint", {"doi": "10.1101/2026.11.01.000001"}, "Salvage hepatectomy after systemic therapy",
           "Outcomes of salvage hepatectomy.", {"conversion-therapy": ["salvage hepatectomy"]}),
    record("news", {"url": "https://news.example.cn/zh"}, "肝癌转化治疗新进展", "专家谈转化治疗。",
           {"conversion-therapy": ["转化治疗"]}, lang="zh"),
    record("article", {"pmid": "39000012"}, "Sorafenib in advanced HCC", "Sorafenib.", {}),
]


@pytest.fixture
def seeded(engine):
    for item in RECORDS:
        with session_scope(engine) as session:
            upsert_record(session, item, seen_at=SEEN)
    return engine


def topics(watchlist):
    return [(t.id, t.all_terms) for t in watchlist.topics]


def found(engine, q: str, synonyms=None) -> set[str]:
    with session_scope(engine, write=False) as session:
        return {h.finding.key for h in search(session, Filters(q=q, synonyms=synonyms)).hits}


def test_a_topic_term_is_widened_to_its_topic_in_both_languages(watchlist):
    synonyms = synonyms_of("ql1706", topics(watchlist))
    assert synonyms.topics == ("ql1706",)
    assert set(synonyms.terms) == {"QL1706", "iparomlimab", "tuvonralimab", "艾帕洛利托沃瑞利单抗"}
    assert synonyms_of('"Conversion   therapy"', topics(watchlist)).topics == ("conversion-therapy",)
    assert synonyms_of("QL1706 bevacizumab", topics(watchlist)) is None
    assert synonyms_of("sorafenib", topics(watchlist)) is None


def test_ql1706_finds_the_chinese_item_and_the_chinese_name_finds_the_english(seeded, watchlist):
    assert found(seeded, "QL1706") == {EN_ARTICLE}  # literally: the Chinese news is missed
    assert found(seeded, "QL1706", synonyms_of("QL1706", topics(watchlist))) == {EN_ARTICLE, ZH_NEWS}
    zh = "艾帕洛利托沃瑞利单抗"
    assert found(seeded, zh) == {ZH_NEWS}
    assert found(seeded, zh, synonyms_of(zh, topics(watchlist))) == {EN_ARTICLE, ZH_NEWS}


def test_conversion_therapy_in_chinese_finds_everything_tagged_with_it(seeded, watchlist):
    assert found(seeded, "转化治疗") == {ZH_CONVERSION}
    assert found(seeded, "转化治疗", synonyms_of("转化治疗", topics(watchlist))) == {
        TRIAL, PREPRINT, ZH_CONVERSION}


def page_keys(html: str) -> set[str]:
    return {unescape(k) for k in re.findall(r'<p class="meta">\s*<span>([^<]+)</span>', html)}


def test_web_page_says_it_searched_the_synonyms_and_offers_the_literal_search(seeded, settings):
    with TestClient(web_app(settings)) as client:
        page = client.get("/", params={"q": "QL1706"})
        assert page_keys(page.text) == {EN_ARTICLE, ZH_NEWS}
        notice = " ".join(re.sub(r"<[^>]+>", " ", re.search(
            r'<span id="synonyms">(.*?)</a></span>', page.text, re.S).group(1)).split())
        assert "艾帕洛利托沃瑞利单抗" in notice and "tuvonralimab" in notice and "Search only “QL1706”" in notice
        literal = unescape(re.search(r'<a id="literal" href="([^"]+)"', page.text).group(1))
        assert page_keys(client.get(literal).text) == {EN_ARTICLE}
        assert page_keys(client.get("/", params={"q": "转化治疗"}).text) == {TRIAL, PREPRINT, ZH_CONVERSION}


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hccwatch.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_search_local_widens_says_so_and_literal_does_not(seeded, env):
    result = run("search", "--local", "转化治疗", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert {item["key"] for item in json.loads(result.stdout)} == {TRIAL, PREPRINT, ZH_CONVERSION}
    assert "also searched" in result.stderr and "--literal" in result.stderr
    table = run("search", "--local", "QL1706", env=env)
    assert "'QL1706' is a watchlist term: also searched" in table.stdout
    assert "2 match(es)" in table.stdout
    literal = run("search", "--local", "--literal", "QL1706", "--format", "json", env=env)
    assert [item["key"] for item in json.loads(literal.stdout)] == [EN_ARTICLE]
    assert literal.stderr == ""
