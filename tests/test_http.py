"""The shared HTTP client against a real local server: retries only what is transient,
honours Retry-After, paces per host, caps sizes, and never shows secrets."""

from __future__ import annotations

import errno
import functools
import logging
import socket
import threading
import time
import tracemalloc
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote_plus

import pytest
from certs import self_signed
from hostile_server import HostileServer, gzip_bomb, head, send

import sources.http as http_module
from replay.server import Fault, ReplayServer, Response, StaticHandler
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
    assert error.value.reason == "answered 500"
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
        fetched = http.get(feed)
    # the first attempt gave up after the 0.5 s read timeout, not at the request's 5 s deadline
    assert fetched.status == 200 and fetched.attempts == 2


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
        with pytest.raises(SourceError) as loop:
            http.get(f"{replay.url}/loop")
        with pytest.raises(SourceError) as ftp:
            http.get(f"{replay.url}/ftp")
    assert str(loop.value) == f"{replay.url}/loop: too many redirects (a redirect loop?)"
    assert loop.value.reason == "failed" and not loop.value.retriable
    assert str(ftp.value).startswith(f"{replay.url}/ftp: unsupported URL scheme (")


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
    fetched = Fetched(500, b"  Service\n\n unavailable \xff\xfe" + b"x" * 300, {}, "http://x")
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


def test_a_mirror_named_by_host_name_is_reached_where_its_name_resolves(replay, feed, monkeypatch):
    port = int(feed.split(":")[2].split("/")[0])

    def resolver(host, *args, **kwargs):  # knows one name (the system resolver is never asked)
        if host != "mirror.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with client(attempts=1) as http:
        fetched = http.get(f"http://mirror.example:{port}/feed.xml")
    assert fetched.status == 200 and fetched.content.startswith(b"<rss>")


def test_an_unreachable_server_and_being_offline_are_told_apart(monkeypatch):
    with socket.socket() as spare:  # a local port nobody listens on
        spare.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}/feed"
    with client(attempts=1) as http, pytest.raises(SourceError) as refused:
        http.get(closed)
    assert refused.value.reason == "could not be reached" and refused.value.retriable
    assert str(refused.value).startswith(f"{closed}: connection failed: ")

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
    key = f"k{send}{uuid.uuid4().hex}"  # new each run: values once sent are remembered for the process
    replay.route("/echo", lambda r: Response(
        400, f"unknown key {key} for db pubmed; write to help@ncbi.example".encode(), "text/plain"))
    with client(attempts=1) as http, pytest.raises(SourceError) as error:
        if send == "params":
            http.get(f"{replay.url}/echo", params={"api_key": key, "db": "pubmed"})
        else:
            http.post(f"{replay.url}/echo", data={"api_key": key, "db": "pubmed"})
    # the key and the address are hidden, what is not secret (db=pubmed) is left as it is
    query = "?api_key=***&db=pubmed" if send == "params" else ""
    assert str(error.value) == (f"HTTP 400 from {replay.url}/echo{query}: "
                                "unknown key *** for db pubmed; write to ***@***")


# ------------------------------------------------ deadlines: connect, send, TLS, the whole request

def outcome(call) -> BaseException:
    """What `call` raised, run in a thread that must end within 10 s (a hang fails the test)."""
    raised = []

    def run():
        try:
            call()
        except Exception as error:  # noqa: BLE001 (the test asserts on it)
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the request hung"
    [error] = raised
    return error


def fetch(url: str, **kw):
    with client(attempts=1, timeout=0.2) as http:
        return http.post(url, **kw) if "data" in kw else http.get(url)


def test_a_server_too_busy_to_take_the_connection_is_given_up_on_after_the_timeout():
    with socket.socket() as busy, socket.socket() as first:
        busy.bind(("127.0.0.1", 0))
        busy.listen(0)
        first.connect(busy.getsockname())  # its one waiting place is taken: the next connect hangs
        url = f"http://127.0.0.1:{busy.getsockname()[1]}/feed"
        error = outcome(lambda: fetch(url))
    # the connect timeout, not the request's 2 s deadline, and a retriable error
    assert str(error) == f"{url}: timed out (ConnectTimeout)"
    assert error.retriable and error.reason == "did not answer in time"


def test_a_server_that_never_reads_a_large_post_is_given_up_on_after_the_timeout():
    with socket.socket() as deaf:  # takes connections and never reads them
        deaf.bind(("127.0.0.1", 0))
        deaf.listen()
        url = f"http://127.0.0.1:{deaf.getsockname()[1]}/epost"
        error = outcome(lambda: fetch(url, data={"db": "pubmed", "id": "1" * 8_000_000}))
    assert str(error) == f"{url}: timed out (WriteTimeout)"
    assert error.retriable and error.reason == "did not answer in time"


class SteppingClock:
    """time.monotonic as sources.http reads it: every reading `step` seconds after the last
    (each socket operation of a request takes that long)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 100.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize(("timeout", "limit"), [(None, 300), (0.3, 3)], ids=["default", "0.3s"])
def test_a_request_ends_at_its_total_deadline_of_ten_timeouts(feed, monkeypatch, timeout, limit):
    monkeypatch.setattr(http_module, "time", SteppingClock(limit / 3))
    timeouts = {} if timeout is None else {"timeout": timeout}
    with make_client(rate=100.0, **timeouts) as http, pytest.raises(SourceError) as error:
        http.get(feed)
    assert str(error.value) == f"{feed}: no complete answer within {limit} s (the limit for one request)"
    assert not error.value.retriable and error.value.reason == "did not answer in time"


def test_a_tls_handshake_that_never_comes_is_given_up_on_after_the_timeout():
    with socket.socket() as silent:  # takes the connection, never answers the TLS hello
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/feed"
        error = outcome(lambda: fetch(url))
    assert str(error) == f"{url}: timed out (ConnectTimeout)"
    assert error.retriable and error.reason == "did not answer in time"


@contextmanager
def https_server(context, body: bytes):
    """An https server on 127.0.0.1 answering every GET with `body`."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server API)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_mirror_with_its_own_certificate_is_read_over_tls(tmp_path, monkeypatch):
    with https_server(self_signed(tmp_path), b"<rss>over tls</rss>") as url:
        with client(attempts=1) as stranger, pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
            stranger.get(f"{url}/feed.xml")  # nobody vouches for its certificate
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # the family trusts it
        with client(attempts=1) as http:
            fetched = http.get(f"{url}/feed.xml")
    assert fetched.status == 200 and fetched.content == b"<rss>over tls</rss>"


# ------------------------------------------------ what arrives: encodings, sizes, connections

@pytest.mark.parametrize("encoding", ["identity", "gzip, identity"])
def test_a_body_labelled_identity_is_read_as_it_is(replay, encoding):
    import gzip

    body = b"<rss>plain</rss>"
    sent = gzip.compress(body) if "gzip" in encoding else body
    replay.route("/plain", lambda r: Response(200, sent, "text/xml", {"Content-Encoding": encoding}))
    with client(attempts=1) as http:
        assert http.get(f"{replay.url}/plain").content == body


def test_a_body_over_the_limit_is_refused_whether_its_size_is_declared_or_not():
    def declared(sock, _head):  # says how big before sending any of it
        sock.sendall(head(200, Content_Length="10000000000") + b"x" * 100)

    def undeclared(sock, _head):  # no length: the body ends when the connection does
        sock.sendall(head(200, Connection="close") + b"x" * 5000)

    with HostileServer(declared) as big, HostileServer(undeclared) as endless, \
            client(attempts=1, max_bytes=1000) as http:
        with pytest.raises(TooLarge) as at_once:
            http.get(big.url)
        with pytest.raises(TooLarge) as counted:
            http.get(endless.url)
    assert str(at_once.value) == f"{big.url}: response of 10000000000 bytes exceeds the 1000-byte limit"
    assert str(counted.value) == f"{endless.url}: response exceeds the 1000-byte limit"


def test_a_compression_bomb_is_refused_without_inflating_it_in_memory():
    with HostileServer(send(200, gzip_bomb(64 * 1024 * 1024), Content_Encoding="gzip, gzip")) as hostile, \
            client(attempts=1, max_bytes=1_000_000) as http:
        tracemalloc.start()
        try:
            with pytest.raises(TooLarge, match="1000000-byte limit"):
                http.get(hostile.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # 64 MB of zeros inside: inflated 64 KB at a time, stopped at 1 MB


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    hung_up = threading.Event()

    def answer_and_hang_up(sock, _head):  # no "Connection: close": the answer looks reusable
        sock.sendall(head(200, Content_Length="2") + b"ok")
        sock.shutdown(socket.SHUT_RDWR)
        hung_up.set()

    with HostileServer(answer_and_hang_up) as server, client() as http:
        first = http.get(server.url)
        assert hung_up.wait(5)
        second = http.get(server.url)
    # a new connection at once: not a failed send on the dead one and a retry
    assert (first.content, second.content, second.attempts) == (b"ok", b"ok", 1)


def test_five_redirects_are_followed_a_sixth_is_refused_as_a_loop(replay):
    def hop(request):
        left = int(request.path.rsplit("/", 1)[1])
        if left == 0:
            return Response(200, b"arrived", "text/plain")
        return Response(302, b"", "text/plain", {"Location": f"/hop/{left - 1}"})

    replay.route("/hop/", hop)
    with client(attempts=1) as http:
        assert http.get(f"{replay.url}/hop/5").content == b"arrived"
        with pytest.raises(SourceError, match="too many redirects"):
            http.get(f"{replay.url}/hop/6")


# ------------------------------------------------ pacing, retries and what the family sees

def test_two_hosts_are_paced_each_on_its_own(replay, monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(http_module, "RateLimiter",
                        functools.partial(RateLimiter, clock=fake.clock, sleep=fake.sleep))
    monkeypatch.setattr(http_module, "_LIMITERS", {})
    arrivals = {"a": [], "b": []}

    def arrive(name):  # the server notes when (on the fake clock) each request came
        def handler(_request):
            arrivals[name].append(fake.now)
            return Response(200, b"ok")
        return handler

    with ReplayServer() as other:
        replay.route("/feed", arrive("a"))
        other.route("/feed", arrive("b"))
        with client(rate=2.0) as http:
            for url in (replay.url, other.url, replay.url, other.url):
                http.get(f"{url}/feed")
    # two a second per host: the other host's requests never wait for this one's
    assert arrivals == {"a": [100.0, 100.5], "b": [100.0, 100.5]}


def test_one_a_second_means_a_second_and_the_margin_apart():
    assert start_times(1.0, 3) == [100.0, 101.05, 102.1]
    with pytest.raises(ValueError, match="^rate must be positive$"):
        RateLimiter(-1)


def test_each_retry_is_logged_with_the_address_and_no_secret(replay, feed, caplog):
    replay.inject("/feed.xml", Fault(status=503))
    replay.inject("/feed.xml", Fault(kind="truncate"))
    url = f"{feed}?api_key=k-log-5f1e2d9a"
    with caplog.at_level(logging.WARNING, logger="hccwatch.http"), client() as http:
        assert http.get(url).attempts == 3
    status, dropped = (record.getMessage() for record in caplog.records if record.name == "hccwatch.http")
    shown = f"{feed}?api_key=***"
    assert status == f"retrying {shown} in 0.0s after HTTP 503"
    assert dropped.startswith(f"retrying {shown} in 0.0s after: {shown}: connection failed: ")


def test_a_retry_after_date_already_past_is_retried_at_once(replay, feed):
    replay.inject("/feed.xml", Fault(status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with client() as http:
        assert http.get(feed).attempts == 2


def test_an_error_answer_is_quoted_up_to_200_bytes(replay):
    replay.route("/down", lambda r: Response(503, b"e" * 300, "text/plain"))
    with client(attempts=1) as http, pytest.raises(SourceError) as error:
        http.get(f"{replay.url}/down")
    assert str(error.value) == f"HTTP 503 from {replay.url}/down: " + "e" * 200


def test_a_short_key_and_one_a_url_escapes_are_hidden_in_either_form(replay):
    key = uuid.uuid4().hex[:3] + "+/="  # six characters, the shortest remembered; new each run
    replay.route("/echo6", lambda r: Response(
        400, f"bad key {key} ({quote_plus(key)})".encode(), "text/plain"))
    with client(attempts=1) as http, pytest.raises(SourceError) as error:
        http.get(f"{replay.url}/echo6", params={"token": key})
    assert str(error.value) == f"HTTP 400 from {replay.url}/echo6?token=***: bad key *** (***)"


def test_only_a_client_that_asks_names_the_contacts_email_address(replay, feed):
    with client(contact="Xu Li <xu.li@example.org>") as http:
        http.get(feed)
    with client(contact="Xu Li <xu.li@example.org>", with_email=True) as http:  # as for NCBI
        http.get(feed)
    plain, ncbi = (r.headers["user-agent"] for r in replay.requests("/feed.xml"))
    assert plain.endswith("; Xu Li)") and ncbi.endswith("; Xu Li <xu.li@example.org>)")
