"""`hccwatch install-service`, run as the real command: the systemd user unit names this
folder as its working directory, this folder's .env as its environment file and this
environment's `hccwatch serve` as its command; --dry-run writes nothing; the macOS agent is a
valid launchd plist with the same command and folder."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

VENV_HCCWATCH = Path(sys.executable).parent / "hccwatch"


def install(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "hccwatch.cli", "install-service", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def unit_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_dry_run_shows_the_unit_and_writes_nothing(tmp_path):
    folder, home = tmp_path / "family folder", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    (folder / ".env").write_text("NCBI_EMAIL=you@example.org\n", encoding="utf-8")
    result = install("--dry-run", "--system", "linux", cwd=folder, home=home)
    assert result.returncode == 0, result.stderr
    unit_path = home / ".config" / "systemd" / "user" / "hccwatch.service"
    assert f"# would write {unit_path}:" in result.stdout
    unit = unit_lines(result.stdout)
    assert unit["WorkingDirectory"] == str(folder.resolve())
    assert unit["EnvironmentFile"] == f"-{folder.resolve() / '.env'}"
    assert unit["ExecStart"] == f"{VENV_HCCWATCH} serve"
    assert unit["WantedBy"] == "default.target"
    assert "systemctl --user enable --now hccwatch.service" in result.stdout
    assert "loginctl enable-linger" in result.stdout
    assert result.stderr == ""
    assert not (home / ".config").exists()


def test_install_writes_the_unit_and_warns_without_a_dotenv(tmp_path):
    result = install("--system", "linux", cwd=tmp_path, home=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / ".config" / "systemd" / "user" / "hccwatch.service").read_text()
    assert unit_lines(written)["WorkingDirectory"] == str(tmp_path.resolve())
    assert f"there is no {tmp_path.resolve() / '.env'}" in result.stderr


def test_macos_agent_is_a_launchd_plist_running_serve_here(tmp_path):
    result = install("--system", "macos", cwd=tmp_path, home=tmp_path)
    assert result.returncode == 0, result.stderr
    agent = plistlib.loads((tmp_path / "Library" / "LaunchAgents" / "org.hccwatch.serve.plist").read_bytes())
    assert agent["ProgramArguments"] == [str(VENV_HCCWATCH), "serve"]
    assert agent["WorkingDirectory"] == str(tmp_path.resolve()) and agent["RunAtLoad"] is True
    assert "launchctl bootstrap gui/$(id -u)" in result.stdout
