"""The watchlist file: the bundled one loads, and broken ones fail with file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccwatch.settings import ConfigError, load_settings
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
    (GOOD_TOPIC + 'weight = "high"\n', r"w.toml:4: topic 'a': weight must be a number from 0 to 10"),
    (GOOD_TOPIC + 'weight = -1\n', r"w.toml:4: topic 'a': weight must be .* not -1"),
    (GOOD_TOPIC + 'weight = nan\n', r"w.toml:4: topic 'a': weight must be"),
    (GOOD_TOPIC + 'weight = true\n', r"w.toml:4: topic 'a': weight must be"),
    (GOOD_TOPIC + 'weight = 11\n', r"w.toml:4: topic 'a': weight must be"),
    (GOOD_TOPIC + '[digest]\npapers = "ten"\n', r"w.toml:5: digest papers must be a whole number from 0 to 500"),
    (GOOD_TOPIC + '[digest]\ntop_items = 0\n', r"w.toml:5: digest top_items must be a whole number from 1"),
    (GOOD_TOPIC + '[digest]\nnews = 8\npaper = 3\n', r"w.toml:6: unknown key 'paper' \(did you mean 'papers'\?\)"),
    ('digest = 3\n' + GOOD_TOPIC, r"w.toml:1: digest must be a table"),
    (GOOD_TOPIC + '[alerts]\nkinds = ["everything"]\n', r"w.toml:5: alerts kinds must be a list of recruiting_nearby"),
    (GOOD_TOPIC + '[alerts]\nquiet_hours = "10pm-7am"\n', r"w.toml:5: alerts quiet_hours must look like 22:00-07:00"),
    (GOOD_TOPIC + '[alerts]\nquiet = "22:00-07:00"\n', r"w.toml:5: unknown key 'quiet'"),
])
def test_broken_watchlist_names_file_line_and_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_watchlist(write(tmp_path, text))


def test_topic_weights_rank_options_above_the_disease(tmp_path):
    bundled = load_watchlist(BUNDLED)
    weights = {t.id: t.weight for t in bundled.topics}
    assert weights["hcc"] < 1 <= min(weights["ql1706"], weights["atezolizumab-bevacizumab"], weights["tace"])
    plain = load_watchlist(write(tmp_path, GOOD_TOPIC + 'kind = "disease"\n' + GOOD_TOPIC.replace('"a"', '"b"')))
    context = plain.relevance_context()
    assert [t.weight for t in plain.topics] == [None, None]  # not given: unknown, not invented
    assert context.topics["a"].effective_weight < context.topics["b"].effective_weight == 1


def test_lookback_days_is_a_setting_and_never_negative():
    assert load_settings({"HCCWATCH_LOOKBACK_DAYS": "5"}, dotenv=Path("/nonexistent")).lookback_days == 5
    assert load_settings({}, dotenv=Path("/nonexistent")).lookback_days == 3
    with pytest.raises(ConfigError, match="HCCWATCH_LOOKBACK_DAYS: must not be negative"):
        load_settings({"HCCWATCH_LOOKBACK_DAYS": "-1"}, dotenv=Path("/nonexistent"))


def test_alerts_section_of_the_agreed_schema_is_read(tmp_path):
    wl = load_watchlist(write(tmp_path, GOOD_TOPIC + '[alerts]\nkinds = ["may_fit", "retraction"]\n'
                                        'quiet_hours = "23:00-06:30"\n'))
    assert (wl.alerts.kinds, wl.alerts.quiet_hours) == (("may_fit", "retraction"), "23:00-06:30")
    assert load_watchlist(write(tmp_path, GOOD_TOPIC)).alerts.quiet_hours == "22:00-07:00"


def test_digest_settings_default_and_override(tmp_path):
    assert load_watchlist(BUNDLED).digest.top_items == 7
    wl = load_watchlist(write(tmp_path, GOOD_TOPIC + "[digest]\npapers = 4\nnew_within_days = 14\n"))
    assert (wl.digest.papers, wl.digest.new_within_days, wl.digest.news) == (4, 14, 8)
