"""Bad-input corpus: every recorded response, cut short at several points, fed to its parser.
Each cut gives the source's clear error (a SourceError such as ParseError, with a message) or
a clean, smaller result: never another exception, never a hang.

To cover another parser, add a line to PARSERS: the fixture folder under tests/fixtures, the
globs of the files to cut, and the parser as a function of the body bytes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sources import clinicaltrials, europepmc, feeds, pubmed_parse
from sources.http import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
CUTS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
PARSE_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class Corpus:
    folder: str
    patterns: tuple[str, ...]
    parse: Callable[[bytes], Any]

    def files(self) -> list[Path]:
        folder = FIXTURES / self.folder
        return sorted({path for pattern in self.patterns for path in folder.glob(pattern)})


def parse_feed(body: bytes) -> Any:
    return feeds.parse_feed(body, {}, "corpus", "en", datetime(2026, 11, 23, tzinfo=UTC))


PARSERS = (
    Corpus("ctgov", ("*.json",), clinicaltrials.parse_page),
    Corpus("pubmed", ("metapub_*.xml", "biopython_pubmed*.xml", "constructed_*.xml"),
           pubmed_parse.parse_batch),
    Corpus("europepmc", ("*.json",), europepmc.parse_page),
    Corpus("feeds", ("*.xml", "*.html"), parse_feed),
)


def cut_points(size: int) -> list[int]:
    """Fractions of the body, plus the last byte off (the classic truncated download)."""
    return sorted({int(size * fraction) for fraction in CUTS} | {max(size - 1, 0)})


def cases() -> list[Any]:
    return [pytest.param(corpus, path, id=f"{corpus.folder}/{path.name}")
            for corpus in PARSERS for path in corpus.files()]


def parse_within_limit(parse: Callable[[bytes], Any], body: bytes) -> BaseException | None:
    """Run the parser in a thread so a hang fails the test instead of stalling the suite."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            parse(body)
            outcome.append(None)
        except BaseException as error:  # reported by the caller
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PARSE_TIME_LIMIT)
    assert outcome, f"parser hung on {len(body)} bytes"
    return outcome[0]


def test_every_parser_has_a_corpus():
    assert all(corpus.files() for corpus in PARSERS)


@pytest.mark.parametrize(("corpus", "path"), cases())
def test_truncated_response_gives_a_clear_error_or_a_clean_result(corpus, path):
    body = path.read_bytes()
    for cut in cut_points(len(body)):
        error = parse_within_limit(corpus.parse, body[:cut])
        assert error is None or isinstance(error, SourceError), \
            f"{path.name} cut at byte {cut}: {type(error).__name__}: {error}"
        if error is not None:
            assert str(error).strip(), f"{path.name} cut at byte {cut}: an empty message"
