"""What the literature sources (PubMed, Europe PMC) share: their cursor (an entry-date
watermark, YYYY-MM-DD), an XML parser that never expands entities or fetches anything, plain
evidence labels from publication types, language codes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from lxml import etree

from sources.records import since_day

SAFE_PARSER = etree.XMLParser(  # never resolves entities or fetches anything
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
LANGS = {"eng": "en", "chi": "zh", "jpn": "ja", "fre": "fr", "ger": "de", "spa": "es",
         "rus": "ru", "ita": "it", "por": "pt", "kor": "ko", "dut": "nl", "pol": "pl"}
PHASES = (("phase iv", "4"), ("phase iii", "3"), ("phase ii", "2"), ("phase i", "1"))


def evidence_label(pub_types: Iterable[str], *, retracted: bool = False) -> str:
    """A plain label from NLM publication types: 'Phase 3 RCT', 'meta-analysis', 'retracted' ..."""
    types = {t.strip().lower() for t in pub_types}
    if retracted or "retracted publication" in types:
        return "retracted"
    if "retraction of publication" in types:
        return "retraction notice"
    if "preprint" in types:
        return "preprint"
    for label in ("meta-analysis", "systematic review"):
        if label in types:
            return label
    randomized = "randomized controlled trial" in types
    phase = next((n for words, n in PHASES if f"clinical trial, {words}" in types), None)
    if phase:
        return f"Phase {phase} {'RCT' if randomized else 'trial'}"
    if randomized:
        return "RCT"
    for needle, label in (("review", "review"), ("case reports", "case report"),
                          ("published erratum", "erratum"), ("clinical trial", "trial")):
        if any(needle in t for t in types):
            return label
    return "article"


def lang_of(languages: list[str]) -> str | None:
    """A two-letter code for the first of PubMed's three-letter languages (else as given)."""
    return LANGS.get(languages[0], languages[0]) if languages else None


def window_start(cursor: str | None, today: date, backfill_days: int,
                 lookback_days: int = 0) -> date:
    """The first entry day to ask for: `lookback_days` before the stored watermark (see
    records.since_day), else `backfill_days` back."""
    return since_day(cursor, lookback_days) or today - timedelta(days=backfill_days)
