"""Poll and digest on dates a wall clock would only rarely give: a fixed day in the past, the
turn of the year between ISO week 2026-W53 and 2027-W01 (where Shanghai is already in the new
week while UTC is not), and the week a watchlist timezone (Los Angeles) springs forward.
Every command runs as the family runs it, with the clock moved for it (conftest.travel)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import WATCHLIST_TOML, clocked, travel

from digests.build import Period
from replay.server import CtgovHandler, cloned_studies

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120,
                            env=clocked(env))
    assert result.returncode == 0, result.stderr
    return result


def new_trial(ctgov: CtgovHandler, number: int, posted: str) -> str:
    """A melanoma trial the replay server starts to list, last updated on `posted`."""
    [study] = cloned_studies([s for s in ctgov.studies if "Melanoma" in json.dumps(s)][:1], 1,
                             first_nct=number)
    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": posted}
    ctgov.studies.append(study)
    return study["protocolSection"]["identificationModule"]["nctId"]


def digest_text(env: dict, out: Path, *period: str) -> tuple[str, str]:
    """(the week it names, plain text) of a dry-run digest, for `--period P` or the default
    week. Nothing is marked sent, so a later week's digest may still carry these findings."""
    args = ["--period", *period] if period else []
    hcc("digest", *args, "--dry-run", "--out", str(out), env=env)
    text = (out / "digest.txt").read_text(encoding="utf-8")
    return text.split()[1], text


def poll_at(moment: datetime, env: dict) -> None:
    with travel(moment):
        hcc("poll", "--source", "ctgov", "--topic", "melanoma", env=env)


def test_poll_and_digest_on_a_fixed_day_in_the_past(env, ctgov, tmp_path):
    poll_at(datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI), env)  # the first poll: a baseline
    trial = new_trial(ctgov, 91_000_001, "2025-03-05")
    poll_at(datetime(2025, 3, 5, 9, 0, tzinfo=SHANGHAI), env)

    with travel(datetime(2025, 3, 10, 9, 0, tzinfo=SHANGHAI)):  # Monday: 2025-W10 has ended
        week, text = digest_text(env, tmp_path)

    assert week == "2025-W10" and trial in text


def test_a_trial_found_as_2027_begins_in_shanghai_is_in_week_2027_w01(env, ctgov, tmp_path):
    poll_at(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI), env)  # Monday of 2026-W53
    late = new_trial(ctgov, 91_000_002, "2026-12-31")
    poll_at(datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI), env)  # New Year: still 2026-W53
    early = new_trial(ctgov, 91_000_003, "2027-01-03")
    # Monday 00:30 in Shanghai is Sunday 16:30 UTC: a UTC calendar would still say 2026-W53.
    poll_at(datetime(2027, 1, 4, 0, 30, tzinfo=SHANGHAI), env)

    with travel(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI)):
        week53, text53 = digest_text(env, tmp_path / "w53")  # the last complete week
    with travel(datetime(2027, 1, 11, 9, 0, tzinfo=SHANGHAI)):
        week01, text01 = digest_text(env, tmp_path / "w01")

    assert week53 == "2026-W53" and late in text53 and early not in text53
    assert week01 == "2027-W01" and early in text01


def test_the_week_los_angeles_springs_forward_ends_at_local_midnight(env, ctgov, tmp_path):
    watchlist = tmp_path / "la.toml"
    watchlist.write_text(WATCHLIST_TOML.replace('timezone = "Asia/Shanghai"',
                                                'timezone = "America/Los_Angeles"'), encoding="utf-8")
    env = {**env, "HCCWATCH_WATCHLIST": str(watchlist)}
    week10 = Period.parse("2026-W10", "America/Los_Angeles")
    # Clocks go from 02:00 PST to 03:00 PDT on Sunday 8 March: that week has 167 hours.
    assert week10.start == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 00:00 PST
    assert week10.end == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # Monday 00:00 PDT

    poll_at(datetime(2026, 3, 2, 9, 0, tzinfo=LOS_ANGELES), env)  # baseline
    sunday = new_trial(ctgov, 91_000_004, "2026-03-08")
    poll_at(datetime(2026, 3, 9, 6, 30, tzinfo=UTC), env)  # Sunday 23:30 PDT (22:30 PST)
    monday = new_trial(ctgov, 91_000_005, "2026-03-09")
    poll_at(datetime(2026, 3, 9, 7, 30, tzinfo=UTC), env)  # Monday 00:30 PDT (Sunday 23:30 PST)

    with travel(datetime(2026, 3, 16, 9, 0, tzinfo=LOS_ANGELES)):
        _, text10 = digest_text(env, tmp_path / "w10", "2026-W10")
        _, text11 = digest_text(env, tmp_path / "w11", "2026-W11")

    assert sunday in text10 and monday not in text10
    assert monday in text11
