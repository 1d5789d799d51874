"""One httpx client factory for every source: per-host rate limits, retries with backoff on
429/5xx/connection errors (honouring Retry-After), timeouts, a total deadline per request,
conditional GET, a size cap on what arrives and on what it decompresses to, a User-Agent naming
the project (the contact e-mail only where asked: NCBI wants it, other hosts get no address),
and secrets redacted from every URL and error we show."""

from __future__ import annotations

import email.utils
import errno
import logging
import random
import re
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpcore
import httpx

log = logging.getLogger("hccwatch.http")

VERSION = "0.1.0"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# One request (connect, send, headers, body) may take this many read timeouts in all: an
# upstream that drips a byte at a time never trips the per-read timeout, but trips this.
DEADLINE_FACTOR = 10
SECRET_NAMES = r"api[-_]?key|access[-_]?token|key|token|email|password|passwd|secret"
# `name=value` (URLs, forms), `"name": "value"` (JSON, as NCBI echoes a bad key) and
# `name: value` (headers, prose).
_SECRET_RE = re.compile(
    r"(?i)(?<!\w)([\"']?)(" + SECRET_NAMES + r")\1(\s*[=:]\s*)([\"']?)[^\s\"'&<>,;:{}]+")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SECRET_PARAM_RE = re.compile(f"(?i)^({SECRET_NAMES})$")
# Values sent as secret parameters: hidden wherever they come back, in whatever form.
_KNOWN_SECRETS: set[str] = set()
MIN_SECRET = 6  # shorter values are too common to hide everywhere


def redact(text: str) -> str:
    """Hide api keys, tokens, passwords and e-mail addresses in a URL or message: by name in
    query strings, JSON and headers, and by value wherever a secret we sent comes back."""
    text = str(text)
    for secret in tuple(_KNOWN_SECRETS):
        text = text.replace(secret, "***")
    text = _SECRET_RE.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}***", text)
    return _EMAIL_RE.sub("***@***", text)


def remember_secrets(params: Mapping[str, Any] | None) -> None:
    """Note the values of secret parameters (api_key, token...) so redact hides them anywhere."""
    for name, value in (params or {}).items():
        if _SECRET_PARAM_RE.match(str(name)) and len(str(value or "")) >= MIN_SECRET:
            _KNOWN_SECRETS.update({str(value), quote_plus(str(value))})


class SourceError(Exception):
    """A failure talking to, or reading from, an upstream. `retriable` says whether trying
    again later can help (429, 5xx, timeouts, connection errors) or not (400, bad query).
    `reason` says what happened in plain words, to follow the source's name ("answered 503",
    "could not be reached"; "no internet connection" stands alone)."""

    plain = "failed"

    def __init__(self, message: str, *, retriable: bool = False, status: int | None = None,
                 reason: str | None = None):
        super().__init__(redact(message))
        self.retriable = retriable
        self.status = status
        self.reason = reason or (f"answered {status}" if status else self.plain)


class ParseError(SourceError):
    """The upstream answered, but what it sent cannot be read (malformed JSON/XML/feed)."""

    plain = "sent an answer that could not be read"


class TooLarge(SourceError):
    """The response body is larger than the cap we accept."""

    plain = "sent an answer too large to accept"


OFFLINE = "no internet connection"


def connection_reason(error: BaseException) -> str:
    """Plain words for a failed connection: a name that cannot be looked up or a network that
    cannot be reached means we are offline; anything else, that the upstream is out of reach."""
    while error is not None:
        if isinstance(error, socket.gaierror) or getattr(error, "errno", None) in (
                errno.ENETUNREACH, errno.ENETDOWN):
            return OFFLINE
        error = error.__cause__ or error.__context__
    return "could not be reached"


class RateLimiter:
    """A thread-safe limiter: requests evenly spaced at `rate` per second, and never more than
    `rate` of them inside any window of one second plus a safety margin (servers count
    arrivals, which jitter; 50 ms is well above the jitter between two requests on one
    connection, and Biopython's Entrez spaces NCBI requests exactly 1/3 s apart, no margin)."""

    MARGIN = 0.05

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._recent: deque[float] = deque(maxlen=max(1, int(rate)))
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = now
            if self._recent:
                start = max(start, self._recent[-1] + self.interval)
                if len(self._recent) == self._recent.maxlen:
                    start = max(start, self._recent[0] + 1.0 + self.MARGIN)
            self._recent.append(start)
        if start > now:
            self._sleep(start - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(netloc: str, rate: float) -> RateLimiter:
    """The process-wide limiter of one host at one rate (shared by every client using it)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((netloc, rate), RateLimiter(rate))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        return backoff + random.uniform(0, self.base)


@dataclass(slots=True)
class Fetched:
    """What a request returned, read in full: status, body bytes, headers, final URL."""

    status: int
    content: bytes
    headers: Mapping[str, str]
    url: str
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text_snippet(self, limit: int = 200) -> str:
        text = self.content[:limit].decode("utf-8", "replace").strip()
        return " ".join(text.split())


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class HttpClient:
    """A rate-limited, retrying wrapper around one httpx.Client."""

    def __init__(self, client: httpx.Client, *, rate: float, retry: RetryPolicy,
                 max_bytes: int = DEFAULT_MAX_BYTES, sleep: Callable[[float], None] = time.sleep,
                 deadline: float = DEADLINE_FACTOR * 30.0):
        self._client = client
        self.deadline = deadline
        self._rate = rate
        self.retry = retry
        self.max_bytes = max_bytes
        self._sleep = sleep

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            etag: str | None = None, last_modified: str | None = None,
            max_bytes: int | None = None) -> Fetched:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self.request("GET", url, params=params, headers=headers, max_bytes=max_bytes)

    def post(self, url: str, *, data: Mapping[str, Any], max_bytes: int | None = None) -> Fetched:
        return self.request("POST", url, data=data, max_bytes=max_bytes)

    def request(self, method: str, url: str, *, max_bytes: int | None = None,
                **kwargs: Any) -> Fetched:
        """Send with pacing and retries; return a 2xx/304 response or raise SourceError."""
        remember_secrets(kwargs.get("params"))
        remember_secrets(kwargs.get("data"))
        for attempt in range(1, self.retry.attempts + 1):
            limiter_for(urlsplit(url).netloc, self._rate).acquire()
            try:
                fetched = self._send_once(method, url, max_bytes or self.max_bytes, **kwargs)
            except SourceError as error:
                if not error.retriable or attempt == self.retry.attempts:
                    raise
                wait = self.retry.delay(attempt, None)
                log.warning("retrying %s in %.1fs after: %s", redact(url), wait, error)
                self._sleep(wait)
                continue
            fetched.attempts = attempt
            if fetched.status < 400 or fetched.status == 304:
                return fetched
            error = status_error(fetched)
            if not error.retriable or attempt == self.retry.attempts:
                raise error
            wait = self.retry.delay(attempt, parse_retry_after(fetched.headers.get("retry-after")))
            log.warning("retrying %s in %.1fs after HTTP %s", redact(url), wait, fetched.status)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _send_once(self, method: str, url: str, max_bytes: int, **kwargs: Any) -> Fetched:
        _DEADLINE.at = time.monotonic() + self.deadline
        try:
            with self._client.stream(method, url, **kwargs) as response:
                body = read_body(response, max_bytes, redact(url))
                return Fetched(response.status_code, body, response.headers, str(response.url))
        except httpx.TimeoutException as error:
            if time.monotonic() >= _DEADLINE.at:
                raise SourceError(f"{redact(url)}: no complete answer within {self.deadline:g} s "
                                  "(the limit for one request)", reason=SLOW) from None
            raise SourceError(f"{redact(url)}: timed out ({type(error).__name__})",
                              retriable=True, reason=SLOW) from None
        except httpx.TooManyRedirects:
            raise SourceError(f"{redact(url)}: too many redirects (a redirect loop?)") from None
        except httpx.UnsupportedProtocol as error:
            raise SourceError(f"{redact(url)}: unsupported URL scheme ({error})") from None
        except (httpx.TransportError, httpx.DecodingError) as error:
            raise SourceError(f"{redact(url)}: connection failed: {error}",
                              retriable=True, reason=connection_reason(error)) from None
        finally:
            _DEADLINE.at = None


def read_body(response: httpx.Response, max_bytes: int, label: str) -> bytes:
    """The body, decompressed a piece at a time: never more than `max_bytes` arrive or are
    inflated (a few KB of gzip inside gzip can hold gigabytes)."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{label}: response of {declared} bytes exceeds the {max_bytes}-byte limit")
    pieces: Iterator[bytes] = _capped(response.iter_raw(), max_bytes, label)
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")]
    for encoding in reversed(encodings):  # the last one listed was applied last
        if encoding not in ("", "identity"):
            pieces = _inflate(pieces, encoding, label)
    return b"".join(_capped(pieces, max_bytes, label))


def _capped(pieces: Iterable[bytes], max_bytes: int, label: str) -> Iterator[bytes]:
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_bytes:
            raise TooLarge(f"{label}: response exceeds the {max_bytes}-byte limit")
        yield piece


SLOW = "did not answer in time"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
PIECE = 64 * 1024


def _inflate(pieces: Iterable[bytes], encoding: str, label: str) -> Iterator[bytes]:
    """One layer of Content-Encoding undone lazily, at most PIECE bytes out per step."""
    if encoding not in _WBITS:
        raise SourceError(f"{label}: answered in an unsupported encoding {encoding!r}")
    decoder = zlib.decompressobj(_WBITS[encoding])
    try:
        for piece in pieces:
            while piece and not decoder.eof:
                yield decoder.decompress(piece, PIECE)
                piece = decoder.unconsumed_tail
        yield decoder.flush()
    except zlib.error as error:
        raise SourceError(f"{label}: the {encoding} answer is corrupt ({error})",
                          retriable=True) from None


class _Deadline(threading.local):
    """When the request running in this thread must be done (time.monotonic), or None."""

    at: float | None = None


_DEADLINE = _Deadline()


def _remaining(timeout: float | None) -> float | None:
    """A socket operation's timeout, shortened to what is left of the request's deadline."""
    if _DEADLINE.at is None:
        return timeout
    left = _DEADLINE.at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                      _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, handing out sockets that keep the request deadline."""

    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(
            host, port, _remaining(timeout), local_address, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def keep_deadlines(client: httpx.Client) -> httpx.Client:
    """Make every connection pool of `client` (direct, and any proxy from the environment) use
    the deadline-keeping backend. httpx offers no public way to choose the network backend."""
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = _DeadlineBackend(pool._network_backend)
    return client


def status_error(fetched: Fetched) -> SourceError:
    """Classify an HTTP error status: 429 and 5xx are retriable, other 4xx are not."""
    retriable = fetched.status == 429 or fetched.status >= 500
    detail = fetched.text_snippet()
    message = f"HTTP {fetched.status} from {short_url(fetched.url)}"
    if detail:
        message += f": {detail}"
    return SourceError(message, retriable=retriable, status=fetched.status)


def short_url(url: str, limit: int = 160) -> str:
    """A URL for a message, redacted and clipped (a long query, such as ClinicalTrials.gov's
    field list, would otherwise crowd out what the server said)."""
    url = redact(url)
    return url if len(url) <= limit else url[:limit - 1] + "…"


def user_agent(contact: str | None, *, with_email: bool = False) -> str:
    """The User-Agent; e-mail addresses in `contact` are dropped unless `with_email`."""
    if contact and not with_email:
        contact = " ".join(_EMAIL_RE.sub(" ", contact).strip(" <>()[],;").split()) or None
    return f"hccwatch/{VERSION} (personal literature and trial watcher; {contact or 'no contact set'})"


def make_client(*, rate: float, contact: str | None = None, with_email: bool = False,
                timeout: float = 30.0, retry: RetryPolicy | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> HttpClient:
    """The one way hccwatch builds an HTTP client. `contact` is named in the User-Agent, its
    e-mail address only `with_email` (NCBI asks for one; no other host needs it)."""
    client = keep_deadlines(httpx.Client(
        headers={"User-Agent": user_agent(contact, with_email=with_email),
                 "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=5,
    ))
    return HttpClient(client, rate=rate, retry=retry or RetryPolicy(), max_bytes=max_bytes,
                      deadline=DEADLINE_FACTOR * timeout)
