"""Benchmark: build and render one week's digest of 1,000 new findings and 200 changes from a
real SQLite file (target < 1 s). Setup (ingesting the data) is not timed."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from digests.build import Period, build_digest
from digests.render import render_digest
from hccwatch.watchlist import Topic, Watchlist
from sources.records import Contact, Location, Record
from store.db import open_engine, session_scope
from store.ingest import ingest_batch

TARGET_SECONDS = 1.0
PERIOD = Period(2026, 47, "Asia/Shanghai")
BEFORE = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
DURING = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
WATCHLIST = Watchlist(path=Path("bench.toml"), topics=(
    Topic("ql1706", "QL1706 (iparomlimab and tuvonralimab)", ("QL1706",), "艾帕洛利托沃瑞利单抗"),
    Topic("atezo-bev", "Atezolizumab + bevacizumab", ("atezolizumab",), "阿替利珠单抗联合贝伐珠单抗"),
))
SITE = Location(facility="Zhongshan Hospital, Fudan University", city="Shanghai", country="China",
                status="RECRUITING", contacts=[Contact(name="王医生", phone="+86 21 5555 0000")])


def _trial(n: int, status: str) -> Record:
    nct = f"NCT0{n:07d}"
    return Record(source="ctgov", kind="trial", ids={"nct": nct}, title=f"Trial {n} of QL1706 in HCC",
                  summary="A phase 3 study. " * 20, status=status, phases=["PHASE3"],
                  url=f"https://clinicaltrials.gov/study/{nct}", locations=[SITE],
                  watched_sites=[{"place": "Shanghai", "place_zh": "上海", "facility": SITE.facility,
                                  "city": SITE.city, "status": "RECRUITING",
                                  "contacts": [{"name": "王医生", "phone": "+86 21 5555 0000"}]}],
                  topics={"ql1706": ["QL1706"]})


def _article(n: int, kind: str) -> Record:
    ids = {"pmid": str(40_000_000 + n)} if kind == "article" else {"doi": f"10.1101/bench.{n}"}
    return Record(source="pubmed" if kind == "article" else "europepmc", kind=kind, ids=ids,
                  title=f"Atezolizumab and bevacizumab outcomes, cohort {n}", evidence="RCT",
                  summary="Background. Methods. Results. " * 30, published="2026-11-12",
                  url=f"https://pubmed.ncbi.nlm.nih.gov/{40_000_000 + n}/",
                  mentions=[f"NCT0{n % 300:07d}"], topics={"atezo-bev": ["atezolizumab"]})


def _news(n: int) -> Record:
    url = f"https://news{n % 3}.example/story-{n // 3}"
    return Record(source=f"feed:news{n % 3}", kind="news", ids={"url": url},
                  title=f"<b>Story {n // 3}</b> about QL1706", url=url, summary="News text. " * 10,
                  topics={"ql1706": ["QL1706"]})


def seed(db: str) -> None:
    """200 trials seen the week before (each changes status during the week), then 1,000 new
    findings: 300 trials, 350 articles, 50 preprints, 300 news items in 100 stories."""
    engine = open_engine(db)
    batches = [
        ("ctgov", BEFORE, [_trial(n, "NOT_YET_RECRUITING") for n in range(1000, 1200)]),
        ("ctgov", DURING, [_trial(n, "RECRUITING") for n in range(1000, 1200)]),
        ("ctgov", DURING, [_trial(n, "RECRUITING") for n in range(300)]),
        ("pubmed", DURING, [_article(n, "article") for n in range(350)]),
        ("europepmc", DURING, [_article(n, "preprint") for n in range(350, 400)]),
        ("feeds", DURING, [_news(n) for n in range(300)]),
    ]
    for source, at, records in batches:
        with session_scope(engine) as session:
            ingest_batch(session, records, source=source, query="bench", seen_at=at)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE finding SET story_key = 'story:' || substr(url, -3) "
                             "WHERE kind = 'news'")
    engine.dispose()


def build_and_render(db: str) -> tuple[float, int]:
    engine = open_engine(db)
    started = time.perf_counter()
    with session_scope(engine, write=False) as session:
        digest = build_digest(session, watchlist=WATCHLIST, period=PERIOD, recipient="bench@example.org")
    rendered = render_digest(digest)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, len(rendered.html)


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "bench.sqlite3")
        seed(db)
        timings = [build_and_render(db)[0] for _ in range(1 if quick else 5)]
    seconds = statistics.median(timings)
    return [{"benchmark": "digest build+render, 1,000 findings + 200 changes (median of "
                          f"{len(timings)})",
             "result": f"{seconds:.3f} s", "target": f"< {TARGET_SECONDS:g} s",
             "ok": seconds < TARGET_SECONDS}]


if __name__ == "__main__":
    for row in run():
        print(row)
