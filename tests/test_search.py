"""Searching stored findings (store/search.py) and the `hccwatch search` and `hccwatch web`
commands, run as the real command against a real SQLite file and the replay server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlmodel import update
from test_web import HCC_WATCHLIST, seed, titles

from hccwatch.web_cli import web_app
from store.db import session_scope
from store.models import Finding
from store.queries import get_finding
from store.search import Filters, fts_expression, highlight, search, search_terms

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]


@pytest.fixture
def watchlist_path(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(HCC_WATCHLIST, encoding="utf-8")
    return path


@pytest.fixture
def seeded(engine, settings):
    seed(engine, settings.watchlist)
    return engine


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120, env=env)


def keys(engine, **filters) -> set[str]:
    with session_scope(engine, write=False) as session:
        return {hit.finding.key for hit in search(session, Filters(**filters)).hits}


def test_quoted_phrases_stay_one_term_and_quotes_cannot_inject_operators():
    assert search_terms('liver "conversion therapy"  肝癌') == ["liver", "conversion therapy", "肝癌"]
    assert fts_expression(['a"b', "NEAR(x"]) == '"a""b" "NEAR(x"'


def test_highlight_marks_every_match_case_insensitively():
    parts = highlight("HCC and hcc", ["hcc"])
    assert [(p.text, p.hit) for p in parts] == [("HCC", True), (" and ", False), ("hcc", True)]


def test_search_is_case_insensitive_and_matches_inside_words(seeded):
    assert keys(seeded, q="BEVACIZUMAB") == {"NCT01000001", "pmid:39000001"}
    assert keys(seeded, q="bevaci") == {"NCT01000001", "pmid:39000001"}


def test_a_search_sorted_by_relevance_lists_the_most_relevant_first(seeded, settings):
    """A date range sorts by relevance unless told otherwise: such a search with a term
    answered 500 (the list of ids was read as rows)."""
    with session_scope(seeded) as session:
        for key, relevance in (("pmid:39000001", 0.9), ("NCT01000001", 0.5)):
            session.exec(update(Finding).where(Finding.key == key).values(relevance=relevance))
    with session_scope(seeded, write=False) as session:
        hits = search(session, Filters(q="hepatocellular", sort="relevance")).hits
    assert [hit.finding.key for hit in hits] == ["pmid:39000001", "NCT01000001", "url:https://evil.example/x"]
    with TestClient(web_app(settings)) as client:
        page = client.get("/", params={"q": "hepatocellular", "since": "2026-11-01"})
    assert page.status_code == 200
    assert titles(page.text)[:2] == ["QL1706 with bevacizumab for advanced hepatocellular carcinoma",
                                     "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"]


def test_short_terms_fall_back_to_plain_text_matching(seeded):
    with session_scope(seeded, write=False) as session:
        page = search(session, Filters(q="肝癌"))
    assert page.mode == "like" and len(page.hits) == 2
    assert keys(seeded, q="肝癌", kind="news") == {"url:https://news.example.cn/a/1"}


def test_like_wildcards_are_literal(seeded):
    assert keys(seeded, q="%") == set() and keys(seeded, q="_") == set()


def test_other_language_title_is_searched(seeded):
    assert keys(seeded, q="降期治疗") == {"NCT01000001"}


def test_placeholders_are_never_listed(seeded):
    # An article naming a trial that was never fetched: the trial is stored as a placeholder.
    _store(seeded, _article("77", "Sorafenib after TACE", "See NCT09999999.",
                            mentions=["NCT09999999"]))
    with session_scope(seeded, write=False) as session:
        assert get_finding(session, "NCT09999999").placeholder
    assert "NCT09999999" not in keys(seeded) and "pmid:77" in keys(seeded)
    assert keys(seeded, q="NCT09999999") == {"pmid:77"}  # the article naming it, not the stand-in
    assert "NCT09999999" not in keys(seeded, kind="trial")


def test_search_local_prints_matches_with_their_context(env, engine, settings):
    seed(engine, settings.watchlist)
    table = hcc("search", "tuvonralimab", "--local", env=env)
    assert table.returncode == 0, table.stderr
    assert "pmid:39000001" in table.stdout and "[tuvonralimab]" in table.stdout
    data = json.loads(hcc("search", "肝癌", "--local", "--literal", "--format", "json", env=env).stdout)
    assert {item["key"] for item in data} == {"NCT01000001", "url:https://news.example.cn/a/1"}
    only_feeds = json.loads(hcc("search", "肝癌", "--local", "--literal", "--source", "feeds", "--format", "json",
                                env=env).stdout)
    assert [item["key"] for item in only_feeds] == ["url:https://news.example.cn/a/1"]


def test_live_search_stores_results_tagged_adhoc(env, ctgov):
    result = hcc("search", "pembrolizumab", "--source", "ctgov", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert "NCT05431270" in {item["key"] for item in found}
    assert all("adhoc-pembrolizumab" in item["topics"] for item in found)
    adhoc = json.loads(hcc("findings", "--source", "adhoc", "--format", "json", env=env).stdout)
    assert {item["key"] for item in adhoc} == {item["key"] for item in found}


def test_live_search_exits_1_when_a_source_fails(env, ctgov):
    result = hcc("search", "pembrolizumab", env=env)  # the replay server has no PubMed here
    assert result.returncode == 1
    assert "FAILED pubmed" in result.stderr
    assert "NCT05431270" in result.stdout  # what ClinicalTrials.gov returned is still stored


def test_live_search_refuses_sources_it_cannot_search(env):
    result = hcc("search", "x", "--source", "feeds", env=env)
    assert result.returncode == 2 and "cannot be searched live" in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_web_refuses_a_non_loopback_address(env, host):
    result = hcc("web", "--host", host, env=env)
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr


# How terms are matched: English words by their start anywhere (word index) and by any
# substring of a title; Chinese terms by any substring (trigram index); see store/search.py.

def _store(engine, *records, at=None):
    from datetime import UTC, datetime

    from store.upsert import upsert_record

    with session_scope(engine) as session:
        for record in records:
            upsert_record(session, record, seen_at=at or datetime(2026, 11, 20, tzinfo=UTC))


def _article(pmid: str, title: str, summary: str, **extra):
    from sources.records import Record

    return Record(source="pubmed", kind="article", ids={"pmid": pmid}, title=title,
                  url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", summary=summary, **extra)


def test_summary_words_are_found_by_how_they_start(engine):
    _store(engine, _article("1", "Outcomes of downstaging", "Ten patients underwent liver "
                            "transplantation after yttrium-90 radioembolization."))
    assert keys(engine, q="transplant") == {"pmid:1"}
    assert keys(engine, q="Transplantation") == {"pmid:1"}
    assert keys(engine, q="radioembolisation") == set()  # a different word
    assert keys(engine, q="plantation") == set()  # words are found by how they start
    assert keys(engine, q="staging") == {"pmid:1"}  # titles: any substring
    assert keys(engine, q='"liver transplantation"') == {"pmid:1"}
    assert keys(engine, q='"transplantation liver"') == set()


def test_terms_may_match_in_different_fields(engine):
    _store(engine, _article("2", "Sorafenib after TACE", "Compared with lenvatinib in 120 patients."),
           _article("3", "Lenvatinib alone", "No sorafenib arm."))
    assert keys(engine, q="sorafenib lenvatinib") == {"pmid:2", "pmid:3"}
    assert keys(engine, q="TACE lenvatinib") == {"pmid:2"}


def test_english_code_names_inside_chinese_text_are_found(engine):
    _store(engine, _article("4", "一项II期研究", "研究使用QL1706联合贝伐珠单抗治疗晚期肝细胞癌。", lang="zh"))
    assert keys(engine, q="QL1706") == {"pmid:4"}
    assert keys(engine, q="贝伐珠单抗") == {"pmid:4"}
    assert keys(engine, q="QL1706 贝伐珠单抗") == {"pmid:4"}
    assert keys(engine, q="QL1706 索拉非尼") == set()
    with session_scope(engine, write=False) as session:
        page = search(session, Filters(q="ql1706"))
    assert [(s.text, s.hit) for s in page.hits[0].snippet if s.hit] == [("QL1706", True)]


def test_a_rewritten_summary_is_found_by_its_new_words_only(engine):
    from datetime import UTC, datetime

    _store(engine, _article("5", "Adjuvant therapy", "An early abstract about nivolumab."))
    _store(engine, _article("5", "Adjuvant therapy", "The final abstract about durvalumab."),
           at=datetime(2026, 11, 27, tzinfo=UTC))
    assert keys(engine, q="durvalumab") == {"pmid:5"} and keys(engine, q="nivolumab") == set()


def test_a_store_from_the_previous_version_gets_its_search_index_rebuilt(tmp_path):
    from sqlalchemy import text

    from store.db import open_engine

    path = str(tmp_path / "old.sqlite3")
    engine = open_engine(path)
    _store(engine, _article("6", "Hepatic arterial infusion", "Oxaliplatin based regimens."),
           _article("7", "肝动脉灌注化疗", "奥沙利铂方案的研究。", lang="zh"))
    with engine.begin() as conn:  # what version 2 had: one trigram index holding every summary
        for statement in ("DROP TABLE finding_words", "DROP TABLE finding_fts",
                          "CREATE VIRTUAL TABLE finding_fts USING fts5(title, title_alt, summary, "
                          "tokenize='trigram')",
                          "INSERT INTO finding_fts(rowid, title, title_alt, summary) "
                          "SELECT id, title, coalesce(title_alt, ''), summary FROM finding",
                          "PRAGMA user_version = 2"):
            conn.execute(text(statement))
    engine.dispose()
    engine = open_engine(path)
    assert keys(engine, q="oxaliplatin") == {"pmid:6"}
    assert keys(engine, q="奥沙利铂") == {"pmid:7"}
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA user_version")).scalar_one() == 3
        stored = dict(conn.execute(text("SELECT finding.key, finding_fts.summary FROM finding_fts "
                                        "JOIN finding ON finding.id = finding_fts.rowid")).all())
    assert stored == {"pmid:6": "", "pmid:7": "奥沙利铂方案的研究。"}  # English is indexed by words
    engine.dispose()


def test_more_than_a_page_of_matches_is_counted_and_paged_without_repeats(engine):
    _store(engine, *(_article(str(100 + n), f"Study {n} of atezolizumab" if n % 2 else f"Study {n}",
                              "" if n % 2 else "Atezolizumab in the summary only.") for n in range(120)))
    with session_scope(engine, write=False) as session:
        first = search(session, Filters(q="atezolizumab"), limit=50)
        later = [search(session, Filters(q="atezolizumab"), limit=50, offset=o) for o in (50, 100)]
    shown = [h.finding.key for page in [first, *later] for h in page.hits]
    assert first.total == 120 and len(shown) == len(set(shown)) == 120
    assert first.has_next and not later[-1].has_next
