"""What the family, or an attacker, meets through the real `hccwatch` command: each test here
fails when one line of product code that a mutation audit (issue 18) changed without any test
noticing is changed again: a hostile feed summary in the mail, secrets echoed in error bodies,
a server that never answers, the NCBI key, sites that close, placeholders in lists and
searches, and `hccwatch run` when the mail fails."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.policy import default
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import FIXED_NOW, WATCHLIST_TOML
from fastapi.testclient import TestClient
from test_digest_send import free_port
from test_pubmed_poll import RECORDED, recorded_articles

from digests.build import Period
from hccwatch.web_cli import web_app
from replay.literature import EutilsHandler
from replay.server import Response, StaticHandler

pytestmark = pytest.mark.usefixtures("clock")
HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
THIS_WEEK = Period.containing(FIXED_NOW, "Asia/Shanghai").label
SECRET = "SECRETKEY1234567"
HOSTILE_SUMMARY = '<script>alert("summary")</script><img src=x onerror=alert(2)> liver cancer drug'


def hcc(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture
def watchlist_text(replay) -> str:
    """The shared test topics plus a PubMed topic and one feed served by the replay server."""
    return WATCHLIST_TOML + f'''
[[topics]]
id = "hcc"
label = "Hepatocellular carcinoma"
terms = ["hepatocellular carcinoma", "liver cancer"]
pubmed = '("Carcinoma, Hepatocellular"[Mesh] OR hepatocellular carcinoma[tiab])'

[[feeds]]
name = "evil"
url = "{replay.url}/feeds/evil.xml"
lang = "en"
'''


def rss_item(title: str, summary: str) -> bytes:
    """An RSS feed whose one item's description, once unescaped, is `summary` as HTML text."""
    escaped = summary.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    twice = escaped.replace("&", "&amp;")  # text inside HTML inside XML
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Evil news</title>'
            f'<item><title>{title}</title><link>https://evil.example/a</link>'
            f'<description>{twice}</description>'
            f'<pubDate>Mon, 23 Nov 2026 01:00:00 GMT</pubDate></item></channel></rss>').encode()


def test_a_hostile_feed_summary_stays_text_in_the_mailed_digest(replay, env, tmp_path):
    feed = StaticHandler()
    feed.put("/feeds/evil.xml", rss_item("Liver cancer drug approved", HOSTILE_SUMMARY),
             "application/rss+xml")
    replay.route("/feeds/", feed)
    assert hcc("poll", "--source", "feeds", env=env).returncode == 0

    result = hcc("digest", "--period", THIS_WEEK, "--dry-run", "--out", str(tmp_path), env=env)

    assert result.returncode == 0, result.stderr
    html = (tmp_path / "digest.html").read_text(encoding="utf-8")
    page = BeautifulSoup(html, "html.parser")
    assert page.find_all("script") == [] and page.find_all("img") == []
    assert '<script>alert("summary")</script>' in page.get_text()  # shown, as text
    mail = email.message_from_bytes((tmp_path / "digest.eml").read_bytes(), policy=default)
    mailed = BeautifulSoup(mail.get_body(("html",)).get_content(), "html.parser")
    assert mailed.find_all("script") == [] and mailed.find_all("img") == []
    assert '<script>alert("summary")</script>' in mailed.get_text()


def test_an_error_body_echoing_the_api_key_never_shows_it(replay, env, settings):
    echo = json.dumps({"error": "API key invalid", "api_key": SECRET, "detail": f"api_key={SECRET}"})
    replay.route("/eutils", lambda request: Response(400, echo.encode(), "application/json"))
    keyed = {**env, "NCBI_API_KEY": SECRET}

    polled = hcc("poll", "--source", "pubmed", env=keyed)
    status = hcc("status", env=keyed)

    assert polled.returncode == 1 and "API key invalid" in polled.stderr
    for shown in (polled.stdout, polled.stderr, status.stdout, status.stderr):
        assert SECRET not in shown
    assert SECRET.encode() not in Path(settings.db).read_bytes()


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts connections on 127.0.0.1 and never answers a byte."""
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)

        def keep_accepting() -> None:
            while True:
                try:
                    accepted.append(server.accept()[0])
                except TimeoutError:
                    continue
                except OSError:
                    return

        thread = threading.Thread(target=keep_accepting, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
        finally:
            server.close()
            for connection in accepted:
                connection.close()


def test_a_server_that_never_answers_ends_the_poll_with_a_timeout(env):
    with silent_server() as (url, accepted):
        result = hcc("poll", "--source", "ctgov", "--topic", "melanoma", timeout=60,
                     env={**env, "HCCWATCH_CTGOV_URL": url, "HCCWATCH_HTTP_TIMEOUT": "0.5",
                          "HCCWATCH_RETRY_ATTEMPTS": "2"})
    assert result.returncode == 1
    assert "timed out" in result.stderr and "Traceback" not in result.stderr
    assert len(accepted) == 2  # a timeout is worth one more try, then the poll gives up


def test_the_ncbi_api_key_goes_with_every_request_and_nowhere_else(replay, env):
    eutils = EutilsHandler(recorded_articles(*RECORDED), rate_limit=None)
    replay.route("/eutils", eutils)

    result = hcc("poll", "--source", "pubmed", env={**env, "NCBI_API_KEY": SECRET})

    assert result.returncode == 0, result.stderr
    sent = replay.requests("/eutils/")
    assert sent and all(request.params.get("api_key") == SECRET for request in sent)
    assert SECRET not in result.stdout + result.stderr


def test_a_site_that_closes_is_recorded_and_shown(env, ctgov):
    study = next(s for s in ctgov.studies
                 if s["protocolSection"]["identificationModule"]["nctId"] == "NCT04114136")
    protocol = study["protocolSection"]
    protocol["contactsLocationsModule"] = {"locations": [
        {"facility": "Denver Site", "city": "Denver", "country": "United States", "status": "RECRUITING"},
        {"facility": "Zhongshan Hospital", "city": "Shanghai", "country": "China", "status": "RECRUITING"}]}
    assert hcc("poll", "--source", "ctgov", "--topic", "melanoma", env=env).returncode == 0
    protocol["contactsLocationsModule"]["locations"].pop(0)
    protocol["statusModule"]["lastUpdatePostDateStruct"] = {"date": FIXED_NOW.date().isoformat()}

    assert hcc("poll", "--source", "ctgov", "--topic", "melanoma", env=env).returncode == 0
    shown = json.loads(hcc("show", "NCT04114136", "--format", "json", env=env).stdout)

    removed = [c for c in shown["changes"] if c["field"] == "sites_removed"]
    assert len(removed) == 1 and "Denver Site" in removed[0]["new"]
    assert [site["facility"] for site in shown["locations"]] == ["Zhongshan Hospital"]


def test_a_trial_only_named_by_an_article_is_not_listed_or_found(replay, env, settings):
    replay.route("/eutils", EutilsHandler(recorded_articles("constructed_medline_date_retracted.xml"),
                                          rate_limit=None))
    assert hcc("poll", "--source", "pubmed", env=env).returncode == 0
    # The article names NCT04567890, never fetched: it is stored as a placeholder only.
    named = json.loads(hcc("show", "NCT04567890", "--format", "json", env=env).stdout)
    assert named["placeholder"]

    listed = json.loads(hcc("findings", "--format", "json", env=env).stdout)
    found = hcc("search", "NCT04567890", "--local", "--format", "json", env=env)

    with TestClient(web_app(settings)) as browser:
        page = browser.get("/")
        searched = browser.get("/", params={"q": "NCT04567890"})

    assert [f["key"] for f in listed] == ["pmid:99000101"]
    assert found.returncode == 0 and "NCT04567890" not in {f["key"] for f in json.loads(found.stdout)}
    for answer in (page, searched):  # a link to the placeholder's page would list it
        assert answer.status_code == 200 and 'href="/findings/NCT04567890"' not in answer.text
    assert 'href="/findings/pmid:99000101"' in page.text  # the article itself is listed


def test_run_exits_1_when_the_mail_cannot_be_sent(replay, env, ctgov):
    replay.route("/eutils", EutilsHandler(recorded_articles(*RECORDED), rate_limit=None))
    feed = StaticHandler()
    feed.put("/feeds/evil.xml", rss_item("Liver cancer news", "A quiet week."), "application/rss+xml")
    replay.route("/feeds/", feed)
    mail_down = {**env, "HCCWATCH_SMTP_HOST": "127.0.0.1", "HCCWATCH_SMTP_PORT": str(free_port()),
                 "HCCWATCH_SMTP_STARTTLS": "false", "HCCWATCH_MAIL_TO": "family@example.org"}

    result = hcc("run", env=mail_down)

    assert "FAILED" not in result.stderr  # every source was polled
    assert "nothing marked sent" in result.stderr
    assert result.returncode == 1
