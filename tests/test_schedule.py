"""When `hccwatch serve` polls and mails (store/schedule.py), its first poll at start (skipped
when a poll finished within the hour), and the next times in `status` and on /status, in the
watchlist's timezone. Real SQLite file, the replay server, the real command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import func, select

from hccwatch.app import App
from hccwatch.cli import cli
from hccwatch.serve_cli import first_poll
from hccwatch.web_cli import web_app
from store.db import session_scope
from store.models import Finding, PollRun
from store.schedule import next_digest, next_poll

FRIDAY = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)  # 13:30 in Shanghai


def test_polls_come_on_six_hour_marks_half_an_hour_before_a_shanghai_digest():
    assert next_poll(FRIDAY) == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)  # 18:30 in Shanghai
    assert next_poll(datetime(2026, 11, 27, 10, 30, tzinfo=UTC)) == datetime(2026, 11, 27, 16, 30, tzinfo=UTC)


def test_the_digest_comes_on_the_watchlist_weekday_and_hour_in_its_timezone():
    due = next_digest("monday", 7, "Asia/Shanghai", FRIDAY)
    assert due.isoformat() == "2026-11-30T07:00:00+08:00"
    monday_after_seven = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert next_digest("monday", 7, "Asia/Shanghai", monday_after_seven).isoformat() == "2026-12-07T07:00:00+08:00"


def count(engine) -> int:
    with session_scope(engine, write=False) as session:
        return session.exec(select(func.count()).select_from(Finding)).one()


def test_serve_polls_at_start_unless_a_poll_just_finished(settings, engine, ctgov, capsys):
    app = App(settings)
    first_poll(app, FRIDAY)
    said = capsys.readouterr().out
    assert "polling once now (no poll finished in the last hour)" in said
    stored = count(engine)
    assert stored > 0 and "ctgov:" in said
    with session_scope(engine, write=False) as session:
        finished = session.exec(select(PollRun.finished_at)).one()
    first_poll(app, finished.replace(tzinfo=UTC) + timedelta(minutes=59))
    again = capsys.readouterr().out
    assert re.search(r"the last poll finished \w{3} \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai\); "
                     r"not polling again now", again), again
    assert count(engine) == stored


def test_status_shows_the_next_poll_and_digest(settings, env):
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", "status"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert re.search(r"while `hccwatch serve` runs: next poll \w{3} \d{4}-\d\d-\d\d (00|06|12|18):30 "
                     r"\(Asia/Shanghai\), then every 6 hours; next digest Mon \d{4}-\d\d-\d\d 07:00 "
                     r"\(Asia/Shanghai\)", result.stdout), result.stdout
    data = json.loads(CliRunner().invoke(cli, ["status", "--format", "json"], obj=App(settings)).output)
    assert datetime.fromisoformat(data["next_digest"]).strftime("%a %H:%M %z") == "Mon 07:00 +0800"


def test_status_page_shows_the_next_poll_and_digest(settings, engine):
    with TestClient(web_app(settings)) as client:
        page = client.get("/status").text
    line = " ".join(re.sub(r"<[^>]+>", " ", re.search(r'<p id="schedule">(.*?)</p>', page, re.S).group(1)).split())
    assert re.search(r"next poll \w{3} \d{4}-\d\d-\d\d \d\d:30 \(Asia/Shanghai\), then every 6 hours; "
                     r"next digest Mon \d{4}-\d\d-\d\d 07:00 \(Asia/Shanghai\)", line), line
