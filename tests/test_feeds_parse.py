"""Parsing feeds is a pure function from bytes and headers to news Records: tested on real
recordings and on constructed feeds shaped like the oncology and Chinese feeds we poll."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import fixture_bytes
from hypothesis import given
from hypothesis import strategies as st

from sources.feeds import FEED_MAX_BYTES, html_to_text, normalize_url, parse_feed
from sources.http import ParseError, TooLarge

FETCHED = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
RSS = {"content-type": "application/rss+xml"}


def parse(name: str, *, lang: str = "en", headers: dict | None = None,
          base_url: str = "http://health.example.cn/rss/health.xml", **kw):
    return parse_feed(fixture_bytes(f"feeds/{name}"), headers or RSS, "test", lang, FETCHED,
                      base_url=base_url, **kw)


def by_title(parsed, start: str):
    return next(r for r in parsed.records if r.title.startswith(start))


def test_rss2_entries_become_news_records_with_plain_text_summaries():
    parsed = parse("constructed_fda_oncology_rss.xml")
    item = by_title(parsed, "Lenvatinib safety")
    assert item.kind == "news" and item.source == "feed:test" and item.lang == "en"
    assert item.summary == "Patients with liver cancer taking lenvatinib should report bleeding. More & details."
    assert item.published == "2026-11-16T09:00:00Z"
    assert item.details["feed"] == "test"


def test_links_lose_tracking_parameters_host_case_and_trailing_slash():
    item = by_title(parse("constructed_fda_oncology_rss.xml"), "FDA approves atezolizumab")
    expected = "https://www.example.org/news-events/press-announcements/fda-approves-atezolizumab-hcc-sample"
    assert item.url == expected and item.ids == {"url": expected}
    assert item.key == f"url:{expected}"


def test_hostile_markup_is_stored_as_text_and_javascript_links_are_never_kept():
    parsed = parse("constructed_fda_oncology_rss.xml")
    recall = by_title(parsed, "TACE device recall")
    for text in (recall.title, recall.summary):
        assert "<" not in text and "alert" not in text and "onerror" not in text
    assert recall.summary == "Chemoembolization device recall notice"
    # The javascript: link is dropped; the item falls back to its permalink guid.
    assert recall.url == "https://www.example.org/safety/recalls/tace-device-sample"


def test_entry_without_a_date_gets_the_fetch_time_and_says_so():
    item = by_title(parse("constructed_fda_oncology_rss.xml"), "Advisory committee")
    assert item.published == "2026-11-18T08:00:00Z"
    assert item.details["date_missing"] is True


def test_nct_numbers_in_the_text_become_mentions_not_identity():
    item = by_title(parse("constructed_fda_oncology_rss.xml"), "FDA approves atezolizumab")
    assert item.mentions == ["NCT09900001"]
    assert "nct" not in item.ids


def test_regulator_feeds_carry_the_press_release_label():
    parsed = parse("constructed_fda_oncology_rss.xml", kind="regulator")
    assert {r.evidence for r in parsed.records} == {"press release"}
    assert {r.evidence for r in parse("constructed_fda_oncology_rss.xml").records} == {None}


def test_real_atom_feed_parses_with_dates_in_utc():
    parsed = parse("fastfeedparser_stackoverflow.xml", headers={"content-type": "application/atom+xml"})
    assert [r.published for r in parsed.records] == ["2015-02-13T22:39:34Z", "2015-03-03T21:57:44Z"]
    assert parsed.records[0].url == "https://stackoverflow.com/questions/28509965/setuptools-development-requirements"


def test_real_rss1_biorxiv_entry_is_a_preprint_named_by_its_doi():
    (record,) = parse("feedrs_rss_1.0_biorxiv.xml").records
    assert record.kind == "preprint" and record.evidence == "preprint"
    assert record.ids["doi"] == "10.1101/2023.12.16.571984"
    assert record.key == "doi:10.1101/2023.12.16.571984"
    assert record.title.startswith("Complete genome of the Medicago anthracnose fungus")


def test_real_cdata_titles_are_read_as_text():
    (record,) = parse("feedrs_rss_2.0_nbcny.xml").records
    assert record.title.startswith("NYC cops search for stabbing suspect")
    assert "<" not in record.summary


def test_gbk_feed_decodes_chinese_and_resolves_relative_links():
    parsed = parse("constructed_chinese_news_gbk.xml", lang="zh")
    assert parsed.bozo is None and parsed.title == "健康频道（示例）"
    item = by_title(parsed, "原发性肝癌患者")
    assert item.url == "http://health.example.cn/news/2026/1117/hcc-conversion.shtml"
    assert item.summary.startswith("一名 肝细胞癌 患者") and "var t" not in item.summary
    assert item.lang == "zh"


def test_chinese_written_date_is_read_as_beijing_time_not_misparsed():
    item = by_title(parse("constructed_chinese_news_gbk.xml", lang="zh"), "原发性肝癌患者")
    assert item.published == "2026-11-17T02:30:00Z"
    other = by_title(parse("constructed_chinese_news_gbk.xml", lang="zh"), "艾帕洛利")
    assert other.published == "2026-11-16T10:00:00Z"


def test_wrong_declared_charset_is_repaired_and_recorded_as_bozo():
    parsed = parse("constructed_chinese_news_gbk.xml", lang="zh",
                   headers={"content-type": "application/rss+xml; charset=utf-8"})
    assert by_title(parsed, "原发性肝癌患者")
    assert "CharacterEncodingOverride" in parsed.bozo
    assert all(r.details["bozo"] == parsed.bozo for r in parsed.records)


def test_undeclared_gb2312_feed_is_decoded_for_a_chinese_feed():
    parsed = parse("feedparser_illformed_chardet_gb2312.xml", lang="zh")
    # The one item has no link, so it is skipped; its title shows the decoding is right.
    assert parsed.records == []
    assert "不归移民漫画系列：专业工作" in parsed.skipped[0]


def test_google_news_items_name_the_publisher_and_resolve_old_style_links():
    parsed = parse("constructed_google_news_zh.xml", lang="zh")
    first = by_title(parsed, "艾帕洛利托沃瑞利单抗（QL1706）")
    assert first.title == "艾帕洛利托沃瑞利单抗（QL1706）联合贝伐珠单抗治疗肝细胞癌研究公布（示例）"
    assert first.url == "https://finance.sina.com.cn/jjxw/2026-11-18/doc-example1706.shtml"
    assert first.details["source_name"] == "新浪财经"
    assert first.summary == ""  # Google repeats title + publisher; nothing else to keep


def test_google_news_opaque_links_are_kept_and_the_placeholder_is_dropped():
    parsed = parse("constructed_google_news_zh.xml", lang="zh")
    opaque = by_title(parsed, "肝癌转化治疗新进展")
    assert opaque.url.startswith("https://news.google.com/rss/articles/CBMi")
    assert "?oc=" not in opaque.url
    assert not any("not available" in r.title for r in parsed.records)
    assert any("placeholder" in s for s in parsed.skipped)


def test_recoverable_malformed_feed_is_kept_with_the_problem_recorded():
    parsed = parse("constructed_oncology_news_unescaped_ampersand.xml")
    assert len(parsed.records) == 2
    assert parsed.records[0].title.startswith("Atezolizumab & Bevacizumab")
    assert "not well-formed" in parsed.records[0].details["bozo"]


@pytest.mark.parametrize(("body", "reason"), [
    (fixture_bytes("feeds/constructed_html_error_page.html"), "got an HTML page titled 'Access Denied'"),
    (b"", "the response was empty"),
    (b"   \n", "the response was empty"),
    (b"Internal Server Error", "syntax error"),
])
def test_what_is_not_a_feed_is_a_failure_with_a_reason(body, reason):
    with pytest.raises(ParseError, match="not a feed") as error:
        parse_feed(body, {"content-type": "text/html"}, "fda", "en", FETCHED)
    assert reason in str(error.value) and "\n" not in str(error.value)


def test_real_truncated_feed_with_no_recoverable_entry_is_a_failure():
    with pytest.raises(ParseError, match="unreadable.*no element found"):
        parse("feedrs_rss_2.0_invalid_1.xml")


def test_valid_feed_without_entries_is_zero_records_not_a_failure():
    parsed = parse("feedparser_encoding_http_application_atom_xml_gb2312_encoding.xml",
                   headers={"content-type": "application/atom+xml"})
    assert parsed.records == [] and parsed.bozo is None


def test_entity_bomb_is_refused_without_expansion():
    with pytest.raises(ParseError, match="declares XML entities"):
        parse("constructed_atom_entity_bomb.xml")


def test_entity_declaration_in_utf16_is_refused_too():
    body = fixture_bytes("feeds/constructed_atom_entity_bomb.xml").decode().replace(
        'encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(body, RSS, "bomb", "en", FETCHED)


def test_oversized_body_is_refused_with_the_limit_named():
    with pytest.raises(TooLarge, match=f"{FEED_MAX_BYTES}-byte limit"):
        parse_feed(b" " * (FEED_MAX_BYTES + 1), RSS, "big", "en", FETCHED)


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTPS://Example.ORG:443/a/b/?utm_source=x&b=2&a=1#frag", "https://example.org/a/b?a=1&b=2"),
    ("http://example.org", "http://example.org/"),
    ("http://example.org:8080//x//y/", "http://example.org:8080/x/y"),
    ("https://m.example.cn/news?id=7&spm=a.b.c&fbclid=zz&gclid=1", "https://m.example.cn/news?id=7"),
])
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


@given(st.text(alphabet="abcXYZ/?&=._-#%0123", max_size=40))
def test_normalize_url_is_idempotent(path):
    once = normalize_url(f"https://Example.org/{path}")
    assert normalize_url(once) == once


def test_html_to_text_drops_scripts_and_decodes_entities():
    assert html_to_text('<p>A&nbsp;&amp;&lt;B</p><script>x()</script><style>p{}</style>') == "A &<B"
