"""One story per event: the same approval or readout reported by several feeds (with different
URLs) is one story; different events, or the same words weeks apart, are not."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from sources.records import Record
from store.db import session_scope
from store.models import Finding
from store.stories import assign_stories, story_members
from store.upsert import upsert_record

SEEN = datetime(2026, 11, 18, 8, tzinfo=UTC)


def news(url: str, title: str, published: str, *, summary: str = "", mentions=(),
         kind: str = "news", lang: str | None = None) -> Record:
    return Record(source=f"feed:{url.split('/')[2]}", kind=kind, ids={"url": url}, title=title,
                  url=url, summary=summary, published=published, mentions=list(mentions),
                  lang=lang)


def store(engine, *records: Record) -> None:
    with session_scope(engine) as session:
        for record in records:
            upsert_record(session, record, seen_at=SEEN)
        assign_stories(session)


def story_of(engine, url: str) -> str:
    with session_scope(engine, write=False) as session:
        return session.exec(select(Finding).where(Finding.key == f"url:{url}")).one().story_key


def test_same_event_from_two_feeds_is_one_story(engine):
    store(engine,
          news("https://a.example/1", "FDA Approves Atezolizumab Plus Bevacizumab for Unresectable HCC",
               "2026-11-17T15:00:00Z"),
          news("https://b.example/x", "FDA approves atezolizumab plus bevacizumab for unresectable HCC, "
               "expanding options", "2026-11-18T01:00:00Z"))
    assert story_of(engine, "https://a.example/1") == story_of(engine, "https://b.example/x") \
        == "url:https://a.example/1"
    with session_scope(engine, write=False) as session:
        members = story_members(session, "url:https://a.example/1")
    assert [m.key for m in members] == ["url:https://a.example/1", "url:https://b.example/x"]


def test_same_words_weeks_apart_are_different_stories(engine):
    store(engine,
          news("https://a.example/1", "Lenvatinib safety update for liver cancer patients", "2026-10-01T00:00:00Z"),
          news("https://a.example/2", "Lenvatinib safety update for liver cancer patients", "2026-11-01T00:00:00Z"))
    assert story_of(engine, "https://a.example/1") != story_of(engine, "https://a.example/2")


def test_different_events_on_the_same_drug_are_different_stories(engine):
    store(engine,
          news("https://a.example/1", "QL1706 phase 3 trial meets primary endpoint in HCC", "2026-11-17T00:00:00Z"),
          news("https://b.example/2", "QL1706 maker opens new manufacturing plant in Jinan", "2026-11-17T05:00:00Z"))
    assert story_of(engine, "https://a.example/1") != story_of(engine, "https://b.example/2")


def test_a_shared_trial_number_joins_differently_worded_reports(engine):
    first = news("https://a.example/1", "Atezolizumab-bevacizumab readout in unresectable liver cancer",
                 "2026-11-17T00:00:00Z", mentions=["NCT09900001"], summary="NCT09900001 results")
    second = news("https://b.example/2", "Unresectable liver cancer: atezolizumab readout shows survival gain",
                  "2026-11-17T09:00:00Z", mentions=["NCT09900001"], summary="Trial NCT09900001.")
    store(engine, first, second)
    assert story_of(engine, "https://a.example/1") == story_of(engine, "https://b.example/2")


def test_the_same_different_wording_without_a_shared_code_stays_apart(engine):
    store(engine,
          news("https://a.example/1", "Atezolizumab-bevacizumab readout in unresectable liver cancer",
               "2026-11-17T00:00:00Z"),
          news("https://b.example/2", "Unresectable liver cancer: atezolizumab readout shows survival gain",
               "2026-11-17T09:00:00Z"))
    assert story_of(engine, "https://a.example/1") != story_of(engine, "https://b.example/2")


def test_chinese_reposts_of_one_report_are_one_story(engine):
    store(engine,
          news("https://a.example.cn/1", "艾帕洛利托沃瑞利单抗联合贝伐珠单抗治疗肝细胞癌研究结果公布",
               "2026-11-17T02:00:00Z"),
          news("https://b.example.cn/9", "艾帕洛利托沃瑞利单抗联合贝伐珠单抗治疗肝细胞癌研究结果正式公布",
               "2026-11-17T06:00:00Z"),
          news("https://c.example.cn/5", "肝癌患者冬季饮食注意事项", "2026-11-17T06:00:00Z"))
    assert story_of(engine, "https://a.example.cn/1") == story_of(engine, "https://b.example.cn/9")
    assert story_of(engine, "https://c.example.cn/5") == "url:https://c.example.cn/5"


def test_a_later_poll_joins_the_existing_story_and_keeps_the_rest(engine):
    store(engine, news("https://a.example/1", "FDA approves atezolizumab plus bevacizumab for unresectable HCC",
                       "2026-11-17T15:00:00Z"))
    store(engine, news("https://c.example/3", "FDA approves atezolizumab plus bevacizumab in unresectable HCC",
                       "2026-11-19T15:00:00Z"))
    assert story_of(engine, "https://c.example/3") == "url:https://a.example/1"
    with session_scope(engine) as session:
        assert assign_stories(session) == 0


def test_trials_and_articles_are_not_gathered_into_stories(engine):
    store(engine, news("https://a.example/1", "A preprint on HCC", "2026-11-17T00:00:00Z", kind="preprint"))
    assert story_of(engine, "https://a.example/1") is None


def test_an_english_and_a_chinese_report_of_one_trial_readout_are_one_story(engine):
    store(engine,
          news("https://www.example.org/imbrave150-os", "IMbrave150 final overall survival "
               "confirms atezolizumab plus bevacizumab benefit", "2026-11-16T09:00:00Z",
               summary="Updated results of NCT03434379 were presented.", lang="en"),
          news("https://www.example.cn/news/imbrave150", "阿替利珠单抗联合贝伐珠单抗IMbrave150研究"
               "最终总生存期结果公布", "2026-11-17T02:00:00Z",
               summary="NCT03434379研究更新结果。", lang="zh"),
          news("https://www.example.cn/news/other", "仑伐替尼真实世界研究结果公布",
               "2026-11-17T03:00:00Z", summary="NCT99999999", lang="zh"),
          news("https://www.example.cn/news/later", "IMbrave150研究亚组分析",
               "2026-12-10T03:00:00Z", summary="NCT03434379", lang="zh"))
    english = story_of(engine, "https://www.example.org/imbrave150-os")
    assert story_of(engine, "https://www.example.cn/news/imbrave150") == english
    assert story_of(engine, "https://www.example.cn/news/other") != english  # another trial
    assert story_of(engine, "https://www.example.cn/news/later") != english  # weeks later
