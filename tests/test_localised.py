"""Status words, ClinicalTrials.gov codes and times read the same on the command line and the
web page: both languages (Recruiting · 招募中, not NOT_YET_RECRUITING -> RECRUITING), the
watchlist's timezone (not UTC on one and local on the other), whole keys a reader can paste,
"news items" (not "newss"). The real commands and app on a real SQLite file."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from test_web import HCC_WATCHLIST, WEEK2, seed

from hccwatch.web_cli import web_app
from sources.records import Record
from store.db import session_scope
from store.upsert import upsert_record
from store.vocab import code_text, field_label, kind_count

LONG_KEY = "url:https://www.example.net/news/2026/11/20/a-very-long-address-of-one-news-item.html"


@pytest.fixture
def watchlist_text() -> str:
    return HCC_WATCHLIST


def hcc(*args: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", *args], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def seeded(engine, settings) -> None:
    seed(engine, settings.watchlist)
    news = Record(source="feed:en", kind="news", ids={"url": LONG_KEY.removeprefix("url:")},
                  title="HCC news", url=LONG_KEY.removeprefix("url:"))
    with session_scope(engine) as session:
        upsert_record(session, news, seen_at=WEEK2)


def test_codes_read_as_words_in_both_languages():
    assert code_text("NOT_YET_RECRUITING") == "Not yet recruiting · 尚未招募"
    assert code_text("INTERVENTIONAL") == "Interventional · 干预性研究"
    assert code_text("CONTACT") == "Contact · 联系人"
    assert code_text("Zhongshan Hospital: RECRUITING") == "Zhongshan Hospital: Recruiting (招募中)"
    assert code_text("PHASE2, PHASE3") == "Phase 2 (II期), Phase 3 (III期)"
    assert code_text("NAFLD-related HCC") == "NAFLD-related HCC"  # words are not codes
    assert field_label("status") == "Trial status · 试验状态"
    assert (kind_count("news", 6), kind_count("trial", 1)) == ("6 news items", "1 trial")


def test_show_and_the_web_page_say_the_same_words_and_times(engine, settings, env):
    seeded(engine, settings)
    text = hcc("show", "NCT01000001", env=env)
    assert "Status             Recruiting · 招募中" in text
    assert ("2026-11-16 16:00  Trial status · 试验状态: Not yet recruiting · 尚未招募 -> "
            "Recruiting · 招募中") in text
    assert "First seen         2026-11-09 16:00" in text and "(times in Asia/Shanghai)" in text
    assert "RECRUITING" not in text
    with TestClient(web_app(settings)) as client:
        page = client.get("/findings/NCT01000001").text
    timeline = re.search(r'<section id="timeline">(.*?)</section>', page, re.S).group(1)
    assert "<time>2026-11-16 16:00</time>" in timeline and "<time>2026-11-09 16:00</time>" in timeline
    assert "Not yet recruiting · 尚未招募" in timeline and "Recruiting · 招募中" in timeline


def test_findings_prints_whole_keys_and_status_words(engine, settings, env):
    seeded(engine, settings)
    table = hcc("findings", env=env)
    assert LONG_KEY in table.splitlines()  # on a line of its own, whole: it can be pasted
    assert "Recruiting · 招募中" in table and "Completed · 已完成" in table
    assert "HCC news" in hcc("show", LONG_KEY, env=env)


def test_status_counts_news_items_and_shows_local_times(engine, settings, env, ctgov):
    seeded(engine, settings)
    hcc("poll", env=env)
    text = hcc("status", env=env)
    assert re.search(r"\b3 news items\b", text) and "newss" not in text
    assert re.search(r"last success \d{4}-\d\d-\d\d \d\d:\d\d\b", text) and "(times in Asia/Shanghai)" in text
    with TestClient(web_app(settings)) as client:
        assert "3 news items" in client.get("/status").text
