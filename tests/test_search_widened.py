"""A search widened to a watchlist topic's terms (store.search.synonym_queries: one FTS5 query
per index with the terms OR-ed, the short terms by plain text, the topic's tagged findings, in one
statement) finds exactly what searching each term alone and filtering by the topic find together:
the same findings in the same order, placeholders left out, English and Chinese terms, terms
that look like FTS5 syntax searched as text. The web page and `hccwatch search --local` list the
same findings. On a real SQLite file, through the real app (TestClient) and the real command."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select, update
from test_synonyms import run

from hccwatch.web_cli import web_app
from sources.records import Record
from store.db import session_scope
from store.models import Finding, TopicMatch
from store.search import Filters, search, synonyms_of
from store.upsert import upsert_record

SEEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
# The watchlist is the family's to edit (and the web page adds topics from typed terms), so a
# term may look like FTS5 syntax: it must be searched as text.
HOSTILE = 'IMbrave150" OR "sorafenib'
WATCHLIST = f"""
timezone = "Asia/Shanghai"

[[topics]]
id = "atezo-bev"
label = "Atezolizumab plus bevacizumab"
label_zh = "阿替利珠单抗联合贝伐珠单抗"
terms = ["atezolizumab", "Tecentriq", "atezo/bev", "NEAR(", '{HOSTILE}', "NCT04102098"]
terms_zh = ["阿替利珠单抗", "泰圣奇", "双抗"]

[[topics]]
id = "transplant"
label = "Liver transplant"
label_zh = "肝移植"
terms = ["liver transplant"]
terms_zh = ["肝移植"]
"""


def record(key: str, kind: str, title: str, summary: str = "", topics: dict | None = None,
           **extra) -> Record:
    scheme, _, value = key.partition(":")
    ids = {"nct": key} if key.startswith("NCT") else {scheme: value}
    source = {"article": "pubmed", "trial": "ctgov", "news": "feed:cn"}[kind]
    return Record(source=source, kind=kind, ids=ids, title=title, summary=summary,
                  topics=topics or {}, **extra)


# Stored before the topic was watched, so not tagged with it: only the text finds these.
BY_TEXT = [
    record("pmid:39100001", "article", "Atezolizumab plus bevacizumab in unresectable HCC",
           "Objective response in a phase 3 trial."),  # words
    record("url:https://news.example.org/bev", "news", "Real-world atezo-bevacizumab outcomes"),
    # "atezo/bev" by words, the last one a prefix
    record("url:https://news.example.cn/zh", "news", "阿替利珠单抗联合贝伐珠单抗一线治疗肝细胞癌",
           "中国获批。", lang="zh"),  # trigrams of a Chinese title
    record("url:https://news.example.cn/roche", "news", "Roche widens a label",
           "泰圣奇获批肝癌新适应症。"),  # trigrams of a Chinese summary
    record("url:https://news.example.cn/short", "news", "双抗时代的肝癌治疗", "专家访谈。",
           lang="zh"),  # two characters: plain text (LIKE)
    record("pmid:39100002", "article", "Nearly half of tumours shrank after TACE"),  # "NEAR(" by words
    record("pmid:39100003", "article", "IMbrave150 or sorafenib: a five-year update"),  # the hostile phrase
    record("pmid:39100004", "article", "Post-hoc analysis of NCT04102098",
           mentions=["NCT04102098"]),  # names the trial: a placeholder is stored for it
]
# Found by the topic's own query: none of its terms in the text, only the tag finds it.
TAGGED = record("NCT05000001", "trial", "Downstaging unresectable HCC before surgery",
                "Lenvatinib with TACE.", {"atezo-bev": ["query: atezolizumab"]}, status="RECRUITING")
ELSEWHERE = [
    record("pmid:39100005", "article", "Sorafenib in advanced HCC", "Sorafenib versus placebo."),
    record("pmid:39100006", "article", "Liver transplant after downstaging", "",
           {"transplant": ["liver transplant"]}),
]
EXPECTED = [r.ids["nct"] if "nct" in r.ids else ":".join(*r.ids.items()) for r in [*BY_TEXT, TAGGED]]


@pytest.fixture
def watchlist_text() -> str:
    return WATCHLIST


@pytest.fixture
def seeded(engine):
    """The records above, one poll apart (ids follow first-seen times, as polls store them),
    and the placeholder made searchable and tagged, so that every part of the widened search
    would list it if placeholders were not left out."""
    for n, item in enumerate([*BY_TEXT, TAGGED, *ELSEWHERE]):
        with session_scope(engine) as session:
            upsert_record(session, item, seen_at=SEEN + timedelta(hours=n))
    with session_scope(engine) as session:
        placeholder = session.exec(select(Finding).where(Finding.key == "NCT04102098")).one()
        assert placeholder.placeholder
        placeholder.title, placeholder.summary = "NCT04102098 atezolizumab 阿替利珠单抗", "双抗"
        session.add(placeholder)  # the update trigger indexes the new text
        session.add(TopicMatch(finding_id=placeholder.id, topic="atezo-bev", terms=["NCT04102098"]))
    return engine


def widened(watchlist, q: str):
    return synonyms_of(q, [(t.id, t.all_terms) for t in watchlist.topics])


def ids_of(session, filters: Filters) -> list[int]:
    return [hit.finding.id for hit in search(session, filters, limit=1000).hits]


def one_by_one(session, synonyms, **filters) -> list[int]:
    """What the widened search was before it was one statement: each term alone, as a quoted
    phrase, and each topic as a filter; merged newest first."""
    found = {i for term in synonyms.terms
             for i in ids_of(session, Filters(q='"' + term.replace('"', " ") + '"', **filters))}
    found |= {i for topic in synonyms.topics for i in ids_of(session, Filters(topic=topic, **filters))}
    return sorted(found, reverse=True)


def keys(session, ids: list[int]) -> list[str]:
    by_id = dict(session.exec(select(Finding.id, Finding.key).where(col(Finding.id).in_(ids))).all())
    return [by_id[i] for i in ids]


@pytest.mark.parametrize("q", ["atezolizumab", "阿替利珠单抗", "双抗", "NEAR("])
@pytest.mark.parametrize("filters", [{}, {"kind": "news"}, {"sources": ("pubmed",)}, {"sort": "relevance"}],
                         ids=["all", "news", "pubmed", "relevance"])
def test_widened_search_finds_what_each_term_and_the_topic_find_together(seeded, watchlist, q, filters):
    synonyms = widened(watchlist, q)
    assert synonyms.topics == ("atezo-bev",) and HOSTILE in synonyms.terms
    with session_scope(seeded, write=False) as session:
        expected = one_by_one(session, synonyms, **filters)
        page = search(session, Filters(q=q, synonyms=synonyms, **filters), limit=1000)
        assert [hit.finding.id for hit in page.hits] == expected
        assert (page.total, page.capped, page.mode) == (len(expected), False, "synonyms")
        if not filters:  # what the two searches agree on, named
            assert keys(session, expected) == list(reversed(EXPECTED))


def test_sorted_by_relevance_the_widened_search_lists_the_most_relevant_first(seeded, watchlist, settings):
    """A date range sorts by relevance by default (this page answered 500 while the id list was
    read as rows)."""
    with session_scope(seeded) as session:
        for n, key in enumerate(["pmid:39100002", "url:https://news.example.cn/zh", "NCT05000001"]):
            session.exec(update(Finding).where(Finding.key == key).values(relevance=0.9 - n / 10))
    most_relevant = ["pmid:39100002", "url:https://news.example.cn/zh", "NCT05000001"]
    with session_scope(seeded, write=False) as session:
        page = search(session, Filters(q="Tecentriq", synonyms=widened(watchlist, "Tecentriq"),
                                       sort="relevance"), limit=1000)
    listed = [hit.finding.key for hit in page.hits]
    assert listed[:3] == most_relevant and set(listed) == set(EXPECTED)
    with TestClient(web_app(settings)) as client:
        answer = client.get("/", params={"q": "Tecentriq", "since": "2026-11-01"})
    assert answer.status_code == 200
    assert [k for k in page_keys_in_order(answer.text) if k in most_relevant] == most_relevant


def page_keys_in_order(html: str) -> list[str]:
    return [unescape(k) for k in re.findall(r'<p class="meta">\s*<span>([^<]+)</span>', html)]


@pytest.mark.parametrize("q", ['"', "*", "NEAR(", "OR", "-", "^", "NOT", "(", "title:sorafenib",
                               '"unclosed', "sorafenib OR atezolizumab", "sorafenib*", "{title}: HCC"])
def test_typed_fts_syntax_is_searched_as_text(seeded, watchlist, settings, q):
    """Each typed query answers a page; none acts as an operator: 'sorafenib OR atezolizumab'
    needs all three words, 'title:sorafenib' is not a column filter."""
    synonyms = widened(watchlist, q)
    with session_scope(seeded, write=False) as session:
        literal = search(session, Filters(q=q), limit=1000)
        if synonyms:
            assert ids_of(session, Filters(q=q, synonyms=synonyms)) == one_by_one(session, synonyms)
    if q in ("title:sorafenib", "sorafenib OR atezolizumab", "{title}: HCC"):
        assert literal.hits == []
    with TestClient(web_app(settings)) as client:
        answer = client.get("/", params={"q": q})
    assert answer.status_code == 200


@pytest.mark.parametrize("q", ["atezolizumab", "阿替利珠单抗"])
def test_the_command_and_the_web_page_list_the_same_findings(seeded, settings, env, q):
    result = run("search", "--local", q, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    from_command = [item["key"] for item in json.loads(result.stdout)]
    with TestClient(web_app(settings)) as client:
        from_page = page_keys_in_order(client.get("/", params={"q": q}).text)
    assert from_command == from_page == list(reversed(EXPECTED))
