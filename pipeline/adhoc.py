"""Ad-hoc live search: poll the sources once for a term the user typed, under a temporary topic
`adhoc-<slug>`, and tag what it found as ad-hoc. flows/adhoc.py wraps `adhoc_search` for
Prefect; the web page gets it from the composition root."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from pipeline.config import PollSettings, Searches, Topic
from pipeline.engine import Fetcher, PollReport, Runner, Task, poll
from pipeline.events import Progress, ignore
from pipeline.plan import plan
from sources.matching import is_cjk, normalize
from store.errors import ConfigError
from store.models import ADHOC_TOPIC_PREFIX
from store.vocab import ADHOC_SOURCES

MAX_TERM = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class AdhocResult:
    """What one ad-hoc search did: its topic, the poll report, and sources that could not run."""

    topic: Topic
    report: PollReport
    unavailable: dict[str, str] = field(default_factory=dict)


def clean_term(term: str) -> str:
    """The term as searched: control characters dropped, spaces collapsed; ValueError if unusable."""
    cleaned = " ".join(_CONTROL_RE.sub(" ", term or "").split())
    if not cleaned:
        raise ValueError("type a word or phrase to search for")
    if len(cleaned) > MAX_TERM:
        raise ValueError(f"the search term is too long (at most {MAX_TERM} characters)")
    return cleaned


def slug(term: str) -> str:
    """A topic-id-safe name for a term; terms with non-Latin letters get a short hash."""
    ascii_part = re.sub(r"[^a-z0-9]+", "-", normalize(term)).strip("-")[:40].strip("-")
    if ascii_part and term.isascii():
        return ascii_part
    digest = hashlib.sha1(unicodedata.normalize("NFKC", term).encode()).hexdigest()[:8]
    return f"{ascii_part}-{digest}" if ascii_part else digest


def adhoc_topic(term: str) -> Topic:
    """The temporary topic an ad-hoc search runs under (queries for every API source)."""
    cjk = is_cjk(term)
    return Topic(id=ADHOC_TOPIC_PREFIX + slug(term), label=term, label_zh=term if cjk else None,
                 terms=() if cjk else (term,), terms_zh=(term,) if cjk else (),
                 ctgov={"term": term}, pubmed=term, europepmc=term, kind="adhoc")


def _from_scratch(fetch: Fetcher) -> Fetcher:
    """An ad-hoc search always asks for everything, whatever an earlier search stored as cursor."""
    return lambda _cursor, run_started: fetch(None, run_started)


def plan_adhoc(settings: PollSettings, watchlist: Searches, stack: ExitStack, topic: Topic,
               sources: Sequence[str], progress: Progress) -> tuple[list[Task], dict[str, str]]:
    """Tasks for the sources that can search now; the others with the reason they cannot."""
    tasks: list[Task] = []
    unavailable: dict[str, str] = {}
    for source in sources:
        try:
            found = plan(settings, watchlist, stack, sources=[source], topics=[topic.id],
                         progress=progress)
        except ConfigError as error:
            unavailable[source] = str(error)
            continue
        tasks.extend(dataclasses.replace(t, fetch=_from_scratch(t.fetch)) for t in found)
    return tasks, unavailable


def adhoc_search(engine: Engine, settings: PollSettings, watchlist: Searches, term: str,
                 sources: Sequence[str] | None = None, *, progress: Progress = ignore,
                 runner: Runner | None = None) -> AdhocResult:
    """Search the sources live for `term` and store what they return, tagged ad-hoc."""
    topic = adhoc_topic(clean_term(term))
    extended = watchlist.with_topic(topic)
    with ExitStack() as stack:
        tasks, unavailable = plan_adhoc(settings, extended, stack, topic,
                                        sources or ADHOC_SOURCES, progress)
        if not tasks:
            reasons = "; ".join(f"{s}: {why}" for s, why in unavailable.items())
            raise ConfigError(f"no source can run an ad-hoc search ({reasons})")
        report = poll(engine, extended, tasks, runner=runner, progress=progress,
                      record_run=False)  # its own health: not the watchlist's last poll
    return AdhocResult(topic, report, unavailable)
