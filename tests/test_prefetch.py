"""The poll's fetch-ahead: pages come in order, at most PREFETCH ahead of the one being stored,
a failure while fetching is raised where its page would have been, and a writer that stops
stops the fetching."""

from __future__ import annotations

import threading

import pytest

from pipeline.engine import prefetched
from sources.http import SourceError


def test_items_arrive_in_order_and_the_producer_stays_at_most_depth_ahead():
    produced: list[int] = []
    taken = threading.Event()

    def pages():
        for number in range(6):
            produced.append(number)
            yield number

    seen = []
    for item in prefetched(pages(), 2):
        taken.wait(0.3)  # give the producer every chance to run ahead
        seen.append(item)
        assert len(produced) - len(seen) <= 2 + 1  # two queued, one in hand
    assert seen == list(range(6))


def test_a_fetch_failure_is_raised_after_the_pages_before_it():
    def pages():
        yield "page 1"
        raise SourceError("HTTP 503 from the upstream")

    seen = []
    with pytest.raises(SourceError, match="HTTP 503"):
        for item in prefetched(pages(), 2):
            seen.append(item)
    assert seen == ["page 1"]


def test_a_writer_that_stops_stops_the_fetching():
    produced: list[int] = []

    def pages():
        for number in range(1000):
            produced.append(number)
            yield number

    stream = prefetched(pages(), 2)
    assert next(stream) == 0
    stream.close()  # the writer failed: the generator is closed, the producer thread joined
    assert len(produced) <= 4
