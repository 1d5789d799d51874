"""Immediate alerts through the real `hccwatch` command (subprocesses, the replay server as
ClinicalTrials.gov and as the alert receiver): `check` names a URL Apprise cannot read while
poll, status and the digest keep working; `alerts` and `status` show the ledger per destination;
`alerts --test`; a process killed between handing an alert over and marking it; and the
destination's token never reaches the screen or the database file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FIXED_NOW, clocked, travel
from sqlmodel import select
from test_alerts import HUTCH, NCT, TOKEN, change_trial, hook_url, posts, study

from replay.server import Fault, Response
from store.db import session_scope
from store.models import AlertDelivery

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
BOSTON = {"facility": "Dana-Farber Cancer Institute", "city": "Boston", "country": "United States",
          "status": "NOT_YET_RECRUITING"}


def hcc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def receiver(replay):
    replay.route("/hook", lambda request: Response(200, b"{}"))
    return replay


@pytest.fixture
def changed(ctgov, env, receiver):
    """A first poll stored the trial not yet recruiting; the registry now says it recruits
    in Seattle. Returns the environment with one alert destination."""
    env = {**env, "HCCWATCH_ALERT_URLS": hook_url(receiver)}
    ctgov.studies.append(study("NOT_YET_RECRUITING", [BOSTON]))
    assert hcc("poll", "--topic", "immunotherapy", env=env).returncode == 0
    change_trial(ctgov, "RECRUITING", [BOSTON, HUTCH])
    return env


def database_bytes(settings) -> bytes:
    return b"".join(Path(f"{settings.db}{suffix}").read_bytes()
                    for suffix in ("", "-wal") if Path(f"{settings.db}{suffix}").exists())


def test_check_names_a_url_apprise_cannot_read_and_everything_else_keeps_working(
        clock, changed, receiver, settings):
    env = {**changed, "HCCWATCH_ALERT_URLS": f"{hook_url(receiver)},bogus://{TOKEN}x/y"}
    check = hcc("check", "--offline", env=env)
    assert check.returncode == 2
    problems = [line for line in check.stderr.splitlines() if line.startswith("PROBLEM")]
    assert problems == ["PROBLEM HCCWATCH_ALERT_URLS: URL 2 of 2 (bogus://…) is not one Apprise "
                        "can send to (see https://github.com/caronc/apprise/wiki)"]
    assert "Alerts (HCCWATCH_ALERT_URLS): 2 destination(s): json://127.0.0.1:" in check.stdout
    poll = hcc("poll", "--topic", "immunotherapy", env=env)
    assert poll.returncode == 0, poll.stderr
    assert "alerts: 1 new, 1 sent, 0 waiting, not sent to one destination: HCCWATCH_ALERT_URLS: URL 2" in poll.stdout
    assert len(posts(receiver)) == 1
    assert hcc("status", env=env).returncode == 0
    digest = hcc("digest", "--dry-run", "--out", str(Path(settings.db).parent / "d"), env=env)
    assert digest.returncode == 0, digest.stderr
    for result in (check, poll):
        assert TOKEN not in result.stdout + result.stderr


def test_alerts_and_status_show_each_destination_and_the_token_never_shows(
        clock, changed, receiver, settings):
    env = {**changed, "HCCWATCH_ALERT_URLS": f"{hook_url(receiver, '/hook/ok')} "
                                             f"{hook_url(receiver, f'/hook/{TOKEN}path')}"}
    receiver.inject(f"/hook/{TOKEN}path", Fault(status=500, body=f"refused {TOKEN}".encode()))
    outputs = [hcc("poll", "--topic", "immunotherapy", env=env)]
    assert outputs[0].returncode == 0  # one destination refusing never fails the poll
    table = hcc("alerts", env=env)
    listing = hcc("alerts", "--format", "json", env=env)
    status = hcc("status", env=env)
    status_json = hcc("status", "--format", "json", env=env)
    outputs += [table, listing, status, status_json, hcc("check", "--offline", env=env)]
    data = json.loads(listing.stdout)
    by_state = sorted((d["pending"], d["sent"], d["failed"]) for d in data["destinations"])
    assert by_state == [(0, 1, 0), (1, 0, 0)]
    refused = next(d for d in data["destinations"] if d["pending"])
    assert "500" in refused["last_error"] and refused["configured"]
    assert data["alerts"][0]["key"] == NCT and data["alerts"][0]["kinds"] == ["recruiting_nearby"]
    assert "1 pending, 0 sent, 0 failed; last error" in table.stdout
    assert "0 pending, 1 sent, 0 failed; last sent 2026-11-23 11:" in table.stdout
    assert "alerts to json://127.0.0.1:" in status.stdout and "1 pending" in status.stdout
    assert len(json.loads(status_json.stdout)["alerts"]) == 2
    for result in outputs:
        assert TOKEN not in result.stdout + result.stderr
    assert TOKEN.encode() not in database_bytes(settings)


def test_alerts_test_sends_one_test_alert_everywhere_and_says_which_failed(clock, env, receiver):
    env = {**env, "HCCWATCH_ALERT_URLS": f"{hook_url(receiver, '/hook/a')} {hook_url(receiver, '/hook/b')}"}
    good = hcc("alerts", "--test", env=env)
    assert good.returncode == 0, good.stderr
    assert good.stdout.count("test alert accepted") == 2
    assert [p["title"] for p in posts(receiver)] == ["hccwatch: test alert · 测试提醒"] * 2
    receiver.inject("/hook/b", Fault(status=500))
    bad = hcc("alerts", "--test", env=env)
    assert bad.returncode == 1
    assert "test alert accepted" in bad.stdout and "FAILED:" in bad.stderr and "500" in bad.stderr
    unset = hcc("alerts", "--test", env={k: v for k, v in env.items() if k != "HCCWATCH_ALERT_URLS"})
    assert unset.returncode == 2 and "HCCWATCH_ALERT_URLS: not set" in unset.stderr


def test_a_kill_between_handing_over_and_marking_sends_the_alert_at_most_once_more(
        clock, changed, receiver, settings, engine):
    """The ledger claims a delivery ("sending") before handing it over and marks it sent after
    the destination accepted it. A process killed in between (here: SIGKILL as the receiver gets
    the post, before the answer) leaves the claim; it is taken again only after the lease
    (ledger.LEASE, 5 minutes), so a second poll running meanwhile does not send it too. The
    poll after the lease sends it again: the receiver then has it twice, exactly one duplicate,
    the price of never losing an alert (nothing can know whether a killed hand-over arrived)."""
    running: dict[str, subprocess.Popen] = {}
    killed = threading.Event()

    def kill_on_receipt(request):
        if not killed.is_set():
            os.kill(running["poll"].pid, signal.SIGKILL)
            killed.set()
        return Response(200, b"{}")

    receiver.route("/hook/family", kill_on_receipt)  # the longer prefix answers first
    with travel(FIXED_NOW + timedelta(minutes=1)):
        running["poll"] = subprocess.Popen([*HCCWATCH, "poll", "--topic", "immunotherapy"],
                                           env=clocked(changed), stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE)
        running["poll"].communicate(timeout=120)
    assert running["poll"].returncode == -signal.SIGKILL and killed.is_set()
    with session_scope(engine, write=False) as session:
        [delivery] = session.exec(select(AlertDelivery)).all()
    assert (delivery.status, delivery.attempts) == ("sending", 1)
    with travel(FIXED_NOW + timedelta(minutes=3)):  # within the lease: not sent again
        assert hcc("poll", "--topic", "immunotherapy", env=clocked(changed)).returncode == 0
    assert len(posts(receiver)) == 1
    with travel(FIXED_NOW + timedelta(minutes=7)):
        after = hcc("poll", "--topic", "immunotherapy", env=clocked(changed))
    assert "0 new, 1 sent, 0 waiting" in after.stdout
    assert len(posts(receiver)) == 2 and posts(receiver)[0] == posts(receiver)[1]
    with session_scope(engine, write=False) as session:
        [delivery] = session.exec(select(AlertDelivery)).all()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    with travel(FIXED_NOW + timedelta(minutes=20)):
        hcc("poll", "--topic", "immunotherapy", env=clocked(changed))
    assert len(posts(receiver)) == 2


def test_commands_that_send_no_alert_never_load_apprise(env):
    """Apprise takes about 0.1 s of CPU to import: only alerting loads it."""
    code = ("import sys; from click.testing import CliRunner; from hccwatch.cli import cli; "
            "[CliRunner().invoke(cli, c) for c in (['status'], ['findings'], ['show', 'NCT1'])]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apprise'))")
    environ = {**env, "HCCWATCH_ALERT_URLS": f"json://u:{TOKEN}@127.0.0.1:9/hook"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
