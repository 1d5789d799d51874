"""Ad-hoc live search: poll the sources once for a term the user typed, under a temporary topic
`adhoc-<slug>`, and tag what it found as ad-hoc; and, if the user likes the results, add the term
to the watchlist file as a new topic. flows/adhoc.py wraps `adhoc_search` for Prefect."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from hccwatch.poll import Fetch, PollReport, Progress, Task, poll
from hccwatch.pollers import plan
from hccwatch.settings import ConfigError, Settings
from hccwatch.watchlist import Topic, Watchlist, load_watchlist
from sources.matching import is_cjk, normalize
from store.models import ADHOC_TOPIC_PREFIX
from store.private import write_private

ADHOC_SOURCES = ("ctgov", "pubmed", "europepmc")
PREFIX = ADHOC_TOPIC_PREFIX
MAX_TERM = 200
BUNDLED_WATCHLIST = Path(__file__).with_name("watchlist.toml")
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
    return Topic(id=PREFIX + slug(term), label=term, label_zh=term if cjk else None,
                 terms=() if cjk else (term,), terms_zh=(term,) if cjk else (),
                 ctgov={"term": term}, pubmed=term, europepmc=term, kind="adhoc")


def is_adhoc(topic_id: str) -> bool:
    return topic_id.startswith(PREFIX)


def _from_scratch(fetch: Callable[[str | None, datetime], Fetch]) -> Callable[[str | None, datetime], Fetch]:
    """An ad-hoc search always asks for everything, whatever an earlier search stored as cursor."""
    return lambda _cursor, run_started: fetch(None, run_started)


def plan_adhoc(settings: Settings, watchlist: Watchlist, stack: ExitStack, topic: Topic,
               sources: Sequence[str], progress: Progress) -> tuple[list[Task], dict[str, str]]:
    """Tasks for the sources that can search now; the others with the reason they cannot."""
    tasks: list[Task] = []
    unavailable: dict[str, str] = {}
    for source in sources:
        try:
            found = plan(settings, watchlist, stack, sources=[source], topics=[topic.id],
                         progress=progress)
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith("hccwatch."):
                raise
            unavailable[source] = "not available in this version"
            continue
        except ConfigError as error:
            unavailable[source] = str(error)
            continue
        tasks.extend(dataclasses.replace(t, fetch=_from_scratch(t.fetch)) for t in found)
    return tasks, unavailable


def adhoc_search(engine: Engine, settings: Settings, watchlist: Watchlist, term: str,
                 sources: Sequence[str] | None = None, *,
                 progress: Progress | None = None) -> AdhocResult:
    """Search the sources live for `term` and store what they return, tagged ad-hoc."""
    topic = adhoc_topic(clean_term(term))
    progress = progress or (lambda *_a, **_k: None)
    extended = dataclasses.replace(
        watchlist, topics=tuple(t for t in watchlist.topics if t.id != topic.id) + (topic,))
    with ExitStack() as stack:
        tasks, unavailable = plan_adhoc(settings, extended, stack, topic,
                                        sources or ADHOC_SOURCES, progress)
        if not tasks:
            reasons = "; ".join(f"{s}: {why}" for s, why in unavailable.items())
            raise ConfigError(f"no source can run an ad-hoc search ({reasons})")
        report = poll(engine, settings, extended, tasks, progress=progress)
    return AdhocResult(topic, report, unavailable)


# ---------------------------------------------------------------- adding a term to the watchlist

def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are a subset of TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def topic_block(term: str, *, topic_id: str, label: str) -> str:
    """The [[topics]] table for a new topic searching every API source for `term`."""
    words = "terms_zh" if is_cjk(term) else "terms"
    quoted = _toml_string(term)
    lines = ["", "# added from an ad-hoc search in the hccwatch web page", "[[topics]]",
             f"id = {_toml_string(topic_id)}", f"label = {_toml_string(label)}"]
    if is_cjk(label):
        lines.append(f"label_zh = {_toml_string(label)}")
    lines += [f"{words} = [{quoted}]", f"ctgov = {{ term = {quoted} }}",
              f"pubmed = {quoted}", f"europepmc = {quoted}"]
    return "\n".join(lines) + "\n"


def add_topic(watchlist_path: str | Path, term: str, *, topic_id: str,
              label: str | None = None) -> Topic:
    """Append a topic for `term` to the watchlist file; the new file is validated first and only
    then replaces the old one. Raises ConfigError (why) or ValueError (bad term)."""
    path = Path(watchlist_path).expanduser()
    if path.resolve() == BUNDLED_WATCHLIST.resolve():
        raise ConfigError("HCCWATCH_WATCHLIST points at the bundled watchlist; copy it to a file "
                          "of your own and point HCCWATCH_WATCHLIST there to add topics")
    term = clean_term(term)
    label = clean_term(label or term)
    current = load_watchlist(path)
    if any(t.id == topic_id for t in current.topics):
        raise ConfigError(f"the watchlist already has a topic with id {topic_id!r}")
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    trial = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        write_private(trial, (text + topic_block(term, topic_id=topic_id, label=label)).encode(),
                      mode=stat.S_IMODE(path.stat().st_mode))  # a 0600 watchlist stays 0600
        try:
            checked = load_watchlist(trial)
        except ConfigError as error:
            raise ConfigError(str(error).replace(str(trial), str(path))) from None
        os.replace(trial, path)
    finally:
        trial.unlink(missing_ok=True)
    return checked.topic(topic_id)
