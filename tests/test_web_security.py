"""What keeps the local web page safe, checked rule by rule: which addresses count as this
machine, which Host names a loopback server answers (DNS rebinding), the CSRF tokens and
the headers every answer carries. The real `hccwatch web` is probed in test_hostile.py."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from hccwatch.web_cli import web_app
from web.security import CSRF_COOKIE, HEADERS, Csrf, is_loopback, trusted_hosts


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
    (" [::1] ", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
    ("example.org", False), ("localhost.evil.example", False), ("", False),
])
def test_only_this_machine_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_loopback_server_trusts_the_loopback_names_and_its_own_address():
    assert set(trusted_hosts("127.0.0.2")) == {"127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"}
    assert set(trusted_hosts(" [::1] ")) == {"127.0.0.1", "localhost", "::1", "[::1]"}
    assert set(trusted_hosts("LOCALHOST")) == {"127.0.0.1", "localhost", "::1", "[::1]"}


def notice(page: str) -> str:
    """The one message an error page shows the family."""
    [text] = re.findall(r'<p class="notice">(.*?)</p>', page, re.S)
    return text


@pytest.fixture
def guarded(settings):
    with TestClient(web_app(settings, trusted_hosts=trusted_hosts("127.0.0.2"))) as client:
        yield client


@pytest.mark.parametrize(("host", "status"), [
    ("127.0.0.2:8765", 200), ("localhost:8765", 200), ("127.0.0.1", 200), ("[::1]:8765", 200),
    ("evil.example", 400), ("evil.example:8765", 400), ("127.0.0.2.evil.example", 400),
])
def test_a_page_asked_for_under_another_host_name_is_refused(guarded, host, status):
    answer = guarded.get("/status", headers={"Host": host})
    assert answer.status_code == status
    assert ("Invalid host header" in answer.text) is (status == 400)


def test_a_csrf_token_fits_only_its_own_cookie_and_this_process():
    csrf = Csrf(b"k" * 32)
    token = csrf.token("cookie-1")
    assert csrf.valid("cookie-1", token)
    assert not csrf.valid("cookie-2", token)
    assert not Csrf(b"j" * 32).valid("cookie-1", token)  # another process's secret
    assert not csrf.valid(None, token) and not csrf.valid("cookie-1", None)
    assert not csrf.valid("", csrf.token(""))
    assert Csrf().token("c") != Csrf().token("c")  # a fresh secret each time


def test_every_answer_sets_the_headers_and_a_strict_cookie(settings):
    with TestClient(web_app(settings)) as client:
        first = client.get("/")
        missing = client.get("/findings/NCT09999999")
        second = client.get("/")
    for answer in (first, missing, second):
        for name, value in HEADERS.items():
            assert answer.headers[name] == value, name
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "set-cookie" not in second.headers  # the visitor keeps the cookie it was given


def test_a_form_from_this_page_passes_and_one_from_another_origin_does_not(settings):
    with TestClient(web_app(settings), base_url="http://127.0.0.1:8765") as client:
        page = client.get("/search")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"term": "x", "topic_id": "", "csrf_token": token}
        other = client.post("/search", data=form, headers={"Origin": "http://evil.example"})
        same = client.post("/search", data=form, headers={"Origin": "http://127.0.0.1:8765"},
                           follow_redirects=False)
        sandboxed = client.post("/search", data=form, headers={"Origin": "null"},
                                follow_redirects=False)
    assert other.status_code == 403
    assert notice(other.text) == "This form was sent from another site; it was refused."
    assert same.status_code == 303 and sandboxed.status_code == 303


def test_a_form_with_a_forged_or_missing_token_is_refused_with_a_way_out(settings):
    with TestClient(web_app(settings)) as client:
        client.get("/search")  # the visitor has its cookie
        forged = client.post("/search", data={"term": "x", "csrf_token": "forged"})
        missing = client.post("/search", data={"term": "x"})
    for answer in (forged, missing):
        assert answer.status_code == 403
        assert notice(answer.text) == ("The form had expired (or cookies are off). "
                                       "Go back, reload the page and send it again.")


def test_a_server_bound_to_a_longhand_ipv6_loopback_answers_under_that_address(settings):
    """`hccwatch web --host 0:0:0:0:0:0:0:1`: a client that does not shorten the address (curl)
    sends it bracketed in Host; the server must answer, and still refuse other names."""
    app = web_app(settings, trusted_hosts=trusted_hosts("0:0:0:0:0:0:0:1"))
    with TestClient(app) as client:
        own = client.get("/status", headers={"Host": "[0:0:0:0:0:0:0:1]:8765"})
        other = client.get("/status", headers={"Host": "[fe80::1]:8765"})
    assert (own.status_code, other.status_code) == (200, 400)
