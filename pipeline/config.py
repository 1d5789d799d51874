"""What the poll engine reads of the configuration. The topics and feeds a poll searches for
are defined here (the watchlist loader builds them; a watched place is sources.matching's
PlaceSpec); the settings and the watchlist themselves are Protocols that hccwatch's Settings and
Watchlist satisfy as they are, so pipeline never imports the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pipeline.judge import Judges
from sources.matching import PlaceSpec


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    terms: tuple[str, ...]
    label_zh: str | None = None
    terms_zh: tuple[str, ...] = ()
    ctgov: dict[str, str] | None = None
    pubmed: str | None = None
    europepmc: str | None = None
    kind: str | None = None
    weight: float | None = None  # None: not given (1, or half for the disease topic)

    @property
    def all_terms(self) -> tuple[str, ...]:
        return self.terms + self.terms_zh

    @property
    def is_disease(self) -> bool:
        return self.kind == "disease"


@dataclass(frozen=True)
class Feed:
    name: str
    url: str
    lang: str = "en"
    kind: str | None = None


class Searches(Protocol):
    """What a poll searches for (hccwatch.watchlist.Watchlist is one)."""

    @property
    def topics(self) -> tuple[Topic, ...]: ...

    @property
    def feeds(self) -> tuple[Feed, ...]: ...

    @property
    def places(self) -> tuple[PlaceSpec, ...]: ...

    def topic(self, topic_id: str) -> Topic: ...

    def with_topic(self, topic: Topic) -> Searches:
        """These searches with `topic` added (in place of one with the same id)."""

    def judges(self) -> Judges: ...


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class PollSettings(Protocol):
    """The settings a poll reads (hccwatch.settings.Settings is one): the store, the upstream
    addresses, rates, retries and how far back to look."""

    db: str
    ctgov_url: str
    eutils_url: str
    europepmc_url: str
    ncbi_api_key: Secret | None
    ncbi_email: str | None
    ctgov_rate: float
    feed_rate: float
    http_timeout: float
    retry_attempts: int
    retry_base: float
    backfill_days: int
    lookback_days: int

    @property
    def effective_ncbi_rate(self) -> float: ...

    @property
    def user_contact(self) -> str | None: ...
