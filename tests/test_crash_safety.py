"""Crash safety: `hccwatch poll` SIGKILLed at random points, again and again, while trials keep
changing upstream; then one poll to completion. The database opens cleanly, every trial is
there exactly once, every status change is recorded once (none lost, none doubled) and the
cursors are where the last committed batches left them."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from conftest import FIXED_NOW
from sqlmodel import col, select

from replay.server import CtgovHandler, Request, Response, cloned_studies
from store.db import open_engine, session_scope
from store.models import Change, Finding, Identifier, PollRun, SourceState

# Trials move "today" and the polls read dates: both at FIXED_NOW, in the test and the polls.
pytestmark = pytest.mark.usefixtures("clock")

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
STATUSES = ["NOT_YET_RECRUITING", "RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED"]
ITERATIONS, TIME_BUDGET = 15, 60.0
WATCHED = ("pembrolizumab", "keytruda", "melanoma", "phelan", "shank3")  # the test watchlist


class SlowCtgov(CtgovHandler):
    """Small pages answered slowly, so a poll spends seconds between its commits."""

    def __call__(self, request: Request) -> Response:
        time.sleep(0.03)
        return super().__call__(request)


def status_of(study: dict) -> dict:
    return study["protocolSection"].setdefault("statusModule", {})


def nct_of(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def advance(studies: list[dict], rng: random.Random, history: dict[str, list[str]]) -> None:
    """A few trials move to their next status, updated today (so incremental polls see them)."""
    today = datetime.now(UTC).date().isoformat()
    for study in rng.sample(studies, 6):
        module = status_of(study)
        module["overallStatus"] = STATUSES[(STATUSES.index(module["overallStatus"]) + 1) % 4]
        module["lastUpdatePostDateStruct"] = {"date": today}
        history[nct_of(study)].append(module["overallStatus"])


def poll(env: dict) -> subprocess.Popen:
    return subprocess.Popen([*HCCWATCH, "poll", "--source", "ctgov"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_polls_at_random_points(env: dict, studies: list[dict], history: dict) -> int:
    rng = random.Random(20261123)
    deadline, kills = time.monotonic() + TIME_BUDGET, 0
    for _ in range(ITERATIONS):
        if time.monotonic() > deadline:
            break
        advance(studies, rng, history)
        process = poll(env)
        time.sleep(rng.uniform(0.3, 3.0))
        if process.poll() is None:
            process.kill()
            kills += 1
        process.wait()
    return kills


def assert_status_chain(finding: Finding, changes: list[Change], served: list[str]) -> None:
    """Recorded changes link up from the status first stored to the current one, each step
    once, each a status the source really served, in the order it served them."""
    chain = [changes[0].old if changes else finding.status]
    for change in changes:
        assert change.old == chain[-1] and change.new != change.old, (finding.key, changes)
        chain.append(change.new)
    assert chain[-1] == finding.status == served[-1]
    position = 0
    for status in chain:
        position = served.index(status, position)


@pytest.mark.slow
def test_poll_killed_at_random_points_loses_and_doubles_nothing(env, settings, replay,
                                                                recorded_studies):
    found = [s for s in recorded_studies if any(w in json.dumps(s).lower() for w in WATCHED)]
    studies = cloned_studies(found, 150)
    for study in studies:
        status_of(study)["overallStatus"] = "NOT_YET_RECRUITING"
    replay.route("/ctgov", SlowCtgov(studies, max_page_size=5))
    history = {nct_of(s): ["NOT_YET_RECRUITING"] for s in studies}

    kills = kill_polls_at_random_points(env, studies, history)
    completed = subprocess.run([*HCCWATCH, "poll", "--source", "ctgov"], env=env,
                               capture_output=True, text=True, timeout=300)
    repeated = subprocess.run([*HCCWATCH, "poll", "--source", "ctgov"], env=env,
                              capture_output=True, text=True, timeout=300)

    assert kills >= 5, "the polls ended before they could be killed: make them slower"
    assert completed.returncode == 0, completed.stderr
    assert repeated.returncode == 0 and "0 new, 0 updated" in repeated.stdout
    with sqlite3.connect(settings.db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    engine = open_engine(settings.db)
    with session_scope(engine, write=False) as session:
        findings = {f.key: f for f in session.exec(select(Finding))}
        identifiers = [i.value for i in session.exec(select(Identifier))]
        changes = list(session.exec(select(Change).order_by(col(Change.id))))
        states = list(session.exec(select(SourceState)))
        runs = list(session.exec(select(PollRun)))
    engine.dispose()

    assert sorted(findings) == sorted(history) and sorted(identifiers) == sorted(history)
    for key, finding in findings.items():
        assert_status_chain(finding, [c for c in changes if c.finding_id == finding.id], history[key])
    today = FIXED_NOW.date().isoformat()
    assert {s.query for s in states} == {"immunotherapy", "melanoma", "phelan"}
    for state in states:  # every query polled up to today, the last time without an error
        assert state.cursor == today and state.last_error is None
        assert state.last_success_at.date().isoformat() == today
    assert sum(1 for run in runs if run.finished_at is None) <= kills  # only killed ones
    assert runs[-1].ok and runs[-2].ok
