"""Where alerts go: HCCWATCH_ALERT_URLS read as Apprise destinations. The URLs hold tokens, so
a destination is known everywhere else (ledger, status, errors, logs) only by a hash of its URL
and a label with every secret part masked; errors are scrubbed of every piece of the URL.
Apprise is imported here, and only when there are URLs to read: commands that do not send
alerts never load it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

# Space-separated, or comma-separated where the comma starts another URL (a comma inside a
# URL's query, as in mailto://...?to=a@x,b@y, stays part of it).
_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)|,\s*$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,19})://")
_PIECES = re.compile(r"[/:@?&=#,;+\s]+")
MIN_PIECE = 3  # shorter pieces of a URL (a port, "to") are left in error messages
SETTING = "HCCWATCH_ALERT_URLS"


@dataclass(frozen=True)
class Destination:
    """One Apprise URL: `key` (a hash of the URL) names it in the ledger, `label` on screen;
    `problem` says why Apprise cannot send to it (None when it can)."""

    number: int
    key: str
    label: str
    url: SecretStr
    problem: str | None = None

    def scrub(self, text: str) -> str:
        """`text` with every piece of this destination's URL that is not in its label masked."""
        return scrub(text, self.url.get_secret_value(), keep=self.label)


def split_urls(raw: SecretStr | str | None) -> list[str]:
    """The URLs of HCCWATCH_ALERT_URLS, in order."""
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else (raw or "")
    return [part for part in _SEPARATOR.split(text.strip()) if part]


def destination_key(url: str) -> str:
    """A stable name for a destination that reveals nothing of its URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def destinations(raw: SecretStr | str | None) -> list[Destination]:
    """Every URL of HCCWATCH_ALERT_URLS as a Destination (those Apprise cannot read carry
    their problem, naming the setting). Empty when none is set (and Apprise is not loaded)."""
    urls = split_urls(raw)
    return [_destination(number, url, len(urls)) for number, url in enumerate(urls, 1)]


def _destination(number: int, url: str, count: int) -> Destination:
    key = destination_key(url)
    plugin = plugin_for(url)
    scheme = _SCHEME.match(url)
    if plugin is None:
        shown = f"{scheme[1]}://…" if scheme else "a text without scheme://"
        return Destination(number, key, f"{shown} #{key[:6]}", SecretStr(url),
                           f"{SETTING}: URL {number} of {count} ({shown}) is not one Apprise can "
                           f"send to (see https://github.com/caronc/apprise/wiki)")
    return Destination(number, key, label_of(plugin, key), SecretStr(url))


def plugin_for(url: str) -> Any:
    """Apprise's plugin for `url`, or None when Apprise cannot read it. Apprise's own log
    lines about the URL (which may quote it) are swallowed."""
    import apprise

    from alerts.apprise_log import captured

    with captured():
        try:
            return apprise.Apprise.instantiate(url)
        except Exception:  # noqa: BLE001  any URL Apprise chokes on is one it cannot read
            return None


def label_of(plugin: Any, key: str) -> str:
    """`json://127.0.0.1:8080 #1a2b3c`: the service and host of Apprise's privacy URL, never
    its user, password, path or query; a host that is not a domain name or an address (a
    bot key, a topic) masked to its first and last character."""
    parts = urlsplit(plugin.url(privacy=True))
    host = parts.netloc.rpartition("@")[2]
    name = host.partition(":")[0]
    if not (re.search(r"[A-Za-z0-9]\.[A-Za-z0-9]", name) or name == "localhost"):
        host = f"{name[:1]}…{name[-1:]}" if len(name) > 2 else "…"
    return f"{parts.scheme}://{host} #{key[:6]}"


def scrub(text: str, url: str, *, keep: str = "") -> str:
    """`text` with the URL, and every piece of it of MIN_PIECE characters or more (a token,
    a password, a path segment) that `keep` does not show, replaced by ***."""
    body = url.split("://", 1)[-1]
    pieces = {url, body, *_PIECES.split(body), *_PIECES.split(unquote(body))}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= MIN_PIECE and piece not in keep:
            text = text.replace(piece, "***")
    return text
