"""The watchlist file: the bundled one loads, and broken ones fail with file, line and reason."""

from __future__ import annotations

import pytest

from hccwatch.settings import ConfigError
from hccwatch.watchlist import load_watchlist

BUNDLED = load_watchlist.__globals__["Path"](__file__).parents[1] / "hccwatch" / "watchlist.toml"


def test_bundled_watchlist_covers_the_patients_options():
    wl = load_watchlist(BUNDLED)
    ids = {t.id for t in wl.topics}
    assert {"hcc", "ql1706", "atezolizumab-bevacizumab", "conversion-therapy",
            "transplant-downstaging", "tace", "haic", "lenvatinib-sorafenib",
            "camrelizumab-rivoceranib", "durvalumab-tremelimumab"} <= ids
    assert {p.name for p in wl.places} == {"Seattle", "Hangzhou", "Shanghai", "Beijing"}
    ql = wl.topic("ql1706")
    assert "艾帕洛利托沃瑞利单抗" in ql.terms_zh and "iparomlimab" in ql.terms
    assert wl.timezone == "Asia/Shanghai" and wl.digest_weekday == "monday"
    assert any(f.lang == "zh" for f in wl.feeds)


def write(tmp_path, text):
    path = tmp_path / "w.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_TOPIC = '[[topics]]\nid = "a"\nterms = ["x"]\n'


@pytest.mark.parametrize(("text", "message"), [
    ('[[topics]\nid = "a"', r"w.toml:1: invalid TOML"),
    (GOOD_TOPIC + 'colour = "red"\n', r"w.toml:4: unknown key 'colour'"),
    (GOOD_TOPIC + 'term = ["y"]\n', r"unknown key 'term' \(did you mean 'terms'\?\)"),
    ('[[topics]]\nid = "a"\n', r"w.toml:1: topic 'a' has no terms"),
    (GOOD_TOPIC + GOOD_TOPIC, r"w.toml:5: duplicate topic id 'a'"),
    (GOOD_TOPIC + 'ctgov = { query = "x" }\n', r"w.toml:4: topic 'a': ctgov takes"),
    ('timezone = "Mars/Olympus"\n' + GOOD_TOPIC, r"w.toml:1: unknown timezone"),
    ('digest_weekday = "someday"\n' + GOOD_TOPIC, r"digest_weekday must be one of"),
    (GOOD_TOPIC + '[[feeds]]\nname = "f"\nurl = "file:///etc/passwd"\n', r"w.toml:6: feed url must start"),
    ('[[places]]\nname = "x"\n', r"no \[\[topics\]\]"),
])
def test_broken_watchlist_names_file_line_and_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_watchlist(write(tmp_path, text))
