"""Files that hold the patient's data (database, watchlist, digests) are created readable by
their owner only, and a rewrite keeps the mode the file had."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) if needed; a folder we create is owner-only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)


def write_private(path: Path, data: bytes, *, mode: int = PRIVATE_FILE) -> None:
    """Write `data` to `path` with exactly `mode` (whatever the umask or an old file's mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)


def create_private(path: Path) -> None:
    """Create `path` empty and owner-only, unless it exists (its mode is then left alone)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
