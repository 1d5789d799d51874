"""Polling feeds end to end against the replay server: only watchlist matches are stored, the
second poll of an unchanged feed is one 304 and nothing else, and a bad feed fails alone."""

from __future__ import annotations

import unicodedata
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import fixture_bytes
from sqlmodel import func, select

from hccwatch.settings import Settings
from hccwatch.watchlist import load_watchlist
from pipeline.engine import poll
from pipeline.plan import client_for, keep_matching, plan
from pipeline.tagging import Tagger
from replay.demo import add_feed_routes
from replay.server import Response, StaticHandler
from sources.feeds import parse_feed
from store.db import session_scope, utcnow
from store.models import Finding, FindingSource, Link, SourceState, TopicMatch
from store.queries import describe, list_findings
from store.stories import story_members

FEEDS = {
    "fda": ("constructed_fda_oncology_rss.xml", "en", "regulator", "application/rss+xml"),
    "gnews-zh": ("constructed_google_news_zh.xml", "zh", "news", "application/rss+xml"),
    "health-cn": ("constructed_chinese_news_gbk.xml", "zh", "news", "application/rss+xml"),
    "onc-news": ("constructed_oncology_news_unescaped_ampersand.xml", "en", "news",
                 "application/rss+xml; charset=utf-8"),
}

TOPICS = """
[[topics]]
id = "hcc"
label = "HCC"
terms = ["hepatocellular carcinoma", "HCC", "liver cancer"]
terms_zh = ["肝细胞癌", "肝癌"]

[[topics]]
id = "ql1706"
label = "QL1706"
terms = ["QL1706", "iparomlimab", "tuvonralimab"]
terms_zh = ["艾帕洛利托沃瑞利单抗"]

[[topics]]
id = "atezolizumab-bevacizumab"
label = "T+A"
terms = ["atezolizumab"]

[[topics]]
id = "tace"
label = "TACE"
terms = ["TACE", "chemoembolization"]
terms_zh = ["经动脉化疗栓塞"]
"""


def feed_table(name: str, url: str, lang: str, kind: str | None = None) -> str:
    kind_line = f'kind = "{kind}"\n' if kind else ""
    return f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\nlang = "{lang}"\n{kind_line}'


@pytest.fixture
def feed_server(replay):
    handler = StaticHandler()
    for filename, _lang, _kind, content_type in FEEDS.values():
        handler.put(f"/feeds/{filename}", fixture_bytes(f"feeds/{filename}"), content_type)
    replay.route("/feeds/", handler)
    return handler


def write_watchlist(tmp_path: Path, tables: str):
    path = tmp_path / "feeds-watchlist.toml"
    path.write_text(TOPICS + tables, encoding="utf-8")
    return load_watchlist(path)


@pytest.fixture
def feeds_watchlist(tmp_path, replay, feed_server):
    return write_watchlist(tmp_path, "".join(
        feed_table(name, f"{replay.url}/feeds/{filename}", lang, kind)
        for name, (filename, lang, kind, _ct) in FEEDS.items()))


def run(engine, settings, watchlist):
    events = []
    with ExitStack() as stack:
        tasks = plan(settings, watchlist, stack, sources=["feeds"],
                     progress=lambda e: events.append(e.stage))
        report = poll(engine, watchlist, tasks, progress=lambda e: events.append(e.stage))
    return report, events


def stored(engine):
    with session_scope(engine, write=False) as session:
        return describe(session, list_findings(session))


def count(engine, model):
    with session_scope(engine, write=False) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_first_poll_stores_only_items_that_match_a_topic(engine, settings, feeds_watchlist):
    report, _ = run(engine, settings, feeds_watchlist)
    assert report.ok, report.errors
    titles = {f["title"] for f in stored(engine)}
    assert "FDA issues guidance on sunscreen labeling (sample)" not in titles
    assert "冬季养生小贴士（示例）" not in titles and "某地举办马拉松比赛（示例）" not in titles
    assert "艾帕洛利·托沃瑞利单抗在肝癌一线治疗中的研究进展（示例）" in titles
    assert "TACE device recall (sample)" in titles
    assert len(titles) == 10


def test_feed_items_carry_source_topics_and_press_label(engine, settings, feeds_watchlist):
    run(engine, settings, feeds_watchlist)
    items = {f["title"]: f for f in stored(engine)}
    fda = items["FDA approves atezolizumab plus bevacizumab label update for unresectable "
                "hepatocellular carcinoma (sample)"]
    assert fda["kind"] == "news" and fda["sources"] == ["feed:fda"]
    assert fda["evidence"] == "press release"
    assert {"hcc", "atezolizumab-bevacizumab"} <= set(fda["topics"])
    zh = items["艾帕洛利托沃瑞利单抗（QL1706）联合贝伐珠单抗治疗肝细胞癌研究公布（示例）"]
    assert zh["lang"] == "zh" and zh["details"]["source_name"] == "新浪财经"
    assert zh["url"] == "https://finance.sina.com.cn/jjxw/2026-11-18/doc-example1706.shtml"
    assert set(zh["topics"]) == {"hcc", "ql1706"}


def test_news_naming_a_trial_links_to_it(engine, settings, feeds_watchlist):
    run(engine, settings, feeds_watchlist)
    with session_scope(engine, write=False) as session:
        trial = session.exec(select(Finding).where(Finding.key == "NCT09900001")).one()
        assert trial.placeholder
        assert len(session.exec(select(Link).where(Link.dst_id == trial.id)).all()) == 2


def test_second_poll_of_unchanged_feeds_is_one_304_each_and_writes_nothing(
        engine, settings, feeds_watchlist, replay):
    run(engine, settings, feeds_watchlist)
    before = stored(engine)
    first_requests = len(replay.requests("/feeds/"))
    report, events = run(engine, settings, feeds_watchlist)
    second = replay.requests("/feeds/")[first_requests:]
    assert len(second) == len(FEEDS)
    assert all(r.headers.get("if-none-match") for r in second)
    assert "page" not in events  # nothing parsed
    assert all(r.fetched == 0 and r.new == 0 and r.updated == 0 for r in report.results.values())
    assert stored(engine) == before
    with session_scope(engine, write=False) as session:
        states = session.exec(select(SourceState).where(SourceState.source == "feed:fda")).all()
    assert states[0].etag and states[0].last_modified and states[0].last_error is None


def test_changed_feed_is_fetched_in_full_again(engine, settings, feeds_watchlist, feed_server):
    run(engine, settings, feeds_watchlist)
    path = "/feeds/constructed_fda_oncology_rss.xml"
    body, content_type = feed_server.files[path]
    feed_server.put(path, body.replace(b"label update", b"label update (revised)"), content_type)
    report, _ = run(engine, settings, feeds_watchlist)
    assert report.results["feed:fda"].fetched == 4
    assert report.results["feed:fda"].updated == 1


def test_undated_item_keeps_its_first_date_when_the_feed_has_no_validators(
        engine, settings, tmp_path, replay):
    body = fixture_bytes("feeds/constructed_fda_oncology_rss.xml")
    replay.route("/plain/", lambda request: Response(200, body, "application/rss+xml"))
    watchlist = write_watchlist(tmp_path, feed_table("plain", f"{replay.url}/plain/fda.xml", "en"))
    run(engine, settings, watchlist)
    first = {f["title"]: f for f in stored(engine)}
    report, _ = run(engine, settings, watchlist)
    assert report.results["feed:plain"].fetched == 4
    assert report.results["feed:plain"].updated == 0
    again = {f["title"]: f for f in stored(engine)}
    undated = "Advisory committee to discuss durvalumab and tremelimumab in HCC (sample, undated)"
    assert again[undated]["published"] == first[undated]["published"]
    assert again[undated]["details"]["date_missing"] is True


def test_near_duplicate_news_from_two_feeds_is_one_story(engine, settings, feeds_watchlist):
    run(engine, settings, feeds_watchlist)
    with session_scope(engine, write=False) as session:
        fda = session.exec(select(Finding).where(Finding.key == (
            "url:https://www.example.org/news-events/press-announcements/fda-approves-atezolizumab-hcc-sample"))).one()
        members = story_members(session, fda.story_key)
        sources = {s.source for m in members for s in session.exec(
            select(FindingSource).where(FindingSource.finding_id == m.id))}
    assert len(members) == 2 and sources == {"feed:fda", "feed:onc-news"}


@pytest.mark.parametrize(("setup", "reason"), [
    (lambda r: r.route("/bad/", lambda q: Response(200, fixture_bytes(
        "feeds/constructed_html_error_page.html"), "text/html")), "not a feed: got an HTML page"),
    (lambda r: r.route("/bad/", lambda q: Response(200, b"", "application/rss+xml")),
     "not a feed: the response was empty"),
    (lambda r: r.route("/bad/", lambda q: Response(302, b"", "text/plain", {"Location": q.path})),
     "too many redirects"),
    (lambda r: r.route("/bad/", lambda q: Response(302, b"", "text/plain",
                                                   {"Location": "ftp://example.org/feed.xml"})),
     "unsupported URL scheme"),
    (lambda r: r.route("/bad/", lambda q: Response(200, fixture_bytes(
        "feeds/constructed_atom_entity_bomb.xml"), "application/atom+xml")), "declares XML entities"),
])
def test_a_bad_feed_fails_alone_with_its_reason(engine, settings, tmp_path, replay, feed_server,
                                                setup, reason):
    setup(replay)
    watchlist = write_watchlist(tmp_path, feed_table("bad", f"{replay.url}/bad/feed.xml", "en")
                                + feed_table("fda", f"{replay.url}/feeds/constructed_fda_oncology_rss.xml", "en"))
    report, _ = run(engine, settings, watchlist)
    assert len(report.errors) == 1 and reason in report.errors[0]
    assert report.results["feed:fda"].new == 4
    with session_scope(engine, write=False) as session:
        state = session.get(SourceState, ("feed:bad", "bad"))
    assert reason in state.last_error and state.consecutive_failures == 1 and state.cursor is None


def test_a_50_mb_feed_is_refused_by_the_size_cap(engine, settings, tmp_path, replay):
    huge = b"<rss>" + b" " * (50 * 1024 * 1024)
    replay.route("/huge/", lambda q: Response(200, huge, "application/rss+xml"))
    watchlist = write_watchlist(tmp_path, feed_table("huge", f"{replay.url}/huge/feed.xml", "en"))
    report, _ = run(engine, settings, watchlist)
    assert len(report.errors) == 1 and "exceeds the 10485760-byte limit" in report.errors[0]
    assert count(engine, Finding) == 0


def test_topic_filter_alone_does_not_poll_feeds(engine, settings, feeds_watchlist):
    with ExitStack() as stack:
        tasks = plan(settings, feeds_watchlist, stack, topics=["hcc"], sources=["feeds"],
                     progress=lambda _e: None)
    assert tasks == []


def test_demo_routes_serve_feeds_that_match_the_default_watchlist(replay):
    entries = add_feed_routes(replay)
    tagger = Tagger(load_watchlist(Path(__file__).parent.parent / "hccwatch" / "watchlist.toml"))
    assert len(entries) == 3 and {lang for _name, _url, lang in entries} == {"en", "zh"}
    with client_for(Settings(), rate=100.0) as client:
        for name, url, lang in entries:
            response = client.get(url)
            parsed = parse_feed(response.content, response.headers, name, lang, utcnow(),
                                base_url=response.url)
            assert parsed.bozo is None and keep_matching(parsed.records, tagger), name


def test_topic_matches_are_recorded_as_found_by_matching(engine, settings, feeds_watchlist):
    run(engine, settings, feeds_watchlist)
    with session_scope(engine, write=False) as session:
        vias = {m.via for m in session.exec(select(TopicMatch))}
    assert vias == {"match"}


def squeezed(text: str) -> str:
    """Letters and digits only, NFKC and case-folded: how a term can be looked for in a text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")


def test_each_stored_feed_item_carries_the_terms_it_mentions_once(engine, settings,
                                                                   feeds_watchlist):
    report, _events = run(engine, settings, feeds_watchlist)
    with session_scope(engine, write=False) as session:
        findings = {f.id: f for f in session.exec(select(Finding)) if not f.placeholder}
        matches = list(session.exec(select(TopicMatch)))
    assert report.ok and findings
    assert {m.finding_id for m in matches} == set(findings)  # nothing about no topic is kept
    for match in matches:
        finding = findings[match.finding_id]
        text = squeezed(f"{finding.title} {finding.summary or ''}")
        assert match.via == "match" and match.terms and len(match.terms) == len(set(match.terms))
        assert all(squeezed(term) in text for term in match.terms), (finding.title, match.terms)
