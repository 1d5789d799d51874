"""Hostile and broken upstreams, each against a real server on 127.0.0.1 and the real
`hccwatch` command: a key echoed back by NCBI never reaches the screen, the database or the
status page; a compression bomb and a slow drip are cut off with one clear line, in bounded
memory and time, and the poll still ends with its run closed."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import httpx
import pytest
from hostile_server import HostileServer, drip, drip_head, gzip_bomb, send
from test_digest_send import free_port
from test_pubmed_poll import LITERATURE_WATCHLIST

from replay.server import CtgovHandler, Response
from sources.http import RetryPolicy, SourceError, TooLarge, make_client

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
KEY = "0123456789abcdef0123456789abcdef0a0b"
MEMORY_LIMIT_MB = 300
# Runs a command as its only child and reports the child's peak resident memory (KiB).
MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[2:]).returncode; "
           "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
           "sys.exit(code)")


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=180, env=env)


def measured(tmp_path: Path, *args: str, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    """Run `hccwatch args` and return its result and its peak memory in MB."""
    report = tmp_path / "peak_kib"
    result = subprocess.run([sys.executable, "-c", MEASURE, str(report), *HCCWATCH, *args],
                            capture_output=True, text=True, timeout=180, env=env)
    return result, int(report.read_text()) / 1024


def client(**kw):
    return make_client(rate=100.0, retry=RetryPolicy(attempts=3, base=0.01), **kw)


@contextmanager
def web_server(env: dict, host: str = "127.0.0.1") -> Iterator[str]:
    """The real `hccwatch web` on a free loopback port, until the block ends."""
    port = free_port()
    process = subprocess.Popen([*HCCWATCH, "web", "--host", host, "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://{host}:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/status", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def lit_env(env: dict, tmp_path: Path) -> dict:
    path = tmp_path / "literature.toml"
    path.write_text(LITERATURE_WATCHLIST, encoding="utf-8")
    return {**env, "HCCWATCH_WATCHLIST": str(path), "NCBI_API_KEY": KEY,
            "NCBI_EMAIL": "family@example.org"}


def stored_bytes(db: str) -> bytes:
    return b"".join(Path(db + suffix).read_bytes() for suffix in ("", "-wal")
                    if Path(db + suffix).exists())


# ---------------------------------------------------------------- 1. a key echoed back

def echo_key(status: int):
    """NCBI's answer to a mistyped key: the key itself, in a JSON body."""
    def answer(request):
        body = {"error": "API key invalid", "api-key": request.params.get("api_key"),
                "type": "invalid", "status": "unknown"}
        return Response(status, json.dumps(body).encode())
    return answer


@pytest.mark.parametrize("status", [400, 429])
def test_a_key_echoed_in_a_json_error_is_hidden(replay, status):
    replay.route("/eutils", echo_key(status))
    with client() as http, pytest.raises(SourceError) as error:
        http.get(f"{replay.url}/eutils/esearch.fcgi", params={"api_key": KEY, "term": "hcc"})
    assert KEY not in str(error.value)
    assert f"HTTP {status}" in str(error.value) and "API key invalid" in str(error.value)


def test_an_echoed_key_reaches_no_screen_database_or_status_page(replay, lit_env, settings):
    replay.route("/eutils", echo_key(400))
    polled = hcc("poll", "--source", "pubmed", env=lit_env)
    assert polled.returncode == 1
    assert "API key invalid" in polled.stderr  # the failure is shown...
    status = hcc("status", env=lit_env)
    status_json = hcc("status", "--format", "json", env=lit_env)
    assert "FAILING" in status.stdout and "API key invalid" in status.stdout
    with web_server(lit_env) as url:
        page = httpx.get(f"{url}/status").text
    assert "API key invalid" in page
    for shown in (polled.stdout, polled.stderr, status.stdout, status_json.stdout, page):
        assert KEY not in shown  # ...the key is not
    assert KEY.encode() not in stored_bytes(settings.db)


# ---------------------------------------------------------------- 2. gzip inside gzip

@cache
def bomb() -> bytes:
    return gzip_bomb(1024 ** 3)  # 1 GiB of zeros in about 2 KB


def test_double_gzip_bomb_is_refused_without_inflating_it(tmp_path, env):
    answer = send(200, bomb(), Content_Type="application/json", Content_Encoding="gzip, gzip")
    with HostileServer(answer) as hostile:
        result, peak_mb = measured(tmp_path, "poll", "--source", "ctgov",
                                   env={**env, "HCCWATCH_CTGOV_URL": hostile.url})
    assert result.returncode == 1
    assert "exceeds the 20971520-byte limit" in result.stderr
    assert peak_mb < MEMORY_LIMIT_MB
    assert "with failures" in hcc("status", env=env).stdout  # the poll closed its run


def test_plain_and_gzipped_answers_still_arrive_whole():
    body = b'{"studies": []}' * 1000
    with HostileServer(send(200, gzip.compress(body), Content_Encoding="gzip")) as gz, \
            client() as http:
        assert http.get(gz.url).content == body
    with HostileServer(send(200, body)) as plain, client() as http:
        assert http.get(plain.url).content == body


def test_a_gzip_bomb_over_the_cap_raises_too_large():
    with HostileServer(send(200, bomb(), Content_Encoding="gzip, gzip")) as hostile, \
            client(max_bytes=1_000_000) as http, pytest.raises(TooLarge, match="1000000-byte"):
        http.get(hostile.url)


# ---------------------------------------------------------------- 4. slow drip

@pytest.mark.parametrize("answer", [drip(b"x" * 1000, 0.1), drip_head(0.1)],
                         ids=["body", "headers"])
def test_a_slow_drip_is_cut_off_by_the_total_deadline(answer):
    with HostileServer(answer) as hostile, client(timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(SourceError, match="no complete answer within 3 s") as error:
            http.get(hostile.url)
        took = time.monotonic() - started
    assert 2.9 <= took < 6
    assert not error.value.retriable and len(hostile.requests) == 1


def test_a_poll_against_a_slow_drip_ends(env):
    with HostileServer(drip(b"x" * 10_000, 0.05)) as hostile:
        started = time.monotonic()
        result = hcc("poll", "--source", "ctgov",
                     env={**env, "HCCWATCH_CTGOV_URL": hostile.url, "HCCWATCH_HTTP_TIMEOUT": "0.3"})
    assert result.returncode == 1 and time.monotonic() - started < 30
    assert "no complete answer within 3 s" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- 7, 8. titles that attack

ESCAPES = {"\x1b]0;owned\x07": "\\x1b]0;owned\\x07",  # OSC: retitles the terminal
           "\x1b[2J": "\\x1b[2J",  # clears the screen
           "\x9b31m": "\\x9b31m",  # C1 CSI
           "\u202e": "\\u202e"}  # right-to-left override
FORMULAS = ["=HYPERLINK(\"http://evil.example/\",\"click\")", "+1+cmd|' /C calc'!A0",
            "-2+3", "@SUM(A1:A2)", "\tTAB"]


def study(nct: str, title: str) -> dict:
    return {"protocolSection": {
        "identificationModule": {"nctId": nct, "briefTitle": title},
        "conditionsModule": {"conditions": ["melanoma"]},
        "statusModule": {"overallStatus": "RECRUITING",
                         "lastUpdatePostDateStruct": {"date": "2026-11-01"}}}}


@pytest.fixture
def hostile_titles(replay, env) -> dict:
    titles = ["Melanoma " + "".join(ESCAPES), *FORMULAS]
    studies = [study(f"NCT0900000{i}", title) for i, title in enumerate(titles)]
    replay.route("/ctgov", CtgovHandler(studies))
    assert hcc("poll", "--source", "ctgov", "--topic", "melanoma", env=env).returncode == 0
    return env


def raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
            or c == "\u202e"]


@pytest.mark.parametrize("args", [("findings",), ("findings", "--format", "json"),
                                  ("findings", "--format", "csv"), ("show", "NCT09000000"),
                                  ("show", "NCT09000000", "--format", "json"),
                                  ("search", "--local", "melanoma"),
                                  ("search", "--local", "melanoma", "--format", "json")])
def test_control_characters_in_titles_are_shown_escaped(hostile_titles, args):
    result = hcc(*args, env=hostile_titles)
    assert result.returncode == 0, result.stderr
    assert raw_controls(result.stdout) == []
    if "json" in args:
        data = json.loads(result.stdout)
        item = data if isinstance(data, dict) else data[[d["key"] for d in data].index("NCT09000000")]
        assert item["title"] == "Melanoma " + "".join(ESCAPES)  # lossless for programs
    else:
        assert all(shown in result.stdout for shown in ESCAPES.values())


def test_csv_cells_that_start_a_formula_are_neutralised(hostile_titles):
    result = hcc("findings", "--format", "csv", env=hostile_titles)
    titles = {row["key"]: row["title"] for row in csv.DictReader(io.StringIO(result.stdout))}
    for index, formula in enumerate(FORMULAS, start=1):
        shown = titles[f"NCT0900000{index}"]
        assert shown == "'" + formula


# ---------------------------------------------------------------- 5, 10. the web page

HOSTILE_ADDRESSES = [
    "/?q=abc%00", "/?q=a%00b%22", "/?until=9999-12-31", "/?since=0001-01-01",
    "/?until=2026-02-30", "/?offset=%C2%B2", "/?offset=" + "9" * 5000,
    "/digests/99999999999999999999999", "/digests/" + "9" * 5000, "/digests/%C2%B2",
    "/findings/%00", "/findings/pmid:%00", "/topics/%00", "/feeds/%00.atom", "/search/%00",
    "/?topic=%00&kind=%00&source=%00&status=%00", "/?q=%E2%80%AE%FF",
]


def test_hostile_addresses_get_a_page_never_a_500(ctgov, env):
    assert hcc("poll", "--source", "ctgov", env=env).returncode == 0
    with web_server(env) as url:
        answers = {address: httpx.get(url + address) for address in HOSTILE_ADDRESSES}
    for address, answer in answers.items():
        assert answer.status_code in (200, 400, 404), (address, answer.status_code)
        assert "Something went wrong" not in answer.text
    assert "findings" in answers["/?q=abc%00"].text
    assert "There is no digest number" in answers["/digests/99999999999999999999999"].text
    assert "is not a date" in answers["/?until=2026-02-30"].text


def test_web_answers_on_another_loopback_address(env):
    with web_server(env, host="127.0.0.2") as url:
        page = httpx.get(f"{url}/status")
        rebinding = httpx.get(f"{url}/status", headers={"Host": "evil.example"})
    assert page.status_code == 200 and "Invalid host header" not in page.text
    assert rebinding.status_code == 400  # other names are still refused


# ---------------------------------------------------------------- 9. private files

def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_patient_files_are_created_private_and_stay_so(ctgov, env, settings, tmp_path):
    home = tmp_path / "new-home"  # folders hccwatch creates itself
    env = {**env, "HCCWATCH_DB": str(home / "db" / "hccwatch.sqlite3"),
           "HCCWATCH_OUTBOX": str(home / "outbox"), "HCCWATCH_MAIL_TO": "family@example.org"}
    watchlist = Path(settings.watchlist)
    watchlist.chmod(0o600)  # it holds the patient's medical details
    old_umask = os.umask(0o022)
    try:
        assert hcc("poll", "--source", "ctgov", env=env).returncode == 0
        assert hcc("digest", env=env).returncode == 0, "digest"
        with web_server(env) as url, httpx.Client(base_url=url) as browser:
            token = re.search(r'name="csrf_token" value="([^"]+)"',
                              browser.get("/search").text).group(1)
            added = browser.post("/watchlist/topics", data={
                "term": "cabozantinib", "topic_id": "cabozantinib", "csrf_token": token})
            database = home / "db" / "hccwatch.sqlite3"
            open_files = {p.name: mode(p) for p in database.parent.iterdir()}  # -wal, -shm too
    finally:
        os.umask(old_umask)
    assert added.status_code == 303 and "cabozantinib" in watchlist.read_text()
    assert mode(watchlist) == 0o600
    assert mode(database.parent) == 0o700 and mode(home / "outbox") == 0o700
    assert {"hccwatch.sqlite3", "hccwatch.sqlite3-wal"} <= set(open_files)
    assert set(open_files.values()) == {0o600}
    mails = list((home / "outbox").glob("*.eml"))
    assert mails and {mode(p) for p in mails} == {0o600}


# ---------------------------------------------------------------- 3. valid JSON, wrong shape

WRONG_SHAPES = {
    "ctgov": ("/ctgov/studies", b'{"studies": [], "nextPageToken": {"token": "t"}}',
              "nextPageToken that is not a string"),
    "ctgov-deep": ("/ctgov/studies", b'{"studies": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                   "nested too deep"),
    "europepmc": ("/europepmc/search", b'{"resultList": [], "nextCursorMark": ["x"]}',
                  "resultList that is not an object"),
    "pubmed": ("/eutils/esearch.fcgi", b'{"esearchresult": {"count": "lots"}}', "has no count"),
    "pubmed-nope": ("/eutils/esearch.fcgi", b'{"esearchresult": "nope"}', "no esearchresult"),
}


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_a_wrongly_shaped_answer_fails_its_source_alone(case, replay, ctgov, lit_env):
    from test_europepmc import recent_results
    from test_pubmed_poll import RECORDED, recorded_articles

    from replay.literature import EuropePmcHandler, EutilsHandler

    replay.route("/eutils", EutilsHandler(recorded_articles(*RECORDED), rate_limit=None))
    replay.route("/europepmc", EuropePmcHandler(recent_results()))
    path, body, reason = WRONG_SHAPES[case]
    replay.route(path, lambda _request: Response(200, body))
    broken = case.split("-")[0]
    result = hcc("poll", env=lit_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert failed and all(line.startswith(f"FAILED {broken} ") and reason in line for line in failed)
    counts = {line.split(":")[0]: line for line in result.stdout.splitlines()}
    for source in {"ctgov", "pubmed", "europepmc"} - {broken}:
        assert f"{source}: 0 fetched" not in counts[source] and ", 0 failed" in counts[source]
    last_poll = json.loads(hcc("status", "--format", "json", env=lit_env).stdout)["last_poll"]
    assert not last_poll["interrupted"] and last_poll["ok"] is False


# ---------------------------------------------------------------- 6. corrupt database, full disk

def corrupt(path: Path, *, keep_header: bool) -> None:
    """Overwrite the file with noise (after its first page if `keep_header`)."""
    data = bytearray(path.read_bytes())
    start = 4096 if keep_header else 0
    data[start:] = bytes((i * 7919) % 251 for i in range(len(data) - start))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("keep_header", [False, True], ids=["not-a-database", "malformed"])
def test_an_unusable_database_file_is_one_line_and_exit_2(ctgov, env, settings, keep_header):
    assert hcc("poll", "--source", "ctgov", env=env).returncode == 0
    corrupt(Path(settings.db), keep_header=keep_header)
    for args in (("status",), ("findings",), ("show", "NCT02576665"), ("poll", "--source", "ctgov"),
                 ("search", "--local", "melanoma"), ("digest", "--dry-run", "--out", "x"),
                 ("web", "--port", str(free_port()))):
        result = hcc(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, args
        assert "database" in result.stderr and settings.db in result.stderr, args


# ---------------------------------------------------------------- 12. ad-hoc searches that fail

@pytest.fixture
def polled_ok(replay, ctgov, lit_env) -> dict:
    """A store whose watchlist poll went well: every source OK."""
    from test_europepmc import recent_results
    from test_pubmed_poll import RECORDED, recorded_articles

    from replay.literature import EuropePmcHandler, EutilsHandler

    replay.route("/eutils", EutilsHandler(recorded_articles(*RECORDED), rate_limit=None))
    replay.route("/europepmc", EuropePmcHandler(recent_results()))
    assert hcc("poll", env=lit_env).returncode == 0
    assert "FAILING" not in hcc("status", env=lit_env).stdout
    return lit_env


def offline_pubmed_and_a_503_from_ctgov(replay, env: dict) -> dict:
    from replay.server import Fault

    replay.inject("/ctgov/studies", Fault(status=503), times=50)
    return {**env, "HCCWATCH_EUTILS_URL": "http://no-such-host.invalid/eutils"}


def assert_health_untouched(env: dict) -> None:
    assert "FAILING" not in hcc("status", env=env).stdout
    health = json.loads(hcc("status", "--format", "json", env=env).stdout)
    assert [s["failing"] for s in health["sources"]] == [0, 0, 0]
    assert not [q for s in health["sources"] for q in s["queries"] if "adhoc" in q["query"]]
    assert health["last_poll"]["ok"] is True  # still the watchlist's poll


def test_a_failed_live_search_on_the_command_line_says_what_failed(replay, polled_ok):
    env = offline_pubmed_and_a_503_from_ctgov(replay, polled_ok)
    result = hcc("search", "cabozantinib", "--source", "ctgov", "--source", "pubmed", env=env)
    assert result.returncode == 1
    shown = result.stdout + result.stderr
    assert "ClinicalTrials.gov answered 503" in shown
    assert "PubMed: no internet connection" in shown
    assert "Nothing found." not in shown
    assert_health_untouched(polled_ok)


def test_a_failed_live_search_on_the_web_page_says_what_failed(replay, polled_ok):
    env = offline_pubmed_and_a_503_from_ctgov(replay, polled_ok)
    with web_server(env) as url, httpx.Client(base_url=url) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/search").text).group(1)
        started = browser.post("/search", data={"term": "cabozantinib", "csrf_token": token,
                                                "sources": ["ctgov", "pubmed"]})
        job = started.headers.get("location") or str(started.url)
        for _ in range(300):
            page = browser.get(job).text
            if "Searching…" not in page:
                break
            time.sleep(0.1)
        status_page = browser.get("/status").text
    assert "ClinicalTrials.gov answered 503" in page and "no internet connection" in page
    assert "returned nothing" not in page and ">Done" not in page
    assert "failing" not in status_page and "adhoc-" not in status_page
    assert_health_untouched(polled_ok)


def test_a_full_disk_mid_poll_is_one_line_and_the_run_is_closed(ctgov, env, settings):
    import resource

    assert hcc("status", env=env).returncode == 0  # the schema exists, the poll must write more
    limit = 256 * 1024  # no file may grow past this: the disk is full for the poll's batch

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([*HCCWATCH, "poll", "--source", "ctgov"], capture_output=True,
                            text=True, timeout=180, env=env, preexec_fn=full_disk)
    assert result.returncode == 2, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and settings.db in last_line
    assert "disk" in last_line  # SQLite: "database or disk is full" or "disk I/O error"
    last_poll = json.loads(hcc("status", "--format", "json", env=env).stdout)["last_poll"]
    assert not last_poll["interrupted"] and last_poll["ok"] is False
    assert any("disk" in error for error in last_poll["errors"])
