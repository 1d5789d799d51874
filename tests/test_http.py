"""The shared HTTP client against a real local server: retries only what is transient,
honours Retry-After, paces per host, caps sizes, and never shows secrets."""

from __future__ import annotations

import errno
import socket
import time

import pytest

from replay.server import Fault, Response, StaticHandler
from sources.http import (
    Fetched,
    RateLimiter,
    RetryPolicy,
    SourceError,
    TooLarge,
    make_client,
    parse_retry_after,
    redact,
    user_agent,
)


def client(rate=100.0, attempts=3, **kw):
    return make_client(rate=rate, retry=RetryPolicy(attempts=attempts, base=0.01), **kw)


@pytest.fixture
def feed(replay):
    static = StaticHandler()
    static.put("/feed.xml", b"<rss><channel><title>t</title></channel></rss>")
    replay.route("/feed.xml", static)
    return f"{replay.url}/feed.xml"


def test_429_with_retry_after_is_waited_out_then_succeeds(replay, feed):
    replay.inject("/feed.xml", Fault(status=429, retry_after="1"))
    with client() as http:
        started = time.monotonic()
        fetched = http.get(feed)
        waited = time.monotonic() - started
    assert fetched.status == 200 and fetched.attempts == 2
    assert waited >= 0.9  # the server asked for one second
    assert len(replay.requests("/feed.xml")) == 2


def test_5xx_burst_is_retried_with_backoff(replay, feed):
    replay.inject("/feed.xml", Fault(status=503), times=2)
    with client(attempts=3) as http:
        assert http.get(feed).attempts == 3


def test_persistent_5xx_gives_up_with_a_retriable_error(replay, feed):
    replay.inject("/feed.xml", Fault(status=500, body=b"upstream exploded"), times=5)
    with client(attempts=2) as http, pytest.raises(SourceError) as error:
        http.get(feed)
    assert error.value.retriable and error.value.status == 500
    assert "HTTP 500" in str(error.value) and "upstream exploded" in str(error.value)
    assert len(replay.requests("/feed.xml")) == 2


def test_400_is_not_retried(replay):
    replay.route("/bad", lambda r: Response(400, b"Unknown parameter `query.recrs`", "text/plain"))
    with client() as http, pytest.raises(SourceError) as error:
        http.get(f"{replay.url}/bad")
    assert not error.value.retriable
    assert "Unknown parameter" in str(error.value)
    assert len(replay.requests("/bad")) == 1


def test_stalled_response_times_out_then_retries(replay, feed):
    replay.inject("/feed.xml", Fault(kind="stall", seconds=1.5))
    with client(timeout=0.5) as http:
        assert http.get(feed).status == 200


def test_truncated_body_is_a_connection_error(replay, feed):
    replay.inject("/feed.xml", Fault(kind="truncate"), times=5)
    with client(attempts=2) as http, pytest.raises(SourceError, match="connection failed") as error:
        http.get(feed)
    assert error.value.retriable


def test_dns_failure_is_a_clear_retriable_error(monkeypatch):
    # An injected resolver that knows no such host (the system resolver is never asked).
    def unknown_host(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown_host)
    with client(attempts=1) as http, pytest.raises(SourceError, match="connection failed") as error:
        http.get("http://no-such-host.invalid/feed")
    assert error.value.retriable


def test_conditional_get_gets_304(feed):
    with client() as http:
        first = http.get(feed)
        second = http.get(feed, etag=first.headers["etag"])
    assert second.not_modified and second.content == b""


def test_oversized_response_is_refused(replay):
    replay.route("/big", lambda r: Response(200, b"x" * 5000, "text/plain"))
    with client(max_bytes=1000) as http, pytest.raises(TooLarge, match="1000-byte limit"):
        http.get(f"{replay.url}/big")


def test_redirect_loop_and_bad_scheme_fail_cleanly(replay):
    replay.route("/loop", lambda r: Response(302, b"", "text/plain", {"Location": "/loop"}))
    replay.route("/ftp", lambda r: Response(302, b"", "text/plain", {"Location": "ftp://example.org/x"}))
    with client() as http:
        with pytest.raises(SourceError, match="too many redirects"):
            http.get(f"{replay.url}/loop")
        with pytest.raises(SourceError, match="unsupported URL scheme"):
            http.get(f"{replay.url}/ftp")


def test_requests_to_one_host_are_paced(replay, feed):
    with client(rate=5.0) as http:
        for _ in range(8):
            http.get(feed)
    assert replay.max_per_second("/feed.xml") <= 5


def test_secrets_are_redacted_from_errors(replay):
    replay.route("/eutils", lambda r: Response(400, b"bad", "text/plain"))
    with client() as http, pytest.raises(SourceError) as error:
        http.get(f"{replay.url}/eutils", params={"api_key": "SECRET123", "email": "me@family.org"})
    assert "SECRET123" not in str(error.value) and "me@family.org" not in str(error.value)
    assert "api_key=***" in str(error.value)


def test_redact_and_retry_after_parsing():
    assert redact("https://x/esearch.fcgi?term=a&api_key=abc&email=a@b.org") == \
        "https://x/esearch.fcgi?term=a&api_key=***&email=***"
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


def test_user_agent_leaves_out_email_addresses_unless_asked():
    assert user_agent("Jane <jane@example.org>").endswith("; Jane)")
    assert user_agent("jane@example.org").endswith("; no contact set)")
    assert user_agent("jane@example.org", with_email=True).endswith("; jane@example.org)")


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def start_times(rate: float, count: int) -> list[float]:
    fake = FakeTime()
    limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(count):
        limiter.acquire()
        starts.append(round(fake.now, 6))
    return starts


def test_requests_are_spaced_and_no_second_holds_more_than_the_rate():
    # 2/s: half a second apart, and a third request waits until the first is 1.05 s old
    # (the servers count arrivals, which jitter).
    assert start_times(2.0, 5) == [100.0, 100.5, 101.05, 101.55, 102.1]
    assert start_times(0.5, 3) == [100.0, 102.0, 104.0]  # slower than one a second
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(0)


def test_backoff_doubles_up_to_its_cap_and_retry_after_wins_up_to_five_minutes():
    policy = RetryPolicy(attempts=5, base=1.0, cap=60.0)
    for attempt, low in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (20, 60.0)]:
        waits = [policy.delay(attempt, None) for _ in range(50)]
        assert all(low <= wait < low + 1.0 for wait in waits), (attempt, waits)
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(1, 3600.0) == 300.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0  # past
    assert parse_retry_after(" 12 ") == 12.0 and parse_retry_after("") is None


def test_a_source_error_is_final_unless_said_otherwise():
    assert not SourceError("Unknown parameter").retriable
    error = SourceError("HTTP 503", retriable=True, status=503)
    assert error.retriable and error.status == 503


def test_every_request_says_who_is_asking(replay, feed):
    with client(contact="Jane Doe") as http:
        http.get(feed)
    with client() as http:
        http.get(feed)
    named, anonymous = (r.headers["user-agent"] for r in replay.requests("/feed.xml"))
    assert named.startswith("hccwatch/") and named.endswith("; Jane Doe)")
    assert anonymous.endswith("; no contact set)")
    assert replay.requests("/feed.xml")[0].headers["accept-encoding"] == "gzip, deflate"


def test_conditional_get_by_date_gets_304(feed):
    with client() as http:
        first = http.get(feed)
        second = http.get(feed, last_modified=first.headers["last-modified"])
    assert first.status == 200 and second.not_modified


def test_a_body_of_exactly_the_limit_is_accepted_one_byte_more_is_not(replay):
    replay.route("/exact", lambda r: Response(200, b"x" * 1000, "text/plain"))
    replay.route("/over", lambda r: Response(200, b"x" * 1001, "text/plain"))
    with client(max_bytes=1000) as http:
        assert len(http.get(f"{replay.url}/exact").content) == 1000
        with pytest.raises(TooLarge, match="1000-byte limit"):
            http.get(f"{replay.url}/over")
        assert len(http.get(f"{replay.url}/over", max_bytes=2000).content) == 1001
        assert len(http.post(f"{replay.url}/over", data={"id": "1"}, max_bytes=2000).content) == 1001
        with pytest.raises(TooLarge, match="500-byte limit"):
            http.post(f"{replay.url}/exact", data={"id": "1"}, max_bytes=500)


def test_a_form_post_arrives_whole(replay):
    replay.route("/epost", lambda r: Response(200, b"<ok/>", "text/xml"))
    with client() as http:
        fetched = http.post(f"{replay.url}/epost", data={"db": "pubmed", "id": "1,2,3"})
    [request] = replay.requests("/epost")
    assert fetched.status == 200 and fetched.content == b"<ok/>"
    assert request.method == "POST" and request.body == b"db=pubmed&id=1%2C2%2C3"


def test_an_error_snippet_is_one_readable_line():
    fetched = Fetched(500, b"  Service\n\n unavailable \xff\xfe" + b"x" * 300, {}, "http://x", 0.1)
    snippet = fetched.text_snippet(limit=30)
    assert snippet == "Service unavailable \ufffd\ufffd" + "x" * 4  # the first 30 bytes


def test_a_corrupt_or_unknown_compression_is_a_clear_error(replay):
    import gzip
    import random

    body = random.Random(18).randbytes(300_000)  # incompressible: arrives in several pieces
    whole = gzip.compress(body)
    replay.route("/gz", lambda r: Response(200, whole, "text/xml", {"Content-Encoding": "gzip"}))
    replay.route("/corrupt", lambda r: Response(200, whole[:10] + b"garbage" * 20, "text/xml",
                                                {"Content-Encoding": "gzip"}))
    replay.route("/br", lambda r: Response(200, b"\x0b\x02", "text/xml", {"Content-Encoding": "br"}))
    with client(attempts=1) as http:
        assert http.get(f"{replay.url}/gz").content == body
        with pytest.raises(SourceError, match=r"/corrupt: the gzip answer is corrupt \(") as corrupt:
            http.get(f"{replay.url}/corrupt")
        with pytest.raises(SourceError, match=r"/br: answered in an unsupported encoding 'br'$") as brotli:
            http.get(f"{replay.url}/br")
    assert corrupt.value.retriable and not brotli.value.retriable


def test_an_unreachable_server_and_being_offline_are_told_apart(monkeypatch):
    with socket.socket() as spare:  # a local port nobody listens on
        spare.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}/feed"
    with client(attempts=1) as http, pytest.raises(SourceError) as refused:
        http.get(closed)
    assert refused.value.reason == "could not be reached" and refused.value.retriable

    def no_network(host, *args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with client(attempts=1) as http, pytest.raises(SourceError) as offline:
        http.get("http://mirror.example/feed")
    assert offline.value.reason == "no internet connection"


def test_a_long_address_in_an_error_is_clipped_after_160_characters(replay):
    replay.route("/gone", lambda r: Response(404, b"not here", "text/plain"))
    exact = f"{replay.url}/gone?q="
    exact += "a" * (160 - len(exact))
    with client(attempts=1) as http:
        with pytest.raises(SourceError) as fits:
            http.get(exact)
        with pytest.raises(SourceError) as clipped:
            http.get(exact + "bc")
    assert str(fits.value) == f"HTTP 404 from {exact}: not here"
    assert str(clipped.value) == f"HTTP 404 from {exact[:159]}…: not here"


@pytest.mark.parametrize("send", ["params", "data"])
def test_a_key_sent_in_a_query_or_a_form_is_hidden_when_the_server_echoes_it_bare(replay, send):
    key = f"k{send}7f3a9c2e51d8b046"  # unique: values once sent are remembered for the process
    replay.route("/echo", lambda r: Response(400, f"unknown key {key}; see /docs".encode(), "text/plain"))
    with client(attempts=1) as http, pytest.raises(SourceError) as error:
        if send == "params":
            http.get(f"{replay.url}/echo", params={"api_key": key})
        else:
            http.post(f"{replay.url}/echo", data={"api_key": key, "db": "pubmed"})
    assert "unknown key" in str(error.value) and key not in str(error.value)
