"""watchlist.toml -> typed Watchlist: topics (EN/ZH terms, per-source queries), feeds, watched
places and the patient profile. A broken file fails with the file, the line where it can be
found, and why."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assess.eligibility import RULES_VERSION, screen
from assess.profile import Patient, ProfileError, patient_from_table
from assess.relevance import RelevanceContext, TopicInfo, mesh_in_query, short_label
from digests.choose import Limits
from hccwatch.settings import ConfigError
from pipeline.config import Feed, Topic
from pipeline.judge import Judges
from sources.matching import PlaceSpec
from store.schedule import WEEKDAYS, next_runs
from store.vocab import ALERT_KINDS as ALERT_KIND_LABELS

CTGOV_AREAS = ("cond", "intr", "term", "locn")
TOP_KEYS = {"timezone", "digest_weekday", "digest_hour", "topics", "feeds", "places", "patient", "digest",
            "alerts"}
ALERT_KINDS = tuple(ALERT_KIND_LABELS)
QUIET_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
TOPIC_KEYS = {"id", "label", "label_zh", "terms", "terms_zh", "ctgov", "pubmed", "europepmc",
              "kind", "notes", "codes", "trials", "weight"}
FEED_KEYS = {"name", "url", "lang", "kind", "notes"}
PLACE_KEYS = {"name", "label_zh", "match", "country", "notes"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_WEIGHT = 10


# key -> (smallest, largest) allowed
DIGEST_LIMITS = {"top_items": (1, 50), "papers": (0, 500), "news": (0, 500), "trial_updates": (0, 500),
                 "new_within_days": (1, 3650)}


@dataclass(frozen=True)
class Alerts:
    """`[alerts]` (DESIGN.md): which kinds of change alert at once (to HCCWATCH_ALERT_URLS)
    and the quiet hours, in the watchlist's timezone, that hold alerts until they end."""

    kinds: tuple[str, ...] = ALERT_KINDS
    quiet_hours: str = "22:00-07:00"


@dataclass(frozen=True)
class Watchlist:
    path: Path
    timezone: str = "Asia/Shanghai"
    digest_weekday: str = "monday"
    digest_hour: int = 7
    topics: tuple[Topic, ...] = ()
    feeds: tuple[Feed, ...] = ()
    places: tuple[PlaceSpec, ...] = field(default_factory=tuple)
    patient: Patient = field(default_factory=Patient)   # no [patient]: nothing known
    digest: Limits = field(default_factory=Limits)  # `[digest]`: how much the digest shows
    alerts: Alerts = field(default_factory=Alerts)  # `[alerts]`: what alerts at once, when

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_runs(self, now: datetime) -> dict[str, Any]:
        """When `hccwatch serve` polls and mails next (ISO times and one line of text)."""
        return next_runs(self.digest_weekday, self.digest_hour, self.timezone, now)

    def topic(self, topic_id: str) -> Topic:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        known = ", ".join(t.id for t in self.topics)
        raise ConfigError(f"unknown topic {topic_id!r} (watchlist has: {known})")

    def with_topic(self, topic: Topic) -> Watchlist:
        """This watchlist with `topic` added (in place of one with the same id)."""
        return replace(self, topics=tuple(t for t in self.topics if t.id != topic.id) + (topic,))

    def judges(self) -> Judges:
        """The judgement inputs for stored findings: relevance, and every trial's eligibility
        pre-screen for this watchlist's patient. The profile and the rules' version are part
        of the inputs (with the watched places), so changing any judges every stored finding again."""
        return Judges(relevance=self.relevance_context(), screen=partial(screen, patient=self.patient),
                      patient=f"{RULES_VERSION}|{self.patient!r}", places=self.places)

    def relevance_context(self) -> RelevanceContext:
        """What relevance ranking needs from the watchlist: topics with their weights, and the
        disease's terms and MeSH headings (from the disease topics)."""
        disease = [t for t in self.topics if t.is_disease]
        return RelevanceContext(
            topics={t.id: TopicInfo(t.id, t.label, t.label_zh, t.weight, t.is_disease) for t in self.topics},
            disease_terms=tuple(term for t in disease for term in t.all_terms),
            disease_mesh=tuple(m for t in disease for m in mesh_in_query(t.pubmed)),
            disease_label=next((short_label(t.label) for t in disease), "HCC"),
            disease_label_zh=next((short_label(t.label_zh or t.label) for t in disease), "肝癌"))


class _Locator:
    """Finds the line of the n-th [[section]] (or of a [section]) and of a key inside it, for
    error messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def where(self, section: str | None = None, index: int = 0, key: str | None = None) -> str:
        start = 0
        if section:
            headers = [n for n, line in enumerate(self.lines)
                       if line.strip().replace(" ", "") in (f"[[{section}]]", f"[{section}]")]
            if index < len(headers):
                start = headers[index]
        end = next((n for n in range(start + 1, len(self.lines))
                    if self.lines[n].lstrip().startswith("[")), len(self.lines))
        if key:
            for n in range(start, end):
                if re.match(rf"\s*{re.escape(key)}\s*=", self.lines[n]):
                    return f"{self.path}:{n + 1}"
        return f"{self.path}:{start + 1}" if section else str(self.path)

    def fail(self, reason: str, section: str | None = None, index: int = 0,
             key: str | None = None) -> ConfigError:
        return ConfigError(f"{self.where(section, index, key)}: {reason}")


def load_watchlist(path: str | Path) -> Watchlist:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"HCCWATCH_WATCHLIST: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: invalid TOML: {error}") from None
    return parse_watchlist(data, _Locator(path, text))


def _unknown(data: dict[str, Any], allowed: set[str], loc: _Locator, section: str | None,
             index: int) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise loc.fail(f"unknown key {key!r}{suggestion}", section, index, key)


def parse_watchlist(data: dict[str, Any], loc: _Locator) -> Watchlist:
    _unknown(data, TOP_KEYS, loc, None, 0)
    timezone = data.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise loc.fail(f"unknown timezone {timezone!r}", key="timezone") from None
    weekday = str(data.get("digest_weekday", "monday")).lower()
    if weekday not in WEEKDAYS:
        raise loc.fail(f"digest_weekday must be one of {', '.join(WEEKDAYS)}", key="digest_weekday")
    hour = data.get("digest_hour", 7)
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise loc.fail("digest_hour must be a whole hour 0-23", key="digest_hour")
    topics = tuple(_topic(t, loc, i) for i, t in enumerate(_tables(data, "topics", loc)))
    if not topics:
        raise loc.fail("the watchlist has no [[topics]]")
    _unique([t.id for t in topics], "topics", "id", loc)
    feeds = tuple(_feed(f, loc, i) for i, f in enumerate(_tables(data, "feeds", loc)))
    _unique([f.name for f in feeds], "feeds", "name", loc)
    places = tuple(_place(p, loc, i) for i, p in enumerate(_tables(data, "places", loc)))
    _unique([p.name for p in places], "places", "name", loc)
    return Watchlist(path=loc.path, timezone=str(timezone), digest_weekday=weekday,
                     digest_hour=hour, topics=topics, feeds=feeds, places=places,
                     patient=_patient(data.get("patient", {}), loc),
                     digest=_digest(data.get("digest", {}), loc),
                     alerts=_alerts(data.get("alerts", {}), loc))


def _patient(table: Any, loc: _Locator) -> Patient:
    """[patient] via assess.profile; a bad value fails at the line of its key."""
    try:
        return patient_from_table(table)
    except ProfileError as error:
        key = re.match(r"patient\.(\w+)", error.key)
        raise loc.fail(str(error), "patient", 0, key.group(1) if key else None) from None


def _digest(table: Any, loc: _Locator) -> Limits:
    """`[digest]`: whole numbers within DIGEST_LIMITS; absent keys keep their defaults."""
    if not isinstance(table, dict):
        raise loc.fail("digest must be a table: [digest]", key="digest")
    _unknown(table, set(DIGEST_LIMITS), loc, "digest", 0)
    for key, value in table.items():
        low, high = DIGEST_LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise loc.fail(f"digest {key} must be a whole number from {low} to {high}, not {value!r}",
                           "digest", 0, key)
    return Limits(**table)


def _alerts(table: Any, loc: _Locator) -> Alerts:
    """`[alerts]`: kinds from ALERT_KINDS, quiet_hours as HH:MM-HH:MM; absent keys keep defaults."""
    if not isinstance(table, dict):
        raise loc.fail("alerts must be a table: [alerts]", key="alerts")
    _unknown(table, {"kinds", "quiet_hours"}, loc, "alerts", 0)
    kinds = table.get("kinds", list(ALERT_KINDS))
    if not isinstance(kinds, list) or any(k not in ALERT_KINDS for k in kinds):
        raise loc.fail(f"alerts kinds must be a list of {', '.join(ALERT_KINDS)}, not {kinds!r}",
                       "alerts", 0, "kinds")
    quiet = table.get("quiet_hours", Alerts.quiet_hours)
    if not isinstance(quiet, str) or not QUIET_HOURS_RE.match(quiet):
        raise loc.fail(f"alerts quiet_hours must look like 22:00-07:00, not {quiet!r}",
                       "alerts", 0, "quiet_hours")
    return Alerts(kinds=tuple(kinds), quiet_hours=quiet)


def _tables(data: dict[str, Any], name: str, loc: _Locator) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise loc.fail(f"{name} must be written as [[{name}]] tables", key=name)
    return value


def _unique(values: list[str], section: str, key: str, loc: _Locator) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise loc.fail(f"duplicate {section[:-1]} {key} {value!r}", section, index, key)
        seen.add(value)


def _strings(value: Any, what: str, loc: _Locator, section: str, index: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise loc.fail(f"{what} must be a list of non-empty strings", section, index, what)
    return tuple(v.strip() for v in value)


def _text(table: dict[str, Any], key: str, loc: _Locator, section: str, index: int,
          required: bool = False) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise loc.fail(f"{key} must be a non-empty string", section, index, key)
    return value.strip()


def _topic(table: dict[str, Any], loc: _Locator, index: int) -> Topic:
    _unknown(table, TOPIC_KEYS, loc, "topics", index)
    topic_id = _text(table, "id", loc, "topics", index, required=True)
    if not ID_RE.match(topic_id):
        raise loc.fail(f"topic id {topic_id!r} must be lower-case letters, digits, '-' or '_'",
                       "topics", index, "id")
    terms = _strings(table.get("terms"), "terms", loc, "topics", index)
    terms_zh = _strings(table.get("terms_zh"), "terms_zh", loc, "topics", index)
    if not terms and not terms_zh:
        raise loc.fail(f"topic {topic_id!r} has no terms (give terms or terms_zh)", "topics", index)
    ctgov = table.get("ctgov")
    if ctgov is not None:
        if not isinstance(ctgov, dict) or not ctgov:
            raise loc.fail(f"topic {topic_id!r}: ctgov must be a table like {{ cond = \"...\" }}",
                           "topics", index, "ctgov")
        bad = [k for k in ctgov if k not in CTGOV_AREAS or not isinstance(ctgov[k], str)]
        if bad:
            raise loc.fail(f"topic {topic_id!r}: ctgov takes string values for {', '.join(CTGOV_AREAS)}; "
                           f"not {bad[0]!r}", "topics", index, "ctgov")
    return Topic(
        id=topic_id,
        label=_text(table, "label", loc, "topics", index) or topic_id,
        label_zh=_text(table, "label_zh", loc, "topics", index),
        terms=terms, terms_zh=terms_zh, ctgov=dict(ctgov) if ctgov else None,
        pubmed=_text(table, "pubmed", loc, "topics", index),
        europepmc=_text(table, "europepmc", loc, "topics", index),
        kind=_text(table, "kind", loc, "topics", index),
        weight=_weight(table, topic_id, loc, index),
    )


def _weight(table: dict[str, Any], topic_id: str, loc: _Locator, index: int) -> float | None:
    """A topic's `weight`: a number from 0 to MAX_WEIGHT (absent: None)."""
    value = table.get("weight")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0 <= value <= MAX_WEIGHT:
        raise loc.fail(f"topic {topic_id!r}: weight must be a number from 0 to {MAX_WEIGHT} "
                       f"(1 = an option topic, less for the disease), not {value!r}", "topics", index, "weight")
    return float(value)


def _feed(table: dict[str, Any], loc: _Locator, index: int) -> Feed:
    _unknown(table, FEED_KEYS, loc, "feeds", index)
    url = _text(table, "url", loc, "feeds", index, required=True)
    if not re.match(r"^https?://", url):
        raise loc.fail(f"feed url must start with http:// or https://, got {url!r}", "feeds", index, "url")
    return Feed(name=_text(table, "name", loc, "feeds", index, required=True), url=url,
                lang=_text(table, "lang", loc, "feeds", index) or "en",
                kind=_text(table, "kind", loc, "feeds", index))


def _place(table: dict[str, Any], loc: _Locator, index: int) -> PlaceSpec:
    _unknown(table, PLACE_KEYS, loc, "places", index)
    name = _text(table, "name", loc, "places", index, required=True)
    match = _strings(table.get("match"), "match", loc, "places", index) or (name,)
    return PlaceSpec(name=name, match=match, label_zh=_text(table, "label_zh", loc, "places", index),
                 country=_text(table, "country", loc, "places", index))
