"""Adding a term the user searched for to the watchlist file as a new topic: the new file is
checked before it replaces the old one, and the bundled watchlist is never edited."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from hccwatch.settings import ConfigError
from hccwatch.watchlist import Topic, load_watchlist
from pipeline.adhoc import clean_term
from sources.matching import is_cjk
from store.private import write_private

BUNDLED_WATCHLIST = Path(__file__).with_name("watchlist.toml")


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are a subset of TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def topic_block(term: str, *, topic_id: str, label: str) -> str:
    """The [[topics]] table for a new topic searching every API source for `term`."""
    words = "terms_zh" if is_cjk(term) else "terms"
    quoted = _toml_string(term)
    lines = ["", "# added from an ad-hoc search in the hccwatch web page", "[[topics]]",
             f"id = {_toml_string(topic_id)}", f"label = {_toml_string(label)}"]
    if is_cjk(label):
        lines.append(f"label_zh = {_toml_string(label)}")
    lines += [f"{words} = [{quoted}]", f"ctgov = {{ term = {quoted} }}",
              f"pubmed = {quoted}", f"europepmc = {quoted}"]
    return "\n".join(lines) + "\n"


def add_topic(watchlist_path: str | Path, term: str, *, topic_id: str,
              label: str | None = None) -> Topic:
    """Append a topic for `term` to the watchlist file; the new file is validated first and only
    then replaces the old one. Raises ConfigError (why) or ValueError (bad term)."""
    path = Path(watchlist_path).expanduser()
    if path.resolve() == BUNDLED_WATCHLIST.resolve():
        raise ConfigError("HCCWATCH_WATCHLIST points at the bundled watchlist; copy it to a file "
                          "of your own and point HCCWATCH_WATCHLIST there to add topics")
    term = clean_term(term)
    label = clean_term(label or term)
    current = load_watchlist(path)
    if any(t.id == topic_id for t in current.topics):
        raise ConfigError(f"the watchlist already has a topic with id {topic_id!r}")
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    trial = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        write_private(trial, (text + topic_block(term, topic_id=topic_id, label=label)).encode(),
                      mode=stat.S_IMODE(path.stat().st_mode))  # a 0600 watchlist stays 0600
        try:
            checked = load_watchlist(trial)
        except ConfigError as error:
            raise ConfigError(str(error).replace(str(trial), str(path))) from None
        os.replace(trial, path)
    finally:
        trial.unlink(missing_ok=True)
    return checked.topic(topic_id)
