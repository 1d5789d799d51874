"""The browse UI through FastAPI's TestClient on a real SQLite file: findings list, search in
English and Chinese, filters, a finding's timeline, topics, digests, status, Atom feeds, ad-hoc
searches against the replay server, CSRF, escaping of hostile data, and error pages."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html import unescape

import feedparser
import pytest
from fastapi.testclient import TestClient

from hccwatch.watchlist import load_watchlist
from hccwatch.web_cli import web_app
from pipeline.tagging import Tagger
from sources.records import Location, Record
from store.db import session_scope
from store.upsert import upsert_record

WEEK1 = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
WEEK2 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
XSS_TITLE = '<script>alert("xss-title")</script><img src=x onerror=alert(1)>'
XSS_SUMMARY = '"><svg onload=alert(2)> <b onmouseover=alert(3)>bold</b>'
XSS_URL = "javascript:alert(4)"

HCC_WATCHLIST = """
timezone = "Asia/Shanghai"

[[topics]]
id = "hcc"
label = "Hepatocellular carcinoma"
label_zh = "肝细胞癌"
terms = ["hepatocellular carcinoma", "HCC"]
terms_zh = ["肝细胞癌", "肝癌"]
ctgov = { cond = "hepatocellular carcinoma" }

[[topics]]
id = "atezo-bev"
label = "Atezolizumab + bevacizumab"
label_zh = "阿替利珠单抗联合贝伐珠单抗"
terms = ["atezolizumab"]
terms_zh = ["阿替利珠单抗"]

[[topics]]
id = "melanoma"
label = "Melanoma"
terms = ["melanoma"]
ctgov = { cond = "melanoma" }

[[places]]
name = "Seattle"
label_zh = "西雅图"
match = ["Seattle", "Fred Hutchinson Cancer Center"]
"""


@pytest.fixture
def watchlist_text() -> str:
    return HCC_WATCHLIST


def trial(status: str) -> Record:
    return Record(
        source="ctgov", kind="trial", ids={"nct": "NCT01000001"},
        title="Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma",
        title_alt="阿替利珠单抗联合贝伐珠单抗用于肝癌肝移植前降期治疗",
        url="https://clinicaltrials.gov/study/NCT01000001",
        summary="A phase 2 study of downstaging unresectable HCC before transplant.",
        published="2026-10-01", evidence="Phase 2 trial", status=status, phases=["PHASE2"],
        locations=[Location("Fred Hutchinson Cancer Center", "Seattle", "Washington",
                            "United States", status)],
        details={"sponsor": "Example Sponsor", "conditions": ["Hepatocellular Carcinoma"]})


def seed_records() -> list[tuple[datetime, Record]]:
    """A week-1 and week-2 view of one trial, an article naming it, Chinese news, hostile news."""
    article = Record(source="pubmed", kind="article", ids={"pmid": "39000001", "doi": "10.1000/demo.1"},
                     title="QL1706 with bevacizumab for advanced hepatocellular carcinoma",
                     url="https://pubmed.ncbi.nlm.nih.gov/39000001/",
                     summary="Patients in NCT01000001 and others received iparomlimab and tuvonralimab.",
                     published="2026-11-02", evidence="Phase 2 trial", mentions=["NCT01000001"])
    news = Record(source="feed:cn-news", kind="news", ids={"url": "https://news.example.cn/a/1"},
                  title="肝癌转化治疗取得新进展", url="https://news.example.cn/a/1",
                  summary="专家介绍了肝细胞癌转化治疗和肝移植的最新研究。", lang="zh")
    hostile = Record(source="feed:evil", kind="news", ids={"url": "https://evil.example/x"},
                     title=XSS_TITLE + " hepatocellular carcinoma", url=XSS_URL,
                     summary=XSS_SUMMARY + " hepatocellular carcinoma", lang="en")
    melanoma = Record(source="ctgov", kind="trial", ids={"nct": "NCT01000002"},
                      title="Pembrolizumab in melanoma", url="https://clinicaltrials.gov/study/NCT01000002",
                      summary="Melanoma study.", status="COMPLETED", evidence="Phase 3 RCT",
                      phases=["PHASE3"])
    return [(WEEK1, trial("NOT_YET_RECRUITING")), (WEEK1, melanoma), (WEEK2, trial("RECRUITING")),
            (WEEK2, article), (WEEK2, news), (WEEK2, hostile)]


def seed(engine, watchlist_file: str) -> None:
    tagger = Tagger(load_watchlist(watchlist_file))
    for seen_at, record in seed_records():
        with session_scope(engine) as session:
            upsert_record(session, tagger.tag(record, found_by=None), seen_at=seen_at)


@pytest.fixture
def client(settings, engine):
    seed(engine, settings.watchlist)
    with TestClient(web_app(settings)) as test_client:
        yield test_client


def titles(html: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", t)).strip()
            for t in re.findall(r'<li class="finding">.*?<h2><a [^>]*>(.*?)</a></h2>', html, re.S)]


def count_line(html: str) -> str:
    return " ".join(re.search(r'<p class="count" id="count">(.*?)</p>', html, re.S).group(1).split())


def test_findings_page_lists_everything_newest_first(client):
    page = client.get("/")
    assert page.status_code == 200
    shown = titles(page.text)
    assert len(shown) == 5
    assert set(shown[-2:]) == {"Pembrolizumab in melanoma",  # first seen in week 1
                               "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"}
    assert count_line(page.text).startswith("5 findings")
    assert "Hepatocellular carcinoma" in page.text and "肝细胞癌" in page.text  # bilingual label


def test_english_search_highlights_the_matches(client):
    page = client.get("/", params={"q": "bevacizumab"})
    assert set(titles(page.text)) == {
        "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma",
        "QL1706 with bevacizumab for advanced hepatocellular carcinoma"}
    assert "<mark>bevacizumab</mark>" in page.text
    assert "<mark>tuvonralimab</mark>" in client.get("/", params={"q": "tuvonralimab"}).text


def test_two_character_chinese_term_is_found(client):
    page = client.get("/", params={"q": "肝癌", "literal": "1"})  # not widened to its topic
    assert set(titles(page.text)) == {
        "肝癌转化治疗取得新进展",
        "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"}
    assert "<mark>肝癌</mark>" in page.text


def test_longer_chinese_term_uses_full_text_search(client):
    page = client.get("/", params={"q": "转化治疗"})
    assert titles(page.text) == ["肝癌转化治疗取得新进展"]
    assert "<mark>转化治疗</mark>" in page.text


def test_mixed_short_and_long_terms_must_all_match(client):
    assert titles(client.get("/", params={"q": "肝癌 transplant"}).text) == [
        "Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"]
    assert titles(client.get("/", params={"q": "肝癌 melanoma"}).text) == []


def test_search_syntax_is_taken_literally(client):
    """Quotes, operators, wildcards and SQL are text: a query finds what holds its words, never
    what the syntax would select (a OR b everything, % and _ every title, ') OR 1=1 all rows)."""
    expected = {
        '"': 1,  # only the hostile title holds a quote
        "NEAR(a b)": 0, "%": 0, "_": 0, "') OR 1=1 --": 0,
        "a OR b": 3,  # the titles holding "a", "or" and "b", not every title with a or b
    }
    for q, count in expected.items():
        page = client.get("/", params={"q": q})
        assert page.status_code == 200 and len(titles(page.text)) == count, q
    assert titles(client.get("/", params={"q": "bevaci*"}).text) == \
        titles(client.get("/", params={"q": "bevaci"}).text)  # * is not a wildcard of its own


@pytest.mark.parametrize(("params", "expected"), [
    ({"kind": "trial"}, 2),
    ({"kind": "news"}, 2),
    ({"topic": "melanoma"}, 1),
    ({"topic": "atezo-bev"}, 1),
    ({"status": "RECRUITING"}, 1),
    ({"evidence": "Phase 3 RCT"}, 1),
    ({"source": "pubmed"}, 1),
    ({"source": "feeds"}, 2),
    ({"near": "1"}, 1),
    ({"since": "2026-11-16"}, 3),
    ({"until": "2026-11-09"}, 2),
    ({"since": "2026-11-10", "until": "2026-11-20", "kind": "trial"}, 0),
    ({"q": "hepatocellular", "kind": "news"}, 1),
])
def test_filters_narrow_the_list(client, params, expected):
    page = client.get("/", params=params)
    assert page.status_code == 200
    assert len(titles(page.text)) == expected, params


def test_bad_filter_values_are_explained_not_fatal(client):
    page = client.get("/", params={"since": "last week", "kind": "spaceship"})
    assert page.status_code == 200
    assert "is not a date like 2026-11-01" in page.text
    assert len(titles(page.text)) == 5


def test_finding_page_shows_fields_identifiers_topics_links_and_timeline(client):
    page = client.get("/findings/NCT01000001").text
    assert "Atezolizumab plus bevacizumab before liver transplant" in page
    assert "阿替利珠单抗联合贝伐珠单抗用于肝癌肝移植前降期治疗" in page
    assert 'href="https://clinicaltrials.gov/study/NCT01000001"' in page
    assert "Example Sponsor" in page and "Fred Hutchinson Cancer Center" in page
    assert "Seattle" in page and "Recruiting" in page
    timeline = re.search(r'<section id="timeline">(.*?)</section>', page, re.S).group(1)
    assert "Trial status · 试验状态" in timeline  # codes in words, both languages
    assert "Not yet recruiting · 尚未招募</span> → <span class=\"new\">Recruiting · 招募中" in timeline
    assert "NOT_YET_RECRUITING" not in timeline
    assert "2026-11-16 16:00" in timeline  # shown in the watchlist's time zone (Asia/Shanghai)
    assert "first seen" in timeline
    assert "named by" in page and "/findings/pmid:39000001" in page
    assert "肝细胞癌" in page  # topic label in Chinese too


def test_finding_can_be_opened_by_any_identifier(client):
    by_doi = client.get("/findings/doi:10.1000/DEMO.1")
    assert by_doi.status_code == 200 and "QL1706 with bevacizumab" in by_doi.text
    assert 'href="https://doi.org/10.1000/demo.1"' in by_doi.text


@pytest.mark.parametrize("key", ["NCT09999999", "banana", "pmid:"])
def test_unknown_finding_is_a_plain_404(client, key):
    page = client.get(f"/findings/{key}")
    assert page.status_code == 404
    assert "is stored" in page.text and "Traceback" not in page.text


def test_topic_page_rolls_up_trials_by_status_papers_and_news(client):
    page = client.get("/topics/hcc").text
    assert "Hepatocellular carcinoma" in page and "肝细胞癌" in page
    sections = re.findall(r"<section>(.*?)</section>", page, re.S)
    assert "Recruiting" in sections[0] and "NCT01000001" in sections[0]
    assert "QL1706 with bevacizumab" in sections[1]
    assert "肝癌转化治疗取得新进展" in sections[2]
    assert client.get("/topics/nope").status_code == 404


def test_topics_index_links_every_topic(client):
    page = client.get("/topics").text
    for topic_id in ("hcc", "atezo-bev", "melanoma"):
        assert f'href="/topics/{topic_id}"' in page


def test_status_page_says_nothing_was_polled_yet(client):
    page = client.get("/status")
    assert page.status_code == 200 and "No source has been polled yet" in page.text


def test_digest_archive_lists_and_shows_digests(client, engine):
    assert "No digest has been made yet" in client.get("/digests").text
    from store.models import Digest

    with session_scope(engine) as session:
        session.add(Digest(period="2026-W47", recipient="family@example.org", subject="hccwatch 2026-W47",
                           html="<p>New <script>alert(9)</script> trial</p>", text="New trial",
                           message_id="<1@x>", created_at=WEEK2, status="sent", sent_at=WEEK2))
    listing = client.get("/digests").text
    assert "2026-W47" in listing and "family@example.org" in listing
    shown = client.get("/digests/1").text
    assert '<iframe class="digest" title="digest as mailed" sandbox srcdoc="&lt;p&gt;New &lt;script&gt;' in shown
    assert "New trial" in shown
    assert client.get("/digests/99").status_code == 404


def test_atom_feeds_parse_and_link_only_web_addresses(client):
    everything = client.get("/feeds/all.atom")
    assert everything.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(everything.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and len(feed.entries) == 5
    by_title = {e.title: e for e in feed.entries}
    trial_entry = by_title["Atezolizumab plus bevacizumab before liver transplant in hepatocellular carcinoma"]
    assert trial_entry.link == "https://clinicaltrials.gov/study/NCT01000001"
    hostile = next(e for e in feed.entries if "xss-title" in e.title)
    assert all(not link.href.startswith("javascript:") for link in hostile.links)
    assert hostile.link.startswith("http://testserver/findings/")
    topic = feedparser.parse(client.get("/feeds/melanoma.atom").content)
    assert not topic.bozo and [e.title for e in topic.entries] == ["Pembrolizumab in melanoma"]
    assert client.get("/feeds/nope.atom").status_code == 404


def test_hostile_feed_item_stays_inert_on_every_page(client):
    pages = ["/", "/?q=hepatocellular", "/?q=xss-title", "/findings/url:https://evil.example/x",
             "/topics/hcc", "/topics/melanoma"]
    for path in pages:
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "<svg onload" not in html and "<b onmouseover" not in html, path
        assert 'href="javascript:' not in html, path
    finding = client.get("/findings/url:https://evil.example/x").text
    assert "&lt;script&gt;alert(&#34;xss-title&#34;)&lt;/script&gt;" in finding
    assert "javascript:alert(4)" in finding  # shown as text, never as a link


def test_pages_forbid_scripts_and_referrers(client):
    headers = client.get("/").headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def csrf_token(client: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/search").text).group(1)


def test_post_without_a_valid_csrf_token_is_refused(client):
    assert client.post("/search", data={"term": "melanoma"}).status_code == 403
    assert client.post("/search", data={"term": "melanoma", "csrf_token": "forged"}).status_code == 403
    token = csrf_token(client)
    other_site = client.post("/search", data={"term": "melanoma", "csrf_token": token},
                             headers={"Origin": "http://evil.example"})
    assert other_site.status_code == 403
    stranger = TestClient(client.app)  # no cookie of ours
    assert stranger.post("/watchlist/topics", data={"term": "x", "topic_id": "x",
                                                    "csrf_token": token}).status_code == 403


def wait_for_job(client: TestClient, location: str) -> str:
    for _ in range(400):
        page = client.get(location).text
        if "Searching…" not in page:
            return page
        time.sleep(0.05)
    raise AssertionError("the ad-hoc search did not finish")


def test_adhoc_search_shows_per_source_counts_and_results(client, ctgov, settings):
    started = client.post("/search", data={"term": "pembrolizumab", "csrf_token": csrf_token(client),
                                          "sources": ["ctgov", "pubmed"]}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/search/")
    page = wait_for_job(client, started.headers["location"])
    rows = dict(re.findall(r'<tr class="state-(\w+)"><td>(\w+)</td>', page))
    assert {v: k for k, v in rows.items()} == {"ctgov": "done", "pubmed": "failed"}
    assert "NCT05431270" in page  # a recorded pembrolizumab study
    assert "Add “pembrolizumab” to the watchlist" in page
    listed = client.get("/", params={"source": "adhoc"}).text
    assert "NCT05431270" in listed
    assert "ad-hoc search" in client.get("/findings/NCT05431270").text


def test_adhoc_search_with_empty_term_is_explained(client):
    page = client.post("/search", data={"term": "   ", "csrf_token": csrf_token(client)})
    assert page.status_code == 400 and "type a word or phrase" in page.text


def test_adding_the_term_to_the_watchlist_appends_a_valid_topic(client, settings):
    token = csrf_token(client)
    added = client.post("/watchlist/topics", data={"term": "cabozantinib", "topic_id": "cabozantinib",
                                                   "label": "Cabozantinib", "csrf_token": token},
                        follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/topics/cabozantinib?added=1"
    topic = load_watchlist(settings.watchlist).topic("cabozantinib")
    assert topic.terms == ("cabozantinib",) and topic.ctgov == {"term": "cabozantinib"}
    assert "Added to the watchlist" in client.get(added.headers["location"]).text
    again = client.post("/watchlist/topics", data={"term": "cabozantinib", "topic_id": "cabozantinib",
                                                   "csrf_token": token})
    assert again.status_code == 400 and "already has a topic" in again.text
    bad_id = client.post("/watchlist/topics", data={"term": "x y", "topic_id": "Not An Id",
                                                    "csrf_token": token})
    assert bad_id.status_code == 400 and "must be lower-case" in bad_id.text
    assert load_watchlist(settings.watchlist).topic("cabozantinib")  # the file is still valid


def test_chinese_term_becomes_a_chinese_topic(client, settings):
    client.post("/watchlist/topics", data={"term": "肝移植", "topic_id": "liver-transplant",
                                           "csrf_token": csrf_token(client)})
    topic = load_watchlist(settings.watchlist).topic("liver-transplant")
    assert topic.terms_zh == ("肝移植",) and topic.label_zh == "肝移植"


def test_database_failure_shows_a_plain_page_not_a_traceback(client, engine):
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP TABLE finding_fts"))
    browser = TestClient(client.app, raise_server_exceptions=False)
    page = browser.get("/", params={"q": "hepatocellular"})
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "Traceback" not in page.text and "finding_fts" not in page.text
