"""Benchmark: build and render the digest at real volume, from a real SQLite file filled with
real recordings (tests/fixtures) under fresh identifiers. Two cases:
- a realistic week: 350 new papers, 60 trial updates (40 changed, 20 new), 100 news items in
  40 stories, after a baseline already carried by an earlier digest (target < 1 s);
- the first run after a two-year backfill: 25,000 papers and 4,000 trials found by the
  first polls, a "starting point" digest (target < 5 s).
Both must render to HTML and text under 100 KB each. Setup (ingesting the data) is not
timed. The tests reuse the generators (`week_store`, `backfill_store`) at the same volume."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from digests.build import build_digest
from digests.period import Period
from digests.render import Rendered, render_digest
from digests.send import mark_sent, record_pending
from hccwatch.watchlist import Watchlist, load_watchlist
from pipeline.judge import judge_findings
from replay.server import studies_from_recordings
from sources.clinicaltrials import parse_study
from sources.feeds import parse_feed
from sources.pubmed_parse import parse_batch
from sources.records import Location, Record
from store.db import open_engine, session_scope
from store.ingest import ingest_batch

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
WATCHLIST_FILE = Path(__file__).resolve().parent.parent / "hccwatch" / "watchlist.toml"
WEEK_SECONDS, FIRST_RUN_SECONDS, MAX_BYTES = 1.0, 5.0, 100_000
TZ = "Asia/Shanghai"
BASELINE_AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # W45: the first polls
WEEK_AT = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # W47: the week the digest is about
WEEK = Period(2026, 47, TZ)
RECIPIENT = "family@example.org"
OPTIONS = ("ql1706", "atezolizumab-bevacizumab", "conversion-therapy", "transplant-downstaging",
           "tace", "haic", "lenvatinib-sorafenib")
SHANGHAI = Location(facility="Zhongshan Hospital, Fudan University", city="Shanghai",
                    country="China", status="RECRUITING")
FEEDS = ("constructed_fda_oncology_rss.xml", "constructed_google_news_zh.xml",
         "feedrs_rss_2.0_nbcny.xml", "feedparser_wellformed_rss_item_pubDate.xml")


def watchlist() -> Watchlist:
    return load_watchlist(WATCHLIST_FILE)


def recorded_papers() -> list[Record]:
    bodies = sorted((FIXTURES / "pubmed").glob("metapub_*.xml"))
    return [r for path in bodies for r in parse_batch(path.read_bytes()).records]


def recorded_trials() -> list[Record]:
    paths = sorted((FIXTURES / "ctgov").glob("biomcp_search_*.json"))
    return [parse_study(s) for s in studies_from_recordings(p.read_bytes() for p in paths)]


def recorded_news() -> list[Record]:
    records = []
    for name in FEEDS:
        parsed = parse_feed((FIXTURES / "feeds" / name).read_bytes(), {}, name.split(".")[0], None,
                            WEEK_AT)
        records += parsed.records
    return records


def topics_of(n: int) -> dict[str, list[str]]:
    """Every item is about HCC; one in four also about one of the patient's options."""
    topics = {"hcc": ["HCC"]}
    if n % 4 == 0:
        topics[OPTIONS[n // 4 % len(OPTIONS)]] = ["query"]
    return topics


def papers(count: int, *, first: int, since: date, days: int) -> Iterator[Record]:
    """`count` recorded articles, each with its own PMID and DOI and a PubMed entry date
    spread over `days` from `since`."""
    recorded = recorded_papers()
    for n in range(count):
        base = recorded[n % len(recorded)]
        pmid = str(first + n)
        entered = (since + timedelta(days=n % days)).isoformat()
        yield dataclasses.replace(base, ids={"pmid": pmid, "doi": f"10.5555/bench.{pmid}"},
                                  url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", mentions=[],
                                  details={**base.details, "entrez_date": entered},
                                  topics=topics_of(n))


def trials(count: int, *, first: int, since: date, days: int, status: str | None = None) -> Iterator[Record]:
    """`count` recorded studies under fresh NCT ids, first posted over `days` from `since`;
    one in five has a site in Shanghai (a watched place)."""
    recorded = recorded_trials()
    for n in range(count):
        base = recorded[n % len(recorded)]
        nct = f"NCT{first + n:08d}"
        watched = n % 5 == 0
        yield dataclasses.replace(
            base, ids={"nct": nct}, url=f"https://clinicaltrials.gov/study/{nct}",
            status=status or base.status, published=(since + timedelta(days=n % days)).isoformat(),
            locations=[SHANGHAI] if watched else [], topics=topics_of(n),
            watched_sites=[{"place": "Shanghai", "place_zh": "上海", "facility": SHANGHAI.facility,
                            "city": "Shanghai", "status": "RECRUITING"}] if watched else [])


def news(count: int, *, stories: int) -> Iterator[Record]:
    """`count` recorded feed items under fresh URLs, told by several sources per story."""
    recorded = recorded_news()
    for n in range(count):
        base = recorded[n % len(recorded)]
        url = f"https://news{n % 3}.example/{n}"
        yield dataclasses.replace(base, source=f"feed:news{n % 3}", ids={"url": url}, url=url,
                                  published="2026-11-17", topics=topics_of(n),
                                  details={**base.details, "story": f"story-{n % stories}"})


def ingest(engine: Engine, source: str, records: Iterable[Record], at: datetime) -> None:
    with session_scope(engine) as session:  # stored and judged, as a poll does
        result = ingest_batch(session, records, source=source, query="bench", seen_at=at,
                              cursor="bench")
        judge_findings(session, result.touched, watchlist().judges(), now=at)


def week_store(db: str) -> None:
    """A baseline (carried by the W45 digest), then W47: 350 papers, 20 new trials and 40
    trials that changed status, 100 news items in 40 stories."""
    engine = open_engine(db)
    ingest(engine, "ctgov", trials(40, first=80_000_000, since=date(2019, 1, 1), days=2000,
                                   status="NOT_YET_RECRUITING"), BASELINE_AT)
    ingest(engine, "pubmed", papers(200, first=71_000_000, since=date(2026, 10, 1), days=30),
           BASELINE_AT)
    for source in ("feed:news0", "feed:news1", "feed:news2"):
        ingest(engine, source, (dataclasses.replace(r, source=source, ids={"url": r.url + source})
                                for r in news(3, stories=3)), BASELINE_AT)
    send(engine, Period.containing(BASELINE_AT, TZ))
    ingest(engine, "ctgov", trials(40, first=80_000_000, since=date(2019, 1, 1), days=2000,
                                   status="RECRUITING"), WEEK_AT)
    ingest(engine, "ctgov", trials(20, first=81_000_000, since=date(2026, 11, 10), days=7), WEEK_AT)
    ingest(engine, "pubmed", papers(350, first=72_000_000, since=date(2026, 11, 10), days=7), WEEK_AT)
    for source in ("feed:news0", "feed:news1", "feed:news2"):
        items = [r for r in news(100, stories=40) if r.source == source]
        ingest(engine, source, items, WEEK_AT)
    _stories(engine)
    engine.dispose()


def backfill_store(db: str, *, papers_count: int = 25_000, trials_count: int = 4_000) -> None:
    """The first polls of a fresh install: two years of PubMed and every trial back to 1999."""
    engine = open_engine(db)
    ingest(engine, "ctgov", trials(trials_count, first=82_000_000, since=date(1999, 1, 1),
                                   days=10_000), WEEK_AT)
    ingest(engine, "pubmed", papers(papers_count, first=73_000_000, since=date(2024, 11, 18),
                                    days=730), WEEK_AT)
    engine.dispose()


def _stories(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE finding SET story_key = json_extract(details, '$.story') "
                             "WHERE kind = 'news'")


def send(engine: Engine, period: Period) -> None:
    """What a successful send leaves in the ledger."""
    with session_scope(engine) as session:
        digest = build_digest(session, watchlist=watchlist(), period=period, recipient=RECIPIENT)
        mark_sent(session, record_pending(session, digest, render_digest(digest),
                                          sender="hccwatch@example.org"))


def build_and_render(db: str, period: Period) -> tuple[float, Rendered]:
    engine = open_engine(db)
    chosen = watchlist()
    started = time.perf_counter()
    with session_scope(engine, write=False) as session:
        digest = build_digest(session, watchlist=chosen, period=period, recipient=RECIPIENT)
    rendered = render_digest(digest)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, rendered


def measure(name: str, setup: Callable[[str], None], period: Period, target: float,
            runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "bench.sqlite3")
        setup(db)
        results = [build_and_render(db, period) for _ in range(runs)]
    seconds = statistics.median(t for t, _ in results)
    rendered = results[0][1]
    html, text = len(rendered.html.encode()), len(rendered.text.encode())
    return [{"benchmark": f"digest build+render, {name} (median of {runs})",
             "result": f"{seconds:.3f} s", "target": f"< {target:g} s", "ok": seconds < target},
            {"benchmark": f"digest size, {name}: HTML / text",
             "result": f"{html / 1000:.1f} KB / {text / 1000:.1f} KB",
             "target": f"< {MAX_BYTES // 1000} KB each", "ok": max(html, text) < MAX_BYTES}]


def run(quick: bool = False) -> list[dict]:
    runs = 1 if quick else 5
    rows = measure("a week: 350 papers, 60 trial updates, 100 news", week_store, WEEK,
                   WEEK_SECONDS, runs)
    counts = {"papers_count": 2_500, "trials_count": 400} if quick else {}
    label = "first run after a backfill: " + ("2,500 papers, 400 trials" if quick else
                                              "25,000 papers, 4,000 trials")
    rows += measure(label, lambda db: backfill_store(db, **counts), WEEK, FIRST_RUN_SECONDS,
                    1 if quick else 3)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
