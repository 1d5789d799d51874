"""`hccwatch install-service`: run `hccwatch serve` whenever the computer is on. Linux: a
systemd user unit (working directory and environment file = this folder and its .env, the
command = this virtual environment's hccwatch); macOS: a launchd agent. Prints the commands
that turn it on; --dry-run only shows the file."""

from __future__ import annotations

import os
import plistlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from hccwatch.commands import hccwatch_command

UNIT_NAME = "hccwatch.service"
AGENT_LABEL = "org.hccwatch.serve"


@dataclass(frozen=True)
class Service:
    """Where the service file goes, what it says, and how to turn it on."""

    path: Path
    text: str
    commands: tuple[str, ...]


def serve_command() -> list[str]:
    """This environment's `hccwatch serve` (the venv's script, else python -m hccwatch.cli)."""
    return [*shlex.split(hccwatch_command()), "serve"]


def _systemd_quote(word: str) -> str:
    return word if not any(c in word for c in " \t\"'\\") else '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(folder: Path, env_file: Path, command: list[str]) -> str:
    return f"""[Unit]
Description=hccwatch: polls trials and papers for the family, mails the weekly digest
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
WorkingDirectory={folder}
EnvironmentFile=-{env_file}
ExecStart={" ".join(_systemd_quote(w) for w in command)}
Restart=on-failure
RestartSec=60

[Install]
WantedBy=default.target
"""


def linux_service(home: Path, folder: Path, env_file: Path) -> Service:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return Service(config / "systemd" / "user" / UNIT_NAME,
                   systemd_unit(folder, env_file, serve_command()),
                   ("systemctl --user daemon-reload",
                    f"systemctl --user enable --now {UNIT_NAME}",
                    "loginctl enable-linger \"$USER\"   # keep it running when you log out, start it at boot",
                    f"systemctl --user status {UNIT_NAME}   # is it running?",
                    "journalctl --user -u hccwatch -f   # its log"))


def launchd_agent(home: Path, folder: Path, command: list[str]) -> str:
    logs = home / "Library" / "Logs"
    agent = {"Label": AGENT_LABEL, "ProgramArguments": command, "WorkingDirectory": str(folder),
             "RunAtLoad": True, "KeepAlive": {"SuccessfulExit": False},
             "StandardOutPath": str(logs / "hccwatch.log"),
             "StandardErrorPath": str(logs / "hccwatch.log")}
    return plistlib.dumps(agent).decode()


def macos_service(home: Path, folder: Path) -> Service:
    path = home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    return Service(path, launchd_agent(home, folder, serve_command()),
                   (f"launchctl bootstrap gui/$(id -u) {shlex.quote(str(path))}",
                    f"launchctl print gui/$(id -u)/{AGENT_LABEL}   # is it running?",
                    "tail -f ~/Library/Logs/hccwatch.log   # its log"))


@click.command("install-service")
@click.option("--dry-run", is_flag=True, help="Show the service file and the commands; write nothing.")
@click.option("--system", "system", type=click.Choice(["linux", "macos"]),
              default="macos" if sys.platform == "darwin" else "linux", show_default="this computer's",
              help="Which kind of service to write.")
def install_service(dry_run: bool, system: str) -> None:
    """Make `hccwatch serve` start by itself: a systemd user unit on Linux, a launchd agent
    on macOS. Run it from the folder that holds your .env: the service works there and reads
    its settings from that .env. It prints the commands that turn the service on. The
    computer must be on (not asleep) when the digest is due."""
    folder = Path.cwd().resolve()
    env_file = folder / ".env"
    home = Path.home()
    service = linux_service(home, folder, env_file) if system == "linux" else macos_service(home, folder)
    if not env_file.is_file():
        click.echo(f"note: there is no {env_file}; the service reads its settings from there "
                   f"(see README, 'Running it for real'; `hccwatch check` tests it)", err=True)
    if dry_run:
        click.echo(f"# would write {service.path}:\n{service.text}")
    else:
        service.path.parent.mkdir(parents=True, exist_ok=True)
        service.path.write_text(service.text, encoding="utf-8")
        click.echo(f"wrote {service.path}")
    click.echo("To turn it on:" if not dry_run else "Then, to turn it on:")
    for command in service.commands:
        click.echo(f"  {command}")
