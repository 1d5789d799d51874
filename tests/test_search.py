"""Searching stored findings (store/search.py) and the `hccwatch search` and `hccwatch web`
commands, run as the real command against a real SQLite file and the replay server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_web import HCC_WATCHLIST, seed

from store.db import session_scope
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
    # The article names NCT01000001, which is stored; nothing else is a placeholder here.
    assert len(keys(seeded)) == 5


def test_search_local_prints_matches_with_their_context(env, engine, settings):
    seed(engine, settings.watchlist)
    table = hcc("search", "tuvonralimab", "--local", env=env)
    assert table.returncode == 0, table.stderr
    assert "pmid:39000001" in table.stdout and "[tuvonralimab]" in table.stdout
    data = json.loads(hcc("search", "肝癌", "--local", "--format", "json", env=env).stdout)
    assert {item["key"] for item in data} == {"NCT01000001", "url:https://news.example.cn/a/1"}
    only_feeds = json.loads(hcc("search", "肝癌", "--local", "--source", "feeds", "--format", "json",
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
