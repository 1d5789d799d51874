#!/usr/bin/env python3
"""Set up from nothing and run hccwatch's main jobs: `python3 tasks.py demo|test|bench|lint`.

Needs only Python 3.11 and pip. The first call creates .venv and installs the project with
every dependency pinned by constraints.txt; later calls reuse it (reinstalling when
pyproject.toml or constraints.txt changed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".hccwatch-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the pinned project into it unless already current."""
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not (BIN / "python").exists():
        print("tasks: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("tasks: installing hccwatch and pinned dependencies (constraints.txt)", flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(_fingerprint())


def run(*argv: str) -> int:
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return subprocess.call(list(argv), cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task not in {"demo", "test", "bench", "lint", "run"}:
        print(__doc__)
        return 0 if task == "help" else 2
    ensure_venv()
    if task == "test":
        return run(str(BIN / "python"), "-m", "pytest", *rest)
    if task == "bench":
        return run(str(BIN / "python"), "-m", "bench", *rest)
    if task == "lint":
        return run(str(BIN / "ruff"), "check", ".")
    return run(str(BIN / "hccwatch"), task, *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
