"""The demo's upstreams: the bundled recordings in replay/data (ClinicalTrials.gov, PubMed,
Europe PMC, news feeds, plus constructed HCC sample trials and news) served by one replay
server, re-dated around `today` so the first poll's backfill window finds them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from replay.literature import (
    EuropePmcHandler,
    EutilsHandler,
    articles_from_recordings,
    results_from_recordings,
)
from replay.server import ReplayServer, StaticHandler, studies_from_recordings

DEMO_DATA = Path(__file__).with_name("data")
DEMO_FEEDS = (
    ("demo-oncology-news", "constructed_oncology_news_en.xml", "en", "application/rss+xml"),
    ("demo-google-news-zh", "constructed_google_news_zh.xml", "zh", "application/rss+xml"),
    ("demo-regulator", "constructed_regulator_press_en.xml", "en", "application/rss+xml"),
)


def ctgov_studies(week: str, *, today: date) -> list[dict[str, Any]]:
    """The registry as the demo shows it in `week` ("week1", "week2"): the recorded studies
    plus the constructed samples, whose week-2 versions were updated `today`."""
    files = sorted((DEMO_DATA / "ctgov" / "recorded").glob("*.json"))
    files += sorted((DEMO_DATA / "ctgov" / week).glob("*.json"))
    studies = studies_from_recordings(f.read_bytes() for f in files)
    if week != "week1":
        for study in studies:
            status = study["protocolSection"].get("statusModule", {})
            if study["protocolSection"]["identificationModule"]["nctId"].startswith("NCT99"):
                status.setdefault("lastUpdatePostDateStruct", {})["date"] = today.isoformat()
    return studies


def add_literature_routes(server: ReplayServer, *, today: date, data: Path = DEMO_DATA) -> None:
    """Serve the bundled literature recordings: E-utilities under /eutils and Europe PMC under
    /europepmc (point HCCWATCH_EUTILS_URL / HCCWATCH_EUROPEPMC_URL there). Recorded articles
    are re-dated to the last few days before `today`."""
    files = sorted((data / "pubmed").glob("*.xml"))
    articles = articles_from_recordings(f.read_bytes() for f in files)
    for days_ago, article in enumerate(articles, start=1):
        article.entered = today - timedelta(days=days_ago)
    server.route("/eutils", EutilsHandler(articles))
    results = results_from_recordings(f.read_bytes() for f in sorted((data / "europepmc").glob("*.json")))
    for days_ago, result in enumerate(results, start=1):
        result["firstIndexDate"] = (today - timedelta(days=days_ago)).isoformat()
    server.route("/europepmc", EuropePmcHandler(results))


def add_feed_routes(server: ReplayServer, data: Path = DEMO_DATA) -> list[tuple[str, str, str]]:
    """Serve the demo's constructed feed recordings (`data`/feeds) under /feeds/ with
    ETag/304; return the (name, url, lang) feed entries the demo watchlist should list."""
    handler = StaticHandler()
    entries = []
    for name, filename, lang, content_type in DEMO_FEEDS:
        handler.put(f"/feeds/{filename}", (data / "feeds" / filename).read_bytes(), content_type)
        entries.append((name, f"{server.url}/feeds/{filename}", lang))
    server.route("/feeds/", handler)
    return entries
