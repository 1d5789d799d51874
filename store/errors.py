"""The error every layer may raise when what the user configured is wrong (a setting, the
watchlist, a folder to write to): the message names which and why; commands exit 2 on it."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting or the watchlist is wrong; the message names which and why (exit 2)."""
