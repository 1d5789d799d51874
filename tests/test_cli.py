"""The real `hccwatch` command, run as a subprocess: help texts, exit codes, and the
poll -> findings -> show -> status path against the replay server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HCCWATCH = [sys.executable, "-m", "hccwatch.cli"]
# What each command's help says it does (its first sentence), as `hccwatch CMD --help` shows it.
HELP = {
    "run": "Poll every source once, then make this period's digest",
    "poll": "Poll the sources once and store what is new or changed.",
    "digest": "Make the weekly digest of what is new and what changed, and mail it once.",
    "search": "Search the sources live for TERM and store what they return",
    "findings": "List stored findings, newest first.",
    "show": "Show one finding: fields, topics, locations, linked findings",
    "status": "Per-source health: last success, last error, counts",
    "web": "Browse stored findings in a local web page",
    "serve": "Run the schedules: poll once now (unless a poll finished within the last hour), then every 6 hours",
    "check": "Check the settings (.env in this folder and the environment) and the watchlist",
    "install-service": "Make `hccwatch serve` start by itself",
    "demo": "Run the whole cycle offline on the bundled recordings",
    "alerts": "Immediate alerts: per destination (HCCWATCH_ALERT_URLS, shown masked) how many are pending",
}
COMMANDS = list(HELP)


def hcc(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*HCCWATCH, *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def test_help_lists_every_command():
    result = hcc("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"  {command}" in result.stdout, f"{command} missing from --help"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = hcc(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: hccwatch " + command in result.stdout
    description = " ".join(result.stdout.split("\n\n")[1].split())
    assert description.startswith(HELP[command])


def test_bad_usage_exits_2():
    assert hcc("findings", "--format", "yaml").returncode == 2
    assert hcc("no-such-command").returncode == 2


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("HCCWATCH_SMTP_PORT", "abc", "HCCWATCH_SMTP_PORT: expected a whole number"),
    ("HCCWATCH_CTGOV_URL", "ftp://x", "HCCWATCH_CTGOV_URL: expected an http(s) URL"),
    ("HCCWATCH_WATCHLIST", "/nonexistent/watchlist.toml", "HCCWATCH_WATCHLIST: cannot read"),
])
def test_bad_setting_exits_2_naming_it(env, name, value, expected):
    result = hcc("status", env={**env, name: value})
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_database_path_is_a_clear_error(env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = hcc("status", env={**env, "HCCWATCH_DB": str(blocker / "db.sqlite3")})
    assert result.returncode == 2
    assert result.stderr.startswith("hccwatch: HCCWATCH_DB: cannot")


def test_dotenv_file_is_read(env, tmp_path):
    environ = {k: v for k, v in env.items() if k != "HCCWATCH_SMTP_PORT"}
    (tmp_path / ".env").write_text("HCCWATCH_SMTP_PORT=notaport\n")
    result = hcc("status", env=environ, cwd=tmp_path)
    assert result.returncode == 2 and "HCCWATCH_SMTP_PORT" in result.stderr


def test_poll_then_browse_from_the_command_line(env, ctgov):
    polled = hcc("poll", "--source", "ctgov", env=env)
    assert polled.returncode == 0, polled.stderr
    assert "ctgov:" in polled.stdout and "new" in polled.stdout
    assert "immunotherapy: " in polled.stderr  # plain progress lines when not a terminal

    listed = json.loads(hcc("findings", "--format", "json", env=env).stdout)
    keys = {item["key"] for item in listed}
    assert {"NCT05431270", "NCT04114136"} <= keys
    item = next(i for i in listed if i["key"] == "NCT05431270")
    for field in ("key", "kind", "title", "url", "sources", "topics", "identifiers", "published",
                  "updated", "first_seen", "evidence", "status", "phases", "locations"):
        assert field in item
    assert item["kind"] == "trial" and item["sources"] == ["ctgov"]
    assert item["identifiers"] == {"nct": "NCT05431270"}
    assert "immunotherapy" in item["topics"]

    only_melanoma = json.loads(hcc("findings", "--topic", "melanoma", "--format", "json", env=env).stdout)
    assert only_melanoma and all("melanoma" in i["topics"] for i in only_melanoma)
    rows = list(csv.DictReader(io.StringIO(hcc("findings", "--format", "csv", env=env).stdout)))
    assert {r["key"] for r in rows} == keys
    assert hcc("findings", "--since", "2999-01-01", env=env).stdout.startswith("No findings")
    assert hcc("findings", "--since", "yesterday", env=env).returncode == 2
    assert hcc("findings", "--topic", "nope", env=env).returncode == 2

    shown = hcc("show", "NCT05431270", env=env)
    assert shown.returncode == 0 and "Phanes Therapeutics" in shown.stdout
    assert "No changes recorded since first seen." in shown.stdout  # polled once: nothing changed
    as_json = json.loads(hcc("show", "nct05431270", "--format", "json", env=env).stdout)
    assert as_json["key"] == "NCT05431270" and as_json["changes"] == [] and "links" in as_json
    assert hcc("show", "NCT00000000", env=env).returncode == 1
    assert hcc("show", "banana", env=env).returncode == 2

    status = hcc("status", env=env)
    assert status.returncode == 0 and "ctgov: OK" in status.stdout


def test_failed_source_exits_1_and_status_says_why(env, ctgov, replay):
    from replay.server import Fault

    replay.inject("/ctgov/studies", Fault(status=500, body=b"maintenance"), times=100)
    polled = hcc("poll", "--source", "ctgov", "--topic", "melanoma", env=env)
    assert polled.returncode == 1
    assert "FAILED ctgov" in polled.stderr and "HTTP 500" in polled.stderr
    status = hcc("status", "--format", "json", env=env)
    data = json.loads(status.stdout)
    query = data["sources"][0]["queries"][0]
    assert query["consecutive_failures"] == 1 and "maintenance" in query["last_error"]


def test_demo_runs_offline_and_shows_changes(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HCCWATCH_")}
    environ["XDG_DATA_HOME"] = str(tmp_path / "data")
    result = hcc("demo", env=environ)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "NCT99000001" in out
    assert "Trial status · 试验状态: Not yet recruiting · 尚未招募 -> Recruiting · 招募中  [recruiting]" in out
    assert "Zhongshan Hospital, Fudan University" in out and "watched_site" in out
    assert "Fred Hutchinson Cancer Center" in out
    assert "Terminated · 已终止  [stopped]" in out
    assert len(out.splitlines()) < 120 and "fetched" not in result.stderr  # concise: no progress lines
    browse = next(line for line in out.splitlines() if line.startswith("Browse it: "))
    assert f"{Path(sys.executable).parent / 'hccwatch'} web" in browse  # runnable as printed
    demo_db = tmp_path / "data" / "hccwatch" / "demo.sqlite3"
    assert demo_db.exists()
    from fastapi.testclient import TestClient

    from hccwatch.settings import Settings
    from hccwatch.web_cli import web_app

    with TestClient(web_app(Settings(db=str(demo_db)))) as client:  # the page the hint opens
        archive = client.get("/digests").text
    assert "No digest has been made yet" not in archive and "family@example.org" in archive
    subject = next(line for line in out.splitlines() if line.startswith("subject: "))
    assert "trial updates" in subject and "试验更新" in subject  # the whole bilingual subject
