"""Small things a caregiver trips over, through the real commands: a taken web port is one
clear line (not 'serving ...' and a traceback), a missing HCCWATCH_WATCHLIST stops every
command alike, and `python3 tasks.py` says why it refuses a task."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def hcc(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hccwatch.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_a_taken_web_port_is_one_clear_line(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = hcc("web", "--port", str(port), env=env)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1 port {port}: something else" in result.stderr
    assert "--port" in result.stderr and "serving" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["findings"], ["search", "--local", "QL1706"],
                                     ["show", "NCT01000001"], ["status"], ["poll"], ["digest"],
                                     ["web", "--port", "1"], ["check", "--offline"]])
def test_a_missing_watchlist_stops_every_command_alike(env, tmp_path, command):
    env = dict(env, HCCWATCH_WATCHLIST=str(tmp_path / "nowhere" / "watchlist.toml"))
    result = subprocess.run([sys.executable, "-m", "hccwatch.cli", *command], capture_output=True,
                            text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"HCCWATCH_WATCHLIST: cannot read {tmp_path / 'nowhere' / 'watchlist.toml'}" in result.stderr


def test_tasks_says_why_it_refuses_a_task():
    result = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "serv"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 2
    assert "tasks: unknown task 'serv'; choose one of:" in result.stderr
    assert all(name in result.stderr for name in ("run", "web", "check", "demo", "test"))
